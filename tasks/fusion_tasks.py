"""Prefect tasks of the `fuse` and `distill` flows. Each acts on a chunk of problems, never on one sample.

A chunk moves through candidates → fusion → Best-of-N selection → (fuse only) pairwise comparison;
every stage reads and writes the generation cache, so a retried or rerun stage costs nothing twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed, State

from storage.errors import ChorusError
from tasks.algorithms.datasets import Problem
from tasks.algorithms.judging import Outcome, select_best
from tasks.chorus_task import chorus_task
from tasks.retry import is_transient
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
from tasks.services.fusion_plan import build_fusion_plan
from tasks.services.fusion_report import (
    distill_outputs,
    failure,
    fuse_rows,
    markdown,
    merge_tally,
    summarise_fuse,
    system_answers,
    write_atomically,
)
from tasks.services.sampling import SamplingJob
from tasks.services.session import open_backend

RETRY = {"retries": 3, "retry_delay_seconds": [2, 8, 30], "retry_condition_fn": is_transient}


@dataclass
class ChunkState:
    """What one chunk has so far; each stage fills in its part."""

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


@chorus_task(name="plan-fusion")
def plan_fusion(samplers: list[str], n: int, fusor: str, **options: Any) -> FusionPlan:
    """Every model resolved and every choice validated (see `build_fusion_plan`)."""
    return build_fusion_plan(samplers, n, fusor, **options)


@chorus_task(name="sample-candidates", task_run_name="candidates [{problems[0].id}..] x{plan.n}", **RETRY)
async def sample_candidates(plan: FusionPlan, problems: list[Problem], db_url: str) -> ChunkState:
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


@chorus_task(name="fuse-candidates", task_run_name="fuse [{state.problems[0].id}..]", **RETRY)
async def fuse_candidates(plan: FusionPlan, state: ChunkState, db_url: str) -> ChunkState:
    async with open_backend(plan.fusor.spec, db_url) as (cache, backend):
        fused, stats = await fuse(plan, [(p, state.candidates[p.id]) for p in state.live()], cache, backend)
    state.fused.update(fused)
    state.tally.add("fusion", stats)
    return state


@chorus_task(name="select-best-of-n", task_run_name="select {plan.select} [{state.problems[0].id}..]", **RETRY)
async def select_candidates(plan: FusionPlan, state: ChunkState, db_url: str) -> ChunkState:
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


@chorus_task(name="compare-answers", task_run_name="compare [{state.problems[0].id}..]", **RETRY)
async def compare_answers(plan: FusionPlan, state: ChunkState, db_url: str) -> ChunkState:
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


@chorus_task(name="report-fuse")
def report_fuse(plan: FusionPlan, states: list[ChunkState], dataset: str, wall_s: float) -> dict[str, object]:
    """Per-problem table and markdown summary artifacts; the summary names every model and count."""
    rows = fuse_rows(plan, states)
    summary: dict[str, object] = {
        "dataset": dataset,
        "model": plan.samplers[0].spec.name,
        "fusor": plan.fusor.spec.name,
        "judge": plan.judge.spec.name if plan.judge else None,
        "reward": plan.reward.spec.name if plan.reward else None,
        **summarise_fuse(plan, rows),
        "calls": merge_tally(states),
        "wall_s": round(wall_s, 3),
    }
    table = [
        {k: (v if isinstance(v, str | int | float | bool) or v is None else str(v)) for k, v in r.items()} for r in rows
    ]
    create_table_artifact(key="fuse-problems", table=table[:1000], description="Fusion vs Best-of-N vs one sample")
    summary["error"] = failure(plan, rows)
    create_markdown_artifact(key="fuse-summary", markdown=markdown(f"fuse: {dataset}", summary), description="fuse")
    return summary


@chorus_task(name="write-distill")
def write_distill(plan: FusionPlan, states: list[ChunkState], out_dir: str, wall_s: float) -> dict[str, object]:
    """fusion.jsonl, best_of_n.jsonl and provenance.json, written atomically once every prompt is done."""
    try:
        files, counts = distill_outputs(plan, states)
        paths = write_atomically(out_dir, files)
    except ChorusError as exc:  # nothing to write, or the folder is not writable: nothing was written
        return {"error": str(exc)}
    summary: dict[str, object] = {
        "teachers": [j.spec.name for j in plan.samplers],
        "fusor": plan.fusor.spec.name,
        "select": plan.select,
        **counts,
        "files": paths,
        "calls": merge_tally(states),
        "wall_s": round(wall_s, 3),
    }
    create_table_artifact(
        key="distill-skipped",
        table=json_rows(files["provenance.json"]),
        description="Prompts or methods left out of the distilled files, with the reason",
    )
    create_markdown_artifact(key="distill-summary", markdown=markdown("distill", summary), description="distill")
    return summary


def json_rows(provenance: str) -> list[dict[str, str]]:
    import json

    skipped = json.loads(provenance)["skipped"]
    return [{k: str(v) for k, v in row.items()} for row in skipped] or [{"id": "-", "reason": "nothing skipped"}]


def finish(summary: dict[str, object]) -> dict[str, object] | State:
    """The flow's result, or a Failed state (the CLI prints its one line) when nothing could be produced."""
    error = summary.get("error")
    if error:
        return Failed(message=str(error), data=ChorusError(str(error)))
    summary.pop("error", None)
    return summary
