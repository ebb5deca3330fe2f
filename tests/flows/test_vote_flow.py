"""The `vote` and `simulate` flows under an isolated Prefect API."""

from __future__ import annotations

import asyncio
import json
import statistics
from pathlib import Path

import pytest
from sqlalchemy import text

from flows.simulate_flow import simulate_flow
from flows.vote_flow import vote_flow
from storage.engine import make_engine
from tests.conftest import EXAMPLES, SHARED_DATA
from tests.fixtures.helpers import replay_setup

pytestmark = pytest.mark.usefixtures("prefect_api")
QWEN30 = SHARED_DATA / "analysis_aime2024_Qwen3-30B-A3B-Thinking-2507.jsonl"


def per_model_rows(db: str) -> dict[str, int]:
    with make_engine(db).connect() as conn:
        rows = conn.execute(
            text(
                "SELECT m.name, COUNT(*) FROM generations g JOIN models m ON g.model_fp = m.fingerprint GROUP BY m.name"
            )
        )
        return {name: int(n) for name, n in rows}


def test_adaptive_vote_stops_early_and_reruns_from_cache(tmp_path: Path) -> None:
    cfg, dataset = replay_setup(tmp_path)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    kw = dict(dataset=dataset, models=["qwen4b"], rule="bayes", threshold=10, max_samples=40, db=db, config=cfg)
    first = asyncio.run(vote_flow(**kw))
    assert first["problems"] == 30 and first["graded"] == 30
    # Easy problems settle after two agreeing samples; hard ones use more, none more than 40.
    assert 2 <= first["mean_samples"] < 40 and first["median_samples"] <= 4
    assert first["generated"] > 0 and 0.5 < first["accuracy"] <= 1.0
    assert first["fixed_n_at_same_budget"]["n"] == round(first["mean_samples"])
    second = asyncio.run(vote_flow(**kw))
    assert second["generated"] == 0
    for key in ("accuracy", "mean_samples", "completion_tokens"):
        assert second[key] == first[key]


def test_report_and_table_come_from_chunk_tallies_in_input_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run keeps no per-problem list: its figures are its votes tallied per chunk, and its table holds
    the input's first rows in order, however the chunks finished."""
    from prefect.artifacts import Artifact

    cfg, dataset = replay_setup(tmp_path)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    kw = dict(dataset=dataset, models=["qwen4b"], max_samples=16, db=db, config=cfg, chunk_size=4, baseline=False)
    summary = asyncio.run(vote_flow(**kw))
    table = json.loads(Artifact.get("vote-problems").data)
    ids = [str(json.loads(line)["id"]) for line in Path(dataset).read_text().splitlines()]
    assert [str(row["problem_id"]) for row in table] == ids  # all 30 (< 1,000), in input order
    samples = [row["samples"] for row in table]
    graded = [row for row in table if row["correct"] is not None]
    assert summary["problems"] == 30 and summary["graded"] == len(graded)
    assert summary["accuracy"] == round(sum(row["correct"] for row in graded) / len(graded), 4)
    assert summary["mean_samples"] == round(statistics.fmean(samples), 3)
    assert summary["median_samples"] == statistics.median(samples)
    assert summary["no_answer"] == sum(row["answer"] is None for row in table)
    assert summary["completion_tokens"] == sum(row["completion_tokens"] for row in table)

    monkeypatch.setattr("flows.vote_flow.TABLE_ROWS", 10)  # rows from the first three chunks of four only
    again = asyncio.run(vote_flow(**kw))  # the same votes, from the cache
    assert again["generated"] == 0 and json.loads(Artifact.get("vote-problems").data) == table[:10]


def test_weighted_mixture_draws_from_each_model_by_weight(tmp_path: Path) -> None:
    cfg, dataset = replay_setup(tmp_path)
    Path(cfg).write_text(Path(cfg).read_text() + f'[models.qwen30b]\nbackend = "replay"\npath = "{QWEN30}"\n')
    db = f"sqlite:///{tmp_path / 'c.db'}"
    summary = asyncio.run(
        vote_flow(
            dataset=dataset,
            models=["qwen4b=1", "qwen30b=3"],
            rule="fixed",
            threshold=20,
            max_samples=20,
            baseline=False,
            db=db,
            config=cfg,
        )
    )
    assert summary["mean_samples"] == 20 and summary["weights"] == [0.25, 0.75]
    counts = per_model_rows(db)
    assert sum(counts.values()) == 600
    assert 0.18 < counts["qwen4b"] / 600 < 0.32  # 25 % expected; 600 draws give a s.e. of 1.8 %


@pytest.mark.llama
def test_live_vote_on_the_embedded_model(tmp_path: Path, llama_server: str) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(
        f'[models.smollm2]\nbackend = "llamacpp"\nmodel = "smollm2"\nendpoints = ["{llama_server}"]\n'
        "sampling = { max_tokens = 24, temperature = 0.7 }\n"
    )
    db = f"sqlite:///{tmp_path / 'c.db'}"
    kw = dict(
        dataset=str(EXAMPLES / "arithmetic.jsonl"),
        models=["smollm2"],
        rule="esc",
        threshold=2,
        max_samples=4,
        batch=2,
        limit=2,
        baseline=False,
        db=db,
        config=str(cfg),
    )
    first = asyncio.run(vote_flow(**kw))
    assert first["problems"] == 2 and 2 <= first["mean_samples"] <= 4
    assert first["generated"] == first["mean_samples"] * 2
    again = asyncio.run(vote_flow(**kw))
    assert again["generated"] == 0 and again["accuracy"] == first["accuracy"]


def test_simulate_flow_reports_curves_and_plot(tmp_path: Path) -> None:
    plot = tmp_path / "curve.png"
    result = simulate_flow(
        replay=[str(QWEN30)], thresholds=[2, 10], fixed=[1, 5], trials=20, max_samples=50, seed=1, plot=str(plot)
    )
    assert abs(result["bo_inf_accuracy"] - 28 / 30) < 1e-9
    assert [p["setting"] for p in result["adaptive"]] == [2, 10]
    b2, b10 = result["adaptive"]
    assert b2["mean_samples"] < b10["mean_samples"]  # a higher bar costs more samples
    assert result["fixed"][0]["mean_samples"] == 1 and result["fixed"][1]["mean_samples"] == 5
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(result)  # JSON-ready


def test_gain_rule_in_a_live_vote(tmp_path: Path) -> None:
    cfg, dataset = replay_setup(tmp_path)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    kw = dict(dataset=dataset, models=["qwen4b"], rule="gain", max_samples=40, baseline=False, db=db, config=cfg)
    loose = asyncio.run(vote_flow(threshold=10, **kw))
    strict = asyncio.run(vote_flow(threshold=1000, **kw))
    assert loose["rule"] == "gain" and loose["problems"] == 30
    # a stricter T never stops sooner: the same cached draws, a later stop
    assert 1 <= loose["mean_samples"] < strict["mean_samples"] <= 40
    assert strict["generated"] < strict["mean_samples"] * 30  # the loose run's draws came from the cache


def test_a_flow_run_gives_its_sync_tasks_one_prefect_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An async flow holds only an async Prefect client, so each of its sync tasks (load, resolve, plan,
    cache, register, report) opened a sync client of its own, ~50 ms each. The flow's body now holds one,
    whoever runs it: `asyncio.run` as the CLI does, or Prefect's engine as a worker's flow-run process does."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.flow_engine import run_flow

    opened: list[int] = []
    original = SyncPrefectClient.__init__

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(SyncPrefectClient, "__init__", counting)
    cfg, dataset = replay_setup(tmp_path)
    kw = dict(dataset=dataset, models=["qwen4b"], max_samples=8, config=cfg, baseline=False)
    summary = asyncio.run(vote_flow(**kw, db=f"sqlite:///{tmp_path / 'a.db'}"))
    # Two: one that Prefect's engine opens before the body (it reads the server's default result
    # storage), and the body's own for every sync task.
    assert summary["problems"] == 30 and len(opened) == 2
    opened.clear()
    worker_run = asyncio.run(run_flow(vote_flow, parameters={**kw, "db": f"sqlite:///{tmp_path / 'b.db'}"}))
    assert worker_run == {**summary, "wall_s": worker_run["wall_s"]} and len(opened) == 2


def test_a_flow_body_runs_under_fewer_gc_passes_on_every_path() -> None:
    """The policy is on the flow function itself, which Prefect calls directly on every path: the CLI's
    `asyncio.run`, a worker's flow-run process (Prefect's `run_flow`), a test."""
    import gc

    from prefect.flow_engine import run_flow

    from flows.flow_decorator import chorus_flow
    from flows.run_policy import FLOW_THRESHOLDS

    @chorus_flow("thresholds")
    async def thresholds(pause: float = 0.0) -> tuple[int, ...]:
        await asyncio.sleep(pause)
        return gc.get_threshold()

    before = gc.get_threshold()
    assert before != FLOW_THRESHOLDS
    assert asyncio.run(thresholds()) == FLOW_THRESHOLDS
    assert asyncio.run(run_flow(thresholds, parameters={"pause": 0.01})) == FLOW_THRESHOLDS
    assert gc.get_threshold() == before
    assert list(thresholds.parameters.properties) == ["pause"]  # Prefect still sees the function's own signature
