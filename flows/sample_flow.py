"""The `sample` flow: dataset → chunks of problems → generations in the SQL cache → summary."""

from __future__ import annotations

import time

from flows.flow_decorator import chorus_flow
from flows.parameters import (
    ChunkSize,
    ConfigPath,
    DatasetPath,
    DbUrl,
    Limit,
    MaxTokens,
    ModelName,
    Samples,
    Temperature,
    TopP,
)
from storage.settings import database_url
from tasks.algorithms.datasets import chunked
from tasks.progress_artifact import ProgressArtifact
from tasks.sample_tasks import sample_chunk, summarise
from tasks.services.concurrency import bounded_gather, chunks_in_flight
from tasks.setup_tasks import load_problems, open_cache, plan_sampling, register_job, resolve_model, serving


@chorus_flow("sample")
async def sample_flow(
    dataset: DatasetPath,
    model: ModelName = "smollm2",
    n: Samples = 4,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    db: DbUrl = None,
    config: ConfigPath = None,
    chunk_size: ChunkSize = 8,
    limit: Limit = None,
) -> dict[str, object]:
    """Draw `n` samples per problem of `dataset` from `model`, through the generation cache."""
    started = time.perf_counter()
    problems = load_problems(dataset, limit)
    spec = resolve_model(model, config)
    job = plan_sampling(spec, max_tokens, temperature, top_p)
    db_url = open_cache(database_url(db))
    register_job(job, db_url)
    chunks = chunked(problems, chunk_size)
    progress = await ProgressArtifact(len(problems), f"sampling {model} x{n} on {dataset}").start()
    async with serving([job.spec]) as (ready,):
        job = job.with_spec(ready)

        async def run(chunk: list) -> object:
            stats = await sample_chunk(job, chunk, n, db_url)
            await progress.advance(len(chunk))
            return stats

        in_flight = chunks_in_flight(ready.max_concurrency, chunk_size)
        stats = await bounded_gather((run(c) for c in chunks), in_flight)
    return summarise(stats, model, dataset, time.perf_counter() - started)
