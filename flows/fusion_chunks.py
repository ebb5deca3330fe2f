"""The wiring `fuse` and `distill` share once their plan is made: register the plan's jobs with the
cache, start (or reach) its model servers, and run the problems in chunks, each chunk one retried
Prefect task whose problems are pipelines of their own (tasks/services/fusion_pipeline.py)."""

from __future__ import annotations

from typing import Literal

from storage.settings import database_url
from tasks.algorithms.datasets import Problem, chunked
from tasks.fusion_tasks import fuse_chunk
from tasks.services.concurrency import PIPELINED_PROBLEMS_PER_SLOT, bounded_gather, chunks_in_flight
from tasks.services.fusing import FusionPlan
from tasks.services.fusion_pipeline import ChunkState
from tasks.setup_tasks import open_cache, register_job, serving


async def fuse_in_chunks(
    plan: FusionPlan, problems: list[Problem], db: str | None, chunk_size: int, flow: Literal["fuse", "distill"]
) -> list[ChunkState]:
    """Every chunk's state, in the problems' order. A problem has several steps (candidates, fusion,
    judging), so the run is admitted early: 64 problems per request the busiest endpoint takes at once
    (`chunks_in_flight`); the endpoints' limiters, not this, bound what the servers see."""
    db_url = open_cache(database_url(db))
    for job in plan.jobs():
        register_job(job, db_url)
    async with serving(plan.specs()) as ready:
        plan = plan.with_specs(ready)
        in_flight = chunks_in_flight(max(s.max_concurrency for s in ready), chunk_size, PIPELINED_PROBLEMS_PER_SLOT)
        chunks = (fuse_chunk(plan, c, db_url, flow) for c in chunked(problems, chunk_size))
        return await bounded_gather(chunks, in_flight)
