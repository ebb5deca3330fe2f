"""Set-up tasks every flow starts with: load the problems, resolve the model, open the cache, fix the keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from prefect import get_run_logger

from storage.cache import GenerationCache
from storage.engine import shared_engine
from storage.errors import TransientError
from storage.keys import canonical_json
from tasks.algorithms.datasets import Problem, load_dataset
from tasks.backends.factory import endpoint_health, model_fingerprint, server_slots
from tasks.backends.local_server import local_model_servers
from tasks.backends.registry import load_registry, resolve
from tasks.backends.spec import ModelSpec
from tasks.chorus_task import chorus_task
from tasks.retry import is_transient
from tasks.services import progress_events
from tasks.services.concurrency import in_flight_for_slots
from tasks.services.sampling import SamplingJob


@chorus_task(name="load-dataset")
def load_problems(dataset: str, limit: int | None = None) -> list[Problem]:
    problems = load_dataset(dataset, limit)
    get_run_logger().info("%d problems from %s", len(problems), dataset)
    return problems


@chorus_task(name="resolve-model")
def resolve_model(model: str, config: str | None) -> ModelSpec:
    return resolve(load_registry(config), model)


@chorus_task(name="open-cache")
def open_cache(db_url: str) -> str:
    """Create or upgrade the cache schema before any sampling starts; returns the URL."""
    shared_engine(db_url)
    return db_url


@chorus_task(name="plan-sampling")
def plan_sampling(
    spec: ModelSpec, max_tokens: int | None, temperature: float | None, top_p: float | None
) -> SamplingJob:
    """Validate the sampling parameters and fix the cache keys, before anything is written."""
    params = spec.sampling_params(max_tokens=max_tokens, temperature=temperature, top_p=top_p)
    return SamplingJob(spec, model_fingerprint(spec), params)


@chorus_task(name="register-job")
def register_job(job: SamplingJob, db_url: str) -> None:
    """Record the model and parameters behind the cache keys, for `chorus cache stats` and provenance."""
    spec = job.spec
    cache = GenerationCache(shared_engine(db_url))
    ref = spec.model or str(spec.path or spec.name)
    cache.register(
        model=(job.model_fp, spec.name, spec.backend, ref),
        params=(job.params_hash, canonical_json(job.params.as_key())),
    )


@chorus_task(name="check-endpoint", retries=2, retry_delay_seconds=3, retry_condition_fn=is_transient)
async def check_endpoint(spec: ModelSpec) -> str:
    """Fail fast, with the reason, when the model server cannot be reached."""
    health = await endpoint_health(spec)
    if not health.ok:
        raise TransientError(f"model {spec.name}: endpoint not healthy ({health.detail})")
    return health.detail


@chorus_task(name="fit-in-flight")
async def fit_in_flight(spec: ModelSpec) -> ModelSpec:
    """The spec with `max_concurrency` (the user's cap) lowered to the servers' decode slots plus a
    margin, when the servers report their slots (see `in_flight_for_slots`)."""
    slots = await server_slots(spec)
    bound = in_flight_for_slots(spec.max_concurrency, slots)
    if bound < spec.max_concurrency:
        progress_events.say(f"model {spec.name}: {bound} sequences in flight (the server decodes {slots} at once)")
    return replace(spec, max_concurrency=bound)


@asynccontextmanager
async def serving(specs: list[ModelSpec]) -> AsyncIterator[list[ModelSpec]]:
    """The models ready to generate: embedded servers started (and stopped after), every endpoint checked."""
    embedded = [s.name for s in specs if s.backend == "llamacpp" and not s.endpoints]
    if embedded:
        progress_events.say(
            f"starting the embedded llama.cpp model server for {', '.join(embedded)} (usually 5-30 s) ..."
        )
    with local_model_servers(specs) as ready:
        for spec in ready:
            await check_endpoint(spec)
        yield ready
