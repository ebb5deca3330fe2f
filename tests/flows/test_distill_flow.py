"""The `distill` flow under an isolated Prefect API: valid chat JSONL, idempotent reruns, prompts whose
teachers fail are reported and skipped, and nothing is written when nothing could be produced."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flows.distill_flow import distill_flow
from tests.fixtures.helpers import assert_one_line_error, chorus
from tests.fixtures.sglang_standin import SGLangStandIn
from tests.flows.test_fuse_flow import RM_TEMPLATE

pytestmark = pytest.mark.usefixtures("prefect_api")


def registry(tmp_path: Path, url: str, llama: str | None = None) -> str:
    cfg = tmp_path / "chorus.toml"
    text = (
        f'[models.chat]\nbackend = "sglang"\nendpoints = ["{url}"]\nmodel = "stand-in/Chat-1B"\n'
        f'[models.base]\nbackend = "sglang"\nendpoints = ["{url}"]\nmodel = "stand-in/Base-1B"\nchat = false\n'
        f'[models.rm]\nbackend = "sglang"\nendpoints = ["{url}"]\nmodel = "stand-in/RM-1B"\n'
        f'prompt_template = "{RM_TEMPLATE}"\n'
    )
    if llama:
        text += (
            f'[models.smollm2]\nbackend = "llamacpp"\nmodel = "smollm2"\nendpoints = ["{llama}"]\n'
            "max_concurrency = 2\nn_ctx = 1024\n"
        )
    cfg.write_text(text)
    return str(cfg)


def prompts_file(tmp_path: Path, prompts: list[str]) -> str:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": p}) + "\n" for i, p in enumerate(prompts)))
    return str(path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_distill_writes_chat_jsonl_per_method_with_provenance_and_is_idempotent(tmp_path: Path) -> None:
    with SGLangStandIn() as server:
        cfg = registry(tmp_path, server.url)
        prompts = prompts_file(tmp_path, ["Name a colour.", "What is 2 + 2?", "Say hello."])
        out = tmp_path / "out"
        kwargs = dict(prompts=prompts, teachers=["chat", "base"], fusor="chat", out=str(out), reward="rm")
        summary = asyncio.run(distill_flow(db=f"sqlite:///{tmp_path / 'c.db'}", config=cfg, **kwargs))
        assert summary["fusion_rows"] == summary["best_of_n_rows"] == 3 and summary["skipped_prompts"] == 0
        for name in ("fusion.jsonl", "best_of_n.jsonl"):
            rows = read_jsonl(out / name)
            assert [r["messages"][0] for r in rows][1] == {"role": "user", "content": "What is 2 + 2?"}
            assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in rows)
            assert all(r["messages"][1]["content"].strip() for r in rows)
        prov = json.loads((out / "provenance.json").read_text())
        assert [t["name"] for t in prov["teachers"]] == ["chat", "base"]
        assert all(t["params"]["temperature"] == 0.3 for t in prov["teachers"])
        assert prov["fusor"]["name"] == "chat" and prov["scorer"]["name"] == "rm"
        assert all(r["teachers"] == ["chat", "base"] and len(r["scores"]) == 2 for r in prov["prompts"])
        assert all(r["best_of_n_teacher"] in ("chat", "base") for r in prov["prompts"])
        teacher_calls = [r for r in server.requests if r["path"] in ("/generate", "/v1/chat/completions")]
        assert all(
            (r["body"].get("temperature") or r["body"]["sampling_params"]["temperature"]) == 0.3
            for r in teacher_calls[:2]
        )

        before = {p.name: p.read_bytes() for p in out.iterdir()}
        seen = len(server.requests)
        asyncio.run(distill_flow(db=f"sqlite:///{tmp_path / 'c.db'}", config=cfg, **kwargs))
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # same bytes, no temp files left
        assert [r for r in server.requests[seen:] if r["path"] != "/health_generate"] == []


def test_scorer_that_never_scores_leaves_best_of_n_empty_with_a_warning(tmp_path: Path) -> None:
    with SGLangStandIn() as server:
        cfg = registry(tmp_path, server.url)
        out = tmp_path / "out"
        summary = asyncio.run(
            distill_flow(
                prompts=prompts_file(tmp_path, ["a?", "b?"]),
                teachers=["chat", "base"],
                fusor="chat",  # the default scorer is the fusor as judge; the stand-in never scores
                out=str(out),
                db=f"sqlite:///{tmp_path / 'c.db'}",
                config=cfg,
            )
        )
    assert summary["fusion_rows"] == 2 and summary["best_of_n_rows"] == 0 and summary["missing_scores"] == 4
    assert summary["warnings"] == [
        "no best_of_n answer for any of 2 prompts (first reason: the scorer gave no usable score to any candidate)"
    ]
    assert (out / "best_of_n.jsonl").read_text() == "" and len(read_jsonl(out / "fusion.jsonl")) == 2


@pytest.mark.llama
def test_prompts_a_teacher_fails_on_are_reported_and_skipped(tmp_path: Path, llama_server: str) -> None:
    """SmolLM2's server (1024-token context) rejects the over-long prompt; the others go through."""
    with SGLangStandIn() as server:
        cfg = registry(tmp_path, server.url, llama_server)
        long = "Summarise this: " + "lorem ipsum dolor sit amet " * 400
        out = tmp_path / "out"
        summary = asyncio.run(
            distill_flow(
                prompts=prompts_file(tmp_path, ["Name a colour.", long, "What is 3 + 4?"]),
                teachers=["smollm2", "chat"],
                fusor="chat",
                reward="rm",
                max_tokens=12,
                out=str(out),
                db=f"sqlite:///{tmp_path / 'c.db'}",
                config=cfg,
            )
        )
    assert summary["fusion_rows"] == 2 and summary["skipped_prompts"] == 1
    prov = json.loads((out / "provenance.json").read_text())
    assert [s["id"] for s in prov["skipped"]] == ["p1"] and "smollm2" in prov["skipped"][0]["reason"]
    assert [r["messages"][0]["content"] for r in read_jsonl(out / "fusion.jsonl")] == [
        "Name a colour.",
        "What is 3 + 4?",
    ]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--teacher", "smollm2"], ("--teacher", "at least 2 teachers")),
        (["--teacher", "smollm2", "--teacher", "smollm2"], ("each teacher once",)),
        (["--teacher", "smollm2", "--teacher", "gemma3", "--scorer", "smollm2", "--reward", "x"], ("one scorer",)),
    ],
)
def test_bad_distill_input_is_one_line(tmp_path: Path, args: list[str], fragments: tuple) -> None:
    prompts = prompts_file(tmp_path, ["a?"])
    proc = chorus("distill", "--prompts", prompts, "--out", str(tmp_path / "out"), *args)
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "out").exists()
