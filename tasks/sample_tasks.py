"""Prefect tasks of the `sample` flow: each acts on a chunk of problems, never on a single sample."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from storage.cache import GenerationCache
from storage.engine import shared_engine
from storage.keys import canonical_json
from tasks import progress
from tasks.backends.registry import (
    ModelSpec,
    create_backend,
    endpoint_health,
    load_registry,
    model_fingerprint,
    resolve,
)
from tasks.datasets import Problem, load_dataset
from tasks.retry import is_transient
from tasks.sampling import SampleStats, SamplingJob, sample_problems


@task(name="load-dataset")
def load_problems(dataset: str, limit: int | None = None) -> list[Problem]:
    problems = load_dataset(dataset, limit)
    get_run_logger().info("%d problems from %s", len(problems), dataset)
    return problems


@task(name="resolve-model")
def resolve_model(model: str, config: str | None) -> ModelSpec:
    return resolve(load_registry(config), model)


@task(name="open-cache")
def open_cache(db_url: str) -> str:
    """Create or upgrade the cache schema before any sampling starts; returns the URL."""
    shared_engine(db_url)
    return db_url


@task(name="plan-sampling")
def plan_sampling(
    spec: ModelSpec, max_tokens: int | None, temperature: float | None, top_p: float | None
) -> SamplingJob:
    """Validate the sampling parameters and fix the cache keys, before anything is written."""
    params = spec.sampling_params(max_tokens=max_tokens, temperature=temperature, top_p=top_p)
    return SamplingJob(spec, model_fingerprint(spec), params)


@task(name="register-job")
def register_job(job: SamplingJob, db_url: str) -> None:
    """Record the model and parameters behind the cache keys, for `chorus cache stats` and provenance."""
    spec = job.spec
    cache = GenerationCache(shared_engine(db_url))
    ref = spec.model or str(spec.path or spec.name)
    cache.register(
        model=(job.model_fp, spec.name, spec.backend, ref),
        params=(job.params_hash, canonical_json(job.params.as_key())),
    )


@task(name="check-endpoint", retries=2, retry_delay_seconds=3, retry_condition_fn=is_transient)
async def check_endpoint(spec: ModelSpec) -> str:
    """Fail fast, with the reason, when the model server cannot be reached."""
    from chorus.errors import TransientError

    health = await endpoint_health(spec)
    if not health.ok:
        raise TransientError(f"model {spec.name}: endpoint not healthy ({health.detail})")
    return health.detail


@task(
    name="sample-chunk",
    task_run_name="sample {job.spec.name} [{problems[0].id}..] x{n}",
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_condition_fn=is_transient,
)
async def sample_chunk(job: SamplingJob, problems: list[Problem], n: int, db_url: str) -> SampleStats:
    """Samples 0..n-1 of a chunk of problems; a retry regenerates only what is still missing."""
    cache = GenerationCache(await asyncio.to_thread(shared_engine, db_url))
    backend = create_backend(job.spec)
    try:
        _, stats = await sample_problems(
            job, problems, n, cache, backend, on_problem_done=lambda k: progress.report(1, k)
        )
    finally:
        await backend.aclose()
    return stats


@task(name="summarise-sampling")
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
