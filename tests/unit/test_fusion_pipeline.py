"""Fusion-of-N per problem (tasks/services/fusion_pipeline.py): a problem's fusion goes out when its
own candidates are in, not when the chunk's slowest candidate is; the chunk's state is the same either way."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tasks.algorithms.datasets import Problem
from tasks.backends.base import Completion, GenerationRequest
from tasks.backends.spec import ModelSpec
from tasks.services import session
from tasks.services.fusing import FusionPlan
from tasks.services.fusion_pipeline import fuse_problems
from tasks.services.sampling import SamplingJob

SLOW_S = 0.6


class TimedBackend:
    """Candidates of problem "slow" take SLOW_S, everything else answers at once; logs every request."""

    kind = "fake"
    supports_n = True
    max_concurrency = 64

    def __init__(self, log: list[tuple[float, str, str, str]]) -> None:
        self.log = log

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        stage = "fusion" if any("<candidate-" in c for _, c in request.prompt.messages or ()) else "candidates"
        self.log.append((time.perf_counter(), "start", stage, request.problem_id))
        if stage == "candidates" and request.problem_id == "slow":
            await asyncio.sleep(SLOW_S)
        self.log.append((time.perf_counter(), "end", stage, request.problem_id))
        answers = ["7" if stage == "fusion" else str(i % 2 + 6) for i in request.indices]
        return [Completion(f"so \\boxed{{{a}}}", 3, 5, "stop", 0.0) for a in answers]

    async def aclose(self) -> None:
        return None


@pytest.fixture
def plan() -> FusionPlan:
    spec = ModelSpec("fake", "replay", path="unused")
    job = SamplingJob(spec, "fp-fake", spec.sampling_params())
    return FusionPlan((job,), 3, job, context_tokens=4096, chars_per_token=3.0, select="majority")


def run(plan: FusionPlan, problems: list[Problem], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str):  # type: ignore[no-untyped-def]
    log: list[tuple[float, str, str, str]] = []
    monkeypatch.setattr(session, "create_backend", lambda spec: TimedBackend(log))
    state = asyncio.run(fuse_problems(plan, problems, f"sqlite:///{tmp_path / name}"))
    return state, log


def test_a_problems_fusion_does_not_wait_for_the_chunks_slowest_candidates(
    plan: FusionPlan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = [Problem("slow", "What is 3 + 4?", "7"), Problem("fast", "What is 2 + 5?", "7")]
    state, log = run(plan, problems, tmp_path, monkeypatch, "a.db")
    when = {(event, stage, pid): t for t, event, stage, pid in log}
    assert when[("start", "fusion", "fast")] < when[("end", "candidates", "slow")]
    assert when[("start", "fusion", "slow")] >= when[("end", "candidates", "slow")]
    assert [p.id for p in state.problems] == ["slow", "fast"]
    assert {pid: f.text for pid, f in state.fused.items()} == {"slow": "so \\boxed{7}", "fast": "so \\boxed{7}"}
    assert state.candidates["fast"] == ["so \\boxed{6}", "so \\boxed{7}", "so \\boxed{6}"]
    assert state.picks == {"slow": 0, "fast": 0}  # majority: 6 twice, the first of them
    assert state.tally.roles["candidates"].generated == 6 and state.tally.roles["fusion"].generated == 2


def test_the_chunks_state_is_the_union_of_its_problems_in_the_chunks_order(
    plan: FusionPlan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = [Problem(f"q{i}", f"What is {i} + 7 - {i}?", "7") for i in range(5)]
    whole, _ = run(plan, problems, tmp_path, monkeypatch, "b.db")
    alone = [run(plan, [p], tmp_path, monkeypatch, f"c{p.id}.db")[0] for p in problems]
    assert [p.id for p in whole.problems] == [p.id for p in problems]
    for part in alone:
        (pid,) = (p.id for p in part.problems)
        assert whole.candidates[pid] == part.candidates[pid] and whole.fused[pid] == part.fused[pid]
        assert whole.scores[pid] == part.scores[pid] and whole.picks[pid] == part.picks[pid]
    assert whole.tally.roles["candidates"].requested == 15 == sum(a.tally.roles["candidates"].requested for a in alone)
