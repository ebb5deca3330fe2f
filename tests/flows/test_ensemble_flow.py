"""The `ensemble` flow: the paper's MATH500 figure through the full stack, saved weights, live models."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from flows.ensemble_flow import ensemble_flow
from storage.engine import open_engine
from storage.ensembles import load_ensemble
from tests.conftest import EXAMPLES, SHARED_DATA
from tests.fixtures.helpers import assert_one_line_error, chorus

pytestmark = pytest.mark.usefixtures("prefect_api")
MATH500 = sorted(SHARED_DATA.glob("analysis_math500_*.jsonl"))


def test_math500_all_models_reach_485_and_weights_are_saved(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    summary = asyncio.run(
        ensemble_flow(name="m500", replay=[str(p) for p in MATH500], ties="right", trials=0, db=db, time_limit=60)
    )
    assert summary["solver"]["solved"] == 485 and summary["solver"]["total"] == 500
    assert summary["solver"]["status"] == "optimal"
    best_single = max(v for k, v in summary["accuracy"]["in_sample"].items() if k != "ensemble")
    assert summary["accuracy"]["in_sample"]["ensemble"] == 0.97 > best_single
    saved = load_ensemble(open_engine(db), "m500")
    assert saved.models == summary["models"] and len(saved.models) == 7
    assert abs(sum(saved.weights) - 1) < 1e-6 and saved.provenance["solver"]["solved"] == 485


def test_split_reports_held_out_and_finite_n(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    files = [str(p) for p in MATH500[:3]]
    summary = asyncio.run(ensemble_flow(name="half", replay=files, train_frac=0.5, trials=5, max_samples=8, db=db))
    assert summary["problems"]["train"] + summary["problems"]["test"] == 500
    assert set(summary["accuracy"]) == {"in_sample", "held_out"}
    assert set(summary["accuracy"]["held_out"]) == {*summary["models"], "ensemble"}
    finite = summary["finite_n"]
    assert [p["B"] for p in finite["adaptive"]] == [5, 10, 30] and 0.8 < finite["bo_inf"] <= 1


def test_vote_with_a_saved_ensemble_and_bad_input(tmp_path: Path) -> None:
    a, b = MATH500[0], MATH500[-1]
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(f'[models.a]\nbackend = "replay"\npath = "{a}"\n[models.b]\nbackend = "replay"\npath = "{b}"\n')
    db = f"sqlite:///{tmp_path / 'c.db'}"
    proc = chorus(
        "ensemble", "--replay", f"a={a}", "--replay", f"b={b}", "--name", "ab", "--trials", "0", "--db", db, "--json"
    )
    assert proc.returncode == 0, proc.stderr
    weights = json.loads(proc.stdout)["weights"]
    dataset = tmp_path / "m500.jsonl"
    rows = [json.loads(line) for line in a.read_text().splitlines()][:20]
    dataset.write_text(
        "".join(
            json.dumps({"id": r["problem_num"], "question": f"q{r['problem_num']}", "answer": r["gold_answer"]}) + "\n"
            for r in rows
        )
    )
    vote = chorus(
        "vote",
        "--dataset",
        str(dataset),
        "--ensemble",
        "ab",
        "--max-samples",
        "8",
        "--no-baseline",
        "--config",
        str(cfg),
        "--db",
        db,
        "--json",
    )
    assert vote.returncode == 0, vote.stderr
    out = json.loads(vote.stdout)
    assert out["models"] == ["a", "b"] and out["weights"] == pytest.approx([weights["a"], weights["b"]], abs=1e-6)
    missing = chorus("vote", "--dataset", str(dataset), "--ensemble", "nope", "--config", str(cfg), "--db", db)
    assert_one_line_error(missing, "--ensemble nope", "known: ab")
    one = chorus("ensemble", "--replay", str(a), "--db", db)
    assert_one_line_error(one, "at least two models")
    bounds = chorus("ensemble", "--replay", f"a={a}", "--replay", f"b={b}", "--lower", "0.7,0.7", "--db", db)
    assert_one_line_error(bounds, "lower")


@pytest.mark.llama
def test_live_models_sampled_through_the_cache(tmp_path: Path, llama_server: str) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(
        f'[models.plain]\nbackend = "llamacpp"\nmodel = "smollm2"\nendpoints = ["{llama_server}"]\n'
        "sampling = { max_tokens = 16 }\n"
        f'[models.terse]\nbackend = "llamacpp"\nmodel = "smollm2"\nendpoints = ["{llama_server}"]\n'
        'system = "Reply with only the number."\nsampling = { max_tokens = 16 }\n'
    )
    db = f"sqlite:///{tmp_path / 'c.db'}"
    kw = dict(
        name="live",
        dataset=str(EXAMPLES / "arithmetic.jsonl"),
        models=["plain", "terse"],
        samples=2,
        limit=4,
        trials=0,
        db=db,
        config=str(cfg),
    )
    summary = asyncio.run(ensemble_flow(**kw))
    assert summary["models"] == ["plain", "terse"]
    assert summary["problems"]["used"] + summary["problems"]["no_gold"] <= 4
    assert abs(sum(summary["weights"].values()) - 1) < 1e-6
    from sqlalchemy import text

    from storage.engine import make_engine

    with make_engine(db).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM generations")).scalar_one() == 16
    asyncio.run(ensemble_flow(**kw))  # rerun: everything from the cache
    with make_engine(db).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM generations")).scalar_one() == 16
