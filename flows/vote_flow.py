"""The `vote` flow: adaptive Best-of-∞ sampling per problem, one Prefect task per chunk."""

from __future__ import annotations

import time
from typing import Annotated

from prefect.utilities.annotations import quote
from pydantic import Field

from flows.flow_decorator import chorus_flow
from flows.parameters import (
    Alpha,
    AnswerKind,
    BatchSize,
    ChunkSize,
    Compat,
    ConfigPath,
    DatasetPath,
    DbUrl,
    Limit,
    MaxSamples,
    MaxTokens,
    RuleName,
    Seed,
    Temperature,
    Threshold,
    TopP,
)
from storage.settings import database_url
from tasks.algorithms.datasets import chunked
from tasks.algorithms.options import parse_schedule, parse_weighted
from tasks.algorithms.vote_tally import merge_tallies
from tasks.services import progress_events
from tasks.services.concurrency import PIPELINED_PROBLEMS_PER_SLOT, bounded_gather, chunks_in_flight
from tasks.setup_tasks import (
    fit_in_flight,
    load_problems,
    open_cache,
    plan_sampling,
    register_job,
    resolve_model,
    serving,
)
from tasks.vote_tasks import (
    TABLE_ROWS,
    ensemble_models,
    fixed_budget_plan,
    plan_vote,
    report_vote,
    vote_chunk,
)


@chorus_flow("vote")
async def vote_flow(
    dataset: DatasetPath,
    models: list[str] = ["smollm2"],  # noqa: B006 - Prefect renders the default in the UI form
    rule: RuleName = "bayes",
    threshold: Threshold = None,
    max_samples: MaxSamples = 32,
    batch_schedule: str | None = None,
    batch: BatchSize = None,
    answer_kind: AnswerKind = None,
    alpha: Alpha = 0.3,
    compat: Compat = "chorus",
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    baseline: bool = True,
    db: DbUrl = None,
    config: ConfigPath = None,
    chunk_size: ChunkSize = 8,
    limit: Limit = None,
    seed: Seed = 0,
    ensemble: Annotated[
        str | None, Field(description="Use weights saved by the ensemble flow (replaces models)")
    ] = None,
) -> dict[str, object]:
    """Vote on every problem until the rule stops it; report accuracy, samples and the fixed-N baseline."""
    started = time.perf_counter()
    if ensemble:
        models = ensemble_models(ensemble, open_cache(database_url(db)))
    weighted = parse_weighted(models)
    schedule = parse_schedule(batch_schedule, batch)
    problems = load_problems(dataset, limit)
    jobs = [plan_sampling(resolve_model(name, config), max_tokens, temperature, top_p) for name, _ in weighted]
    plan = plan_vote(
        jobs, [w for _, w in weighted], dataset, answer_kind, rule, threshold, max_samples, alpha, compat, schedule
    )
    db_url = open_cache(database_url(db))
    for job in jobs:
        register_job(job, db_url)
    async with serving([j.spec for j in jobs]) as ready:
        ready = [await fit_in_flight(s) for s in ready]
        plan = plan.with_specs(ready)
        # Enough chunks at once that the budget's order (first samples first) reaches a hard problem late
        # in the input early; the chunks share one client per model.
        in_flight = chunks_in_flight(max(s.max_concurrency for s in ready), chunk_size, PIPELINED_PROBLEMS_PER_SLOT)
        # quote: a chunk holds no futures, and Prefect would walk each problem's fields twice per task run.
        chunks = chunked(problems, chunk_size)
        keep = [max(0, TABLE_ROWS - i * chunk_size) for i in range(len(chunks))]  # rows for the UI's table
        results = await bounded_gather(
            (vote_chunk(plan, quote(c), db_url, seed, keep_rows=k) for c, k in zip(chunks, keep, strict=True)),
            in_flight,
        )
        tally = merge_tallies([t for t, _ in results], TABLE_ROWS)
        stats = [s for _, s in results]
        base_tally = None
        if baseline:
            base_plan = fixed_budget_plan(plan, tally)
            progress_events.say(f"baseline: majority of {base_plan.rule.max_samples} per problem (same mean budget)")
            base = await bounded_gather(
                (vote_chunk(base_plan, quote(c), db_url, seed, False) for c in chunks), in_flight
            )
            base_tally = merge_tallies([t for t, _ in base], 0)
    wall_s = time.perf_counter() - started
    return report_vote(tally, stats, base_tally, plan, dataset, wall_s)
