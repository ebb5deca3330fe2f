"""Prefect tasks of the `sample` flow: each acts on a chunk of problems, never on a single sample."""

from __future__ import annotations

from dataclasses import asdict

from prefect.artifacts import create_table_artifact

from tasks.algorithms.datasets import Problem
from tasks.chorus_task import chorus_task
from tasks.retry import is_transient
from tasks.services import progress_events as progress
from tasks.services.sampling import SampleStats, SamplingJob, sample_problems
from tasks.services.session import open_backend


@chorus_task(
    name="sample-chunk",
    task_run_name="sample {job.spec.name} [{problems[0].id}..] x{n}",
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_condition_fn=is_transient,
)
async def sample_chunk(job: SamplingJob, problems: list[Problem], n: int, db_url: str) -> SampleStats:
    """Samples 0..n-1 of a chunk of problems; a retry regenerates only what is still missing."""
    async with open_backend(job.spec, db_url) as (cache, backend):
        _, stats = await sample_problems(
            job, problems, n, cache, backend, on_problem_done=lambda k: progress.report(1, k)
        )
    return stats


@chorus_task(name="summarise-sampling")
def summarise(stats: list[SampleStats], model: str, dataset: str, wall_s: float) -> dict[str, object]:
    total = SampleStats()
    for s in stats:
        total.add(s)
    summary: dict[str, object] = {"model": model, "dataset": dataset, **asdict(total), "wall_s": round(wall_s, 3)}
    create_table_artifact(
        key="sample-summary",
        table=[{"metric": k, "value": str(v)} for k, v in summary.items()],
        description=f"Sampling {model} on {dataset}",
    )
    return summary
