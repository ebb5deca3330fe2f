"""Prefect tasks of the `fuse` and `distill` flows. Each acts on a chunk of problems, never on one sample.

A chunk's problems each move through candidates → fusion → Best-of-N selection → (fuse only) pairwise
comparison on their own (`tasks/services/fusion_pipeline.py`); every stage reads and writes the
generation cache, so a retried chunk or a rerun costs nothing twice.
"""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Failed, State

from storage.errors import ChorusError
from tasks.algorithms.datasets import Problem
from tasks.chorus_task import chorus_task
from tasks.retry import is_transient
from tasks.services.fusing import FusionPlan
from tasks.services.fusion_pipeline import ChunkState, fuse_problems
from tasks.services.fusion_plan import build_fusion_plan
from tasks.services.fusion_report import (
    distill_outputs,
    failure,
    fuse_rows,
    markdown,
    merge_tally,
    summarise_fuse,
    write_atomically,
)

RETRY = {"retries": 3, "retry_delay_seconds": [2, 8, 30], "retry_condition_fn": is_transient}


@chorus_task(name="plan-fusion")
def plan_fusion(samplers: list[str], n: int, fusor: str, **options: Any) -> FusionPlan:
    """Every model resolved and every choice validated (see `build_fusion_plan`)."""
    return build_fusion_plan(samplers, n, fusor, **options)


@chorus_task(name="fuse-chunk", task_run_name="{flow} [{problems[0].id}..] x{plan.n}", **RETRY)
async def fuse_chunk(plan: FusionPlan, problems: list[Problem], db_url: str, flow: str) -> ChunkState:
    """Candidates → fusion → Best-of-N (→ comparison when the plan asks for it) for a chunk, each problem
    its own pipeline (`tasks/services/fusion_pipeline.py`). `flow` ("fuse", "distill") names the run."""
    return await fuse_problems(plan, problems, db_url)


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
