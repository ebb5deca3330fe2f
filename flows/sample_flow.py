"""The `sample` flow: dataset → chunks of problems → generations in the SQL cache → summary."""

from __future__ import annotations

import time

from prefect import flow

from storage.settings import database_url
from tasks.backends.local_server import local_model_servers
from tasks.concurrency import bounded_gather
from tasks.datasets import chunked
from tasks.parameters import (
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
from tasks.reporting import ProgressArtifact
from tasks.sample_tasks import (
    check_endpoint,
    load_problems,
    open_cache,
    plan_sampling,
    register_job,
    resolve_model,
    sample_chunk,
    summarise,
)


@flow(name="sample", log_prints=True)
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
    with local_model_servers([job.spec]) as (ready,):
        job = job.with_spec(ready)
        await check_endpoint(ready)

        async def run(chunk: list) -> object:
            stats = await sample_chunk(job, chunk, n, db_url)
            await progress.advance(len(chunk))
            return stats

        # Enough chunks in flight to keep every server slot busy, not thousands of idle tasks.
        in_flight = max(2, -(-ready.max_concurrency // max(1, chunk_size)) + 1)
        stats = await bounded_gather((run(c) for c in chunks), in_flight)
    return summarise(stats, model, dataset, time.perf_counter() - started)
