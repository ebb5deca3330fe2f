"""The `fuse` flow under an isolated Prefect API: the SGLang stand-in (reward route, judge that never
scores), the real SmolLM2 server, and the CLI's one-line errors for bad input."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flows.fuse_flow import fuse_flow
from storage.errors import ChorusError
from tests.conftest import EXAMPLES
from tests.fixtures.helpers import assert_one_line_error, chorus
from tests.fixtures.sglang_standin import SGLangStandIn, fake_reward, fake_text

pytestmark = pytest.mark.usefixtures("prefect_api")
RM_TEMPLATE = "<|user|>\\n{question}\\n<|assistant|>\\n{answer}"


def standin_registry(tmp_path: Path, url: str) -> str:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(
        f'[models.sg]\nbackend = "sglang"\nendpoints = ["{url}"]\nmodel = "stand-in/Chat-1B"\n'
        "sampling = { max_tokens = 32 }\n"
        f'[models.rm]\nbackend = "sglang"\nendpoints = ["{url}"]\nmodel = "stand-in/RM-1B"\n'
        f'prompt_template = "{RM_TEMPLATE}"\n'
    )
    return str(cfg)


def tiny_dataset(tmp_path: Path, k: int = 3) -> str:
    rows = [{"id": f"q{i}", "question": f"What is {i} + 0? Box it.", "answer": str(i)} for i in range(k)]
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_reward_model_selects_on_sglang_classify_and_reruns_from_cache(tmp_path: Path) -> None:
    with SGLangStandIn() as server:
        cfg, dataset = standin_registry(tmp_path, server.url), tiny_dataset(tmp_path)
        db = f"sqlite:///{tmp_path / 'c.db'}"
        kwargs = dict(dataset=dataset, model="sg", n=4, fusor="sg", reward="rm", db=db, config=cfg)
        first = asyncio.run(fuse_flow(**kwargs))
        classify = [r for r in server.requests if r["path"] == "/classify"]
        assert classify and all(r["body"]["model"] == "stand-in/RM-1B" for r in classify)
        scored = [t for r in classify for t in r["body"]["text"]]
        assert all(t.startswith("<|user|>\nWhat is") and "<|assistant|>\n" in t for t in scored)
        assert first["select"] == "reward" and first["no_pick"] == 0 and first["missing_scores"] == 0
        assert first["problems"] == 3 and first["fusion_failed"] == 0
        assert {"fusion_accuracy", "best_of_n_accuracy", "single_accuracy", "oracle_accuracy"} <= set(first)
        assert first["calls"]["candidates"]["generated"] == 12 and first["calls"]["fusion"]["generated"] == 3

        seen = len(server.requests)
        again = asyncio.run(fuse_flow(**kwargs))
        generating = [r for r in server.requests[seen:] if r["path"] != "/health_generate"]
        assert generating == []  # candidates, fusions and reward scores all came from the cache
        assert again["calls"]["reward"]["generated"] == 0 and again["calls"]["reward"]["cached"] > 0
        for key in ("fusion_accuracy", "best_of_n_accuracy", "single_accuracy"):
            assert again[key] == first[key]


def test_best_of_n_pick_is_the_highest_reward(tmp_path: Path) -> None:
    """Recompute the stand-in's rewards for the candidates it sampled and check the pick."""
    from tasks.fusion_tasks import plan_fusion

    with SGLangStandIn() as server:
        cfg, dataset = standin_registry(tmp_path, server.url), tiny_dataset(tmp_path, 1)
        db = f"sqlite:///{tmp_path / 'c.db'}"
        summary = asyncio.run(fuse_flow(dataset=dataset, model="sg", n=5, fusor="sg", reward="rm", db=db, config=cfg))
        chat = next(r for r in server.requests if r["path"] == "/v1/chat/completions")
        prompt = json.dumps(chat["body"]["messages"])
        cands = [fake_text(prompt, i) for i in range(5)]
        plan = plan_fusion.fn(["sg"], 5, "sg", config=cfg, reward="rm")
        template = plan.reward.spec.prompt_template  # type: ignore[union-attr]
        question = "What is 0 + 0? Box it."
        rewards = [fake_reward(template.replace("{question}", question).replace("{answer}", c)) for c in cands]
        best = max(range(5), key=lambda i: (rewards[i], -i))
        assert summary["best_of_n_accuracy"] == (1.0 if "boxed{0}" in cands[best] else 0.0)


def test_judge_that_never_scores_fails_the_run_with_one_reason(tmp_path: Path) -> None:
    with SGLangStandIn() as server:  # its chat replies are "The answer is \\boxed{d}.": never a score
        cfg, dataset = standin_registry(tmp_path, server.url), tiny_dataset(tmp_path, 2)
        db = f"sqlite:///{tmp_path / 'c.db'}"
        with pytest.raises(ChorusError, match="judge sg returned no usable score for any of 4 candidates"):
            asyncio.run(fuse_flow(dataset=dataset, model="sg", n=2, fusor="sg", judge="sg", db=db, config=cfg))


@pytest.mark.llama
def test_fuse_on_smollm2_then_rerun_is_free(tmp_path: Path, llama_server: str) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(
        f'[models.smollm2]\nbackend = "llamacpp"\nmodel = "smollm2"\nendpoints = ["{llama_server}"]\n'
        "max_concurrency = 2\nn_ctx = 1024\n"
    )
    db = f"sqlite:///{tmp_path / 'c.db'}"
    kwargs = dict(
        dataset=str(EXAMPLES / "arithmetic.jsonl"),
        n=2,
        max_tokens=16,
        fusor_max_tokens=16,
        select="majority",
        db=db,
        config=str(cfg),
        limit=2,
    )
    first = asyncio.run(fuse_flow(**kwargs))
    assert first["problems"] == 2 and first["with_gold"] == 2 and first["fusion_failed"] == 0
    assert first["calls"]["candidates"]["generated"] == 4 and first["calls"]["fusion"]["generated"] == 2
    for key in ("fusion_accuracy", "best_of_n_accuracy", "single_accuracy"):
        assert 0.0 <= first[key] <= 1.0
    again = asyncio.run(fuse_flow(**kwargs))
    assert again["calls"]["candidates"]["generated"] == 0 and again["calls"]["fusion"]["generated"] == 0
    assert again["fusion_accuracy"] == first["fusion_accuracy"]


ARITH = str(EXAMPLES / "arithmetic.jsonl")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["-n", "1"], ("-n 1", "at least 2 candidates")),
        (["--fusor-context", "300"], ("fusor context of 300 tokens is too small",)),
        (["--select", "judge"], ("--select judge needs --judge",)),
        (["--reward", "smollm2"], ("--reward smollm2", "SGLang")),
        (["--fusor", "gpt-9"], ("--fusor gpt-9", "unknown model")),
    ],
)
def test_bad_fuse_input_is_one_line_and_writes_nothing(tmp_path: Path, args: list[str], fragments: tuple) -> None:
    db = tmp_path / "c.db"
    proc = chorus("fuse", "--dataset", ARITH, "--limit", "2", "--db", f"sqlite:///{db}", *args)
    assert_one_line_error(proc, *fragments)
    assert not db.exists()
