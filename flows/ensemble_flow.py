"""The `ensemble` flow: answer distributions → optimal weights (MILP) → evaluation → saved weights."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from flows.flow_decorator import chorus_flow
from flows.parameters import Bound, ConfigPath, DbUrl, Limit, MaxSamples, Samples, Seed
from storage.settings import database_url
from tasks.algorithms.answers import kind_for_dataset
from tasks.ensemble_tasks import (
    cached_distributions,
    distributions,
    evaluate,
    finite_n,
    k_fold_report,
    load_replay_models,
    load_test_models,
    models_in_name_order,
    report_ensemble,
    solve_weights,
    split,
)
from tasks.setup_tasks import load_problems, open_cache, plan_sampling, register_job, resolve_model, serving


@chorus_flow("ensemble")
async def ensemble_flow(
    name: Annotated[str, Field(min_length=1, description="Save the weights under this name")] = "default",
    replay: Annotated[list[str] | None, Field(description="[NAME=]FILE of recorded answers, one per model")] = None,
    dataset: Annotated[str | None, Field(description="Or a dataset with gold answers, sampled live")] = None,
    models: Annotated[list[str] | None, Field(description="Registry models (with dataset)")] = None,
    samples: Samples = 16,
    test_replay: Annotated[list[str] | None, Field(description="Transfer: the same models on another set")] = None,
    train_frac: Annotated[
        float | None, Field(gt=0, lt=1, allow_inf_nan=False, description="Learn on this share")
    ] = None,
    folds: Annotated[int | None, Field(ge=2, le=1000, description="Also report K-fold accuracy")] = None,
    keys: Annotated[Literal["raw", "canonical"], Field(description="Answer keys")] = "raw",
    ties: Annotated[Literal["wrong", "right"], Field(description="A tie is a loss, or a win (the authors)")] = "wrong",
    cost_aware: Annotated[bool, Field(description="Cheapest weights (tokens) with the best count")] = False,
    token_budget: Annotated[
        float | None, Field(gt=0, allow_inf_nan=False, description="Mean tokens per draw at most")
    ] = None,
    lower: Annotated[list[Bound] | None, Field(description="Per-model lower bounds")] = None,
    upper: Annotated[list[Bound] | None, Field(description="Per-model upper bounds")] = None,
    solver: Annotated[Literal["cbc", "highs"], Field(description="MILP solver")] = "cbc",
    time_limit: Annotated[
        float, Field(gt=0, le=86_400, allow_inf_nan=False, description="Seconds for both solver stages")
    ] = 60.0,
    trials: Annotated[
        int, Field(ge=0, le=100_000, description="Monte Carlo trials for finite-N accuracy (0 = skip)")
    ] = 20,
    max_samples: MaxSamples = 32,
    seed: Seed = 0,
    db: DbUrl = None,
    config: ConfigPath = None,
    limit: Limit = None,
) -> dict[str, object]:
    """Learn mixture weights that maximise Bo∞ accuracy, evaluate them, and save them under `name`."""
    db_url = open_cache(database_url(db))
    replay, models, lower, upper = models_in_name_order(replay, models, lower, upper)
    if replay:
        names, tallies = load_replay_models(replay)
    else:
        problems = load_problems(dataset, limit)
        jobs = [plan_sampling(resolve_model(m, config), None, None, None) for m in models or []]
        for job in jobs:
            register_job(job, db_url)
        async with serving([j.spec for j in jobs]) as ready:
            tallies = []
            for job, spec in zip(jobs, ready, strict=True):
                tallies.append(
                    await cached_distributions(
                        job.with_spec(spec), problems, samples, db_url, kind_for_dataset(dataset or "")
                    )
                )
        names = [j.spec.name for j in jobs]
    data = distributions(tallies, keys)
    solve_kwargs = dict(
        epsilon=0.0 if ties == "right" else 1e-6,
        lower=lower,
        upper=upper,
        solver=solver,
        time_limit=time_limit,
        stage2="cost" if cost_aware else "margin",
        token_budget=token_budget,
    )
    train, test = split(data, train_frac, seed)
    sol = solve_weights(data, train, solve_kwargs)
    accuracy = evaluate(data, names, sol.weights, train, test, ties)
    if test_replay:
        test_tallies = load_test_models(names, test_replay)
        test_data = distributions(test_tallies, keys)
        accuracy |= {
            "transfer": evaluate(test_data, names, sol.weights, list(test_data.problem_ids), [], ties)["in_sample"]
        }
    if folds:
        accuracy |= k_fold_report(data, names, folds, seed, ties, solve_kwargs)
    finite = finite_n(tallies, sol.weights.tolist(), test or train, keys, trials, max_samples, seed) if trials else None
    provenance = {
        "replay": replay,
        "dataset": dataset,
        "samples": samples if dataset else None,
        "keys": keys,
        "ties": ties,
        "test_replay": test_replay,
        "train_frac": train_frac,
        "folds": folds,
        "seed": seed,
    }
    return report_ensemble(db_url, name, names, sol, data, (train, test), accuracy, finite, provenance)
