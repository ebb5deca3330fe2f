"""The `ensemble` flow: answer distributions → optimal weights (MILP) → evaluation → saved weights."""

from __future__ import annotations

from prefect import flow

from storage.settings import database_url
from tasks.answers import kind_for_dataset
from tasks.backends.local_server import local_model_servers
from tasks.ensemble_tasks import (
    cached_distributions,
    distributions,
    evaluate,
    finite_n,
    k_fold_report,
    load_replay_models,
    report_ensemble,
    solve_weights,
    split,
)
from tasks.sample_tasks import check_endpoint, load_problems, open_cache, plan_sampling, register_job, resolve_model


@flow(name="ensemble", log_prints=True)
async def ensemble_flow(
    name: str = "default",
    replay: list[str] | None = None,
    dataset: str | None = None,
    models: list[str] | None = None,
    samples: int = 16,
    test_replay: list[str] | None = None,
    train_frac: float | None = None,
    folds: int | None = None,
    keys: str = "raw",
    ties: str = "wrong",
    cost_aware: bool = False,
    token_budget: float | None = None,
    lower: list[float] | None = None,
    upper: list[float] | None = None,
    solver: str = "cbc",
    time_limit: float = 60.0,
    trials: int = 20,
    max_samples: int = 32,
    seed: int = 0,
    db: str | None = None,
    config: str | None = None,
    limit: int | None = None,
) -> dict[str, object]:
    """Learn mixture weights that maximise Bo∞ accuracy, evaluate them, and save them under `name`."""
    db_url = open_cache(database_url(db))
    if replay:
        names, tallies = load_replay_models(replay)
    else:
        problems = load_problems(dataset, limit)
        jobs = [plan_sampling(resolve_model(m, config), None, None, None) for m in models or []]
        for job in jobs:
            register_job(job, db_url)
        with local_model_servers([j.spec for j in jobs]) as ready:
            tallies = []
            for job, spec in zip(jobs, ready, strict=True):
                await check_endpoint(spec)
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
        _, test_tallies = load_replay_models(test_replay)
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
