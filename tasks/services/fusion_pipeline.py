"""One problem at a time through Fusion-of-N: candidates → fusion → Best-of-N (→ pairwise comparison).

Each problem of a chunk is its own pipeline. Its fusion request goes out as soon as its own candidates
are in, not when the chunk's slowest candidate is, and its selection and comparison follow the same
way. Reasoning traces differ in length by 10× or more, so a stage barrier made the chunk's short
problems wait on its longest trace twice over: once before fusion and once before judging.
Every stage reads and writes the generation cache, so a retried chunk redoes nothing that finished.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from storage.errors import ChorusError
from tasks.algorithms.datasets import Problem
from tasks.algorithms.judging import Outcome, select_best
from tasks.services import progress_events as progress
from tasks.services.fusing import (
    PAIRS,
    Fused,
    FusionPlan,
    Tally,
    compare,
    fuse,
    judge_scores,
    majority_scores,
    reward_scores,
    reward_text,
    sample_each,
)
from tasks.services.fusion_report import system_answers
from tasks.services.sampling import SamplingJob
from tasks.services.session import open_backend


@dataclass
class ChunkState:
    """What a chunk (or one problem of it) has so far; each stage fills in its part."""

    problems: list[Problem]
    candidates: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)  # model name behind each candidate
    failed: dict[str, str] = field(default_factory=dict)  # problem id → why it was skipped
    fused: dict[str, Fused] = field(default_factory=dict)
    scores: dict[str, list[float | None]] = field(default_factory=dict)
    picks: dict[str, int | None] = field(default_factory=dict)
    compared: dict[str, dict[str, Outcome | None]] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)

    def live(self) -> list[Problem]:
        return [p for p in self.problems if p.id not in self.failed]

    @classmethod
    def merged(cls, problems: list[Problem], parts: list[ChunkState]) -> ChunkState:
        """One state for `problems` from the states of its problems (any order)."""
        out = cls(list(problems))
        for part in parts:
            for name in ("candidates", "sources", "failed", "fused", "scores", "picks", "compared"):
                getattr(out, name).update(getattr(part, name))
            for role, stats in part.tally.roles.items():
                out.tally.add(role, stats)
        return out


async def fuse_problems(plan: FusionPlan, problems: list[Problem], db_url: str) -> ChunkState:
    """Every problem through the stages on its own; one state for the chunk, in the chunk's order.
    The comparison runs only when the plan asks for it (`fuse` with a judge; never `distill`).

    A problem that fails for good (a ChorusError: a rejected prompt, a fusion prompt that cannot fit) is
    recorded in `failed` by the stage it failed in; any other error cancels the chunk's other problems
    and goes up, so Prefect retries the chunk (from the cache) when it is transient."""

    async def pipeline(problem: Problem) -> ChunkState:
        state = await candidates(plan, [problem], db_url)
        state = await fusion(plan, state, db_url)
        state = await selection(plan, state, db_url)
        return await comparison(plan, state, db_url)

    try:
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(pipeline(p)) for p in problems]
    except ExceptionGroup as eg:
        raise eg.exceptions[0] from None  # the first failure decides retry; the others were cancelled
    return ChunkState.merged(problems, [t.result() for t in running])


async def candidates(plan: FusionPlan, problems: list[Problem], db_url: str) -> ChunkState:
    """n samples of each sampler per problem (cached); a problem any sampler failed on is skipped."""
    state = ChunkState(list(problems))

    async def one(job: SamplingJob) -> tuple[SamplingJob, dict, dict]:
        async with open_backend(job.spec, db_url) as (cache, backend):
            got, failed, stats = await sample_each(job, problems, plan.n, cache, backend)
        state.tally.add("candidates", stats)
        return job, got, failed

    results = await asyncio.gather(*(one(j) for j in plan.samplers))
    for p in problems:
        reasons = [failed[p.id] for _, _, failed in results if p.id in failed]
        if reasons:
            state.failed[p.id] = "; ".join(reasons)
            continue
        state.candidates[p.id] = [g.text for _, got, _ in results for g in got[p.id]]
        state.sources[p.id] = [job.spec.name for job, got, _ in results for _ in got[p.id]]
    return state


async def fusion(plan: FusionPlan, state: ChunkState, db_url: str) -> ChunkState:
    """The fusor's answer for every live problem (sample 0 of its fusion prompt, cached)."""
    async with open_backend(plan.fusor.spec, db_url) as (cache, backend):
        fused, stats = await fuse(plan, [(p, state.candidates[p.id]) for p in state.live()], cache, backend)
    state.fused.update(fused)
    state.tally.add("fusion", stats)
    return state


async def selection(plan: FusionPlan, state: ChunkState, db_url: str) -> ChunkState:
    """Score every candidate (judge 1-10, reward model, or majority vote counts) and keep the top one."""
    live = state.live()
    flat = [(p.question, c) for p in live for c in state.candidates[p.id]]
    values: list[float | None]
    if plan.select == "majority":
        values = [v for p in live for v in majority_scores(state.candidates[p.id], plan.kind)]
    elif plan.select == "judge" and plan.judge is not None:
        async with open_backend(plan.judge.spec, db_url) as (cache, backend):
            scores, stats = await judge_scores(plan.judge, flat, cache, backend)
        values = list(scores)
        state.tally.add("judge", stats)
    elif plan.reward is not None:
        template = plan.reward.spec.prompt_template or ""
        async with open_backend(plan.reward.spec, db_url) as (cache, backend):
            values, stats = await reward_scores(
                plan.reward, [reward_text(template, q, c) for q, c in flat], cache, backend
            )
        state.tally.add("reward", stats)
    else:  # pragma: no cover - plan_fusion rules this out
        raise ChorusError(f"--select {plan.select}: no scorer")
    at = 0
    for p in live:
        k = len(state.candidates[p.id])
        state.scores[p.id] = values[at : at + k]
        state.picks[p.id] = select_best(values[at : at + k]).index  # type: ignore[arg-type]
        at += k
    progress.report(len(state.problems), len(flat))
    return state


async def comparison(plan: FusionPlan, state: ChunkState, db_url: str) -> ChunkState:
    """Pairwise judge, both orders: fusion against Best-of-N and against a single sample (sample 0)."""
    if not plan.compare or plan.judge is None:
        return state
    items, where = [], []
    for p in state.live():
        systems = system_answers(state, p.id)
        for x, y in PAIRS:
            items.append((p.question, systems[x], systems[y]))
            where.append((p.id, f"{x}_vs_{y}"))
    async with open_backend(plan.judge.spec, db_url) as (cache, backend):
        outcomes, stats = await compare(plan.judge, items, cache, backend)
    state.tally.add("compare", stats)
    for (pid, pair), outcome in zip(where, outcomes, strict=True):
        state.compared.setdefault(pid, {})[pair] = outcome
    return state
