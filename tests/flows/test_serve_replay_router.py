"""`vote` over HTTP through the real sglang-router in front of two `chorus serve-replay` stand-ins; one
stand-in is killed mid-run and the run completes from the other, nothing lost or duplicated."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import text

from chorus.replay_server.catalog import ReplayCatalog
from flows.vote_flow import vote_flow
from storage.engine import make_engine
from tasks.backends.sglang import SGLangBackend
from tests.conftest import SHARED_DATA
from tests.fixtures.replay_stack import metric, sglang_router, stand_in

pytestmark = pytest.mark.usefixtures("prefect_api")
REPLAY = SHARED_DATA / "analysis_aime2024_Qwen3-4B.jsonl"
# AIME traces are ~12k tokens: at 60 tok/s and speedup 2000 a sequence holds a slot ~0.1 s of real time.
GPU = ("--slots", "8", "--decode-tps", "60", "--speedup", "2000")

if os.environ.get("CI") != "true":
    pytest.importorskip("sglang_router", reason="pip install sglang-router (the test extra)")


def _config(tmp_path: Path, name: str, url: str) -> str:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(
        f'[models.qwen4b]\nbackend = "sglang"\nmodel = "replay/stand-in"\nendpoints = ["{url}"]\n'
        "chat = false\nmax_concurrency = 8\nsampling = { temperature = 0.6, max_tokens = 32768 }\n"
    )
    return str(cfg)


def _rows(db: str) -> list[tuple[str, int, str, int]]:
    with make_engine(db).connect() as conn:
        return sorted(
            (r[0], int(r[1]), r[2], int(r[3]))
            for r in conn.execute(text("SELECT prompt_hash, sample_index, text, completion_tokens FROM generations"))
        )


async def _decode_slots(url: str) -> int | None:
    backend = SGLangBackend("qwen4b", endpoints=[url], model="replay/stand-in", chat=False)
    try:
        return await backend.decode_slots()
    finally:
        await backend.aclose()


def test_vote_through_router_survives_a_killed_stand_in(tmp_path: Path) -> None:
    dataset = tmp_path / "aime_replay.jsonl"
    ReplayCatalog.from_files([REPLAY]).write_dataset(dataset)
    kw = dict(dataset=str(dataset), models=["qwen4b"], rule="bayes", threshold=10, max_samples=16, baseline=False)

    with stand_in([REPLAY], *GPU) as (a, _), stand_in([REPLAY], *GPU) as (b, b_proc), sglang_router([a, b]) as router:
        db = f"sqlite:///{tmp_path / 'routed.db'}"
        # The router has no slots of its own; the client reads its workers' through its `/workers` list.
        assert asyncio.run(_decode_slots(router)) == 16
        killed_at: list[float] = []

        async def kill_b_mid_run() -> None:
            while metric(b, "sglang:num_requests_total") < 10:
                await asyncio.sleep(0.05)
            killed_at.append(metric(a, "sglang:num_requests_total"))
            os.kill(b_proc.pid, signal.SIGKILL)

        async def run() -> dict[str, object]:
            killer = asyncio.create_task(kill_b_mid_run())
            summary = await vote_flow(**kw, db=db, config=_config(tmp_path, "routed", router))
            assert killer.done(), "the run ended before the stand-in was killed"
            return summary

        routed = asyncio.run(run())
        served_by_a_after_kill = metric(a, "sglang:num_requests_total") - killed_at[0]

    assert served_by_a_after_kill > 0  # the survivor carried the rest of the run
    assert routed["problems"] == 30 and routed["graded"] == 30
    rows = _rows(db)
    assert len(rows) == len({(h, i) for h, i, _, _ in rows}) == routed["generated"]  # nothing duplicated
    by_prompt: dict[str, list[int]] = {}
    for h, i, _, _ in rows:
        by_prompt.setdefault(h, []).append(i)
    assert all(sorted(ix) == list(range(len(ix))) for ix in by_prompt.values())  # nothing lost: no gaps

    # The same vote against one fresh stand-in, no router, no fault: answers are functions of the request
    # (seeded), so the faulted run must have produced exactly the same generations and results.
    with stand_in([REPLAY], *GPU) as (single, _):
        ref_db = f"sqlite:///{tmp_path / 'single.db'}"
        reference = asyncio.run(vote_flow(**kw, db=ref_db, config=_config(tmp_path, "single", single)))
    assert _rows(ref_db) == rows
    for key in ("accuracy", "mean_samples", "completion_tokens", "generated"):
        assert routed[key] == reference[key]
