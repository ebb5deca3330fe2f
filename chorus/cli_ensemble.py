"""`chorus ensemble`: optimal mixture weights from recorded answers or from live models' cached samples."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from chorus.cli_common import ConfigOpt, DbOpt, app, err, out, preflight, quiet_prefect_console
from chorus.input_checks import check_replay_files
from chorus.prefect_runtime import use_prefect
from chorus.progress_display import Announcements
from chorus.validation import check_flow_parameters
from storage.errors import ChorusError
from tasks.algorithms.options import parse_floats


@app.command()
def ensemble(
    replay: Annotated[
        list[str] | None, typer.Option("--replay", help="[NAME=]FILE of recorded answers, one per model.")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Or: a dataset with gold answers, sampled live.")
    ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Registry models (with --dataset).")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Samples per problem and model (with --dataset).")] = 16,
    name: Annotated[
        str, typer.Option("--name", help="Save the weights under this name (for vote --ensemble).")
    ] = "default",
    train_frac: Annotated[
        float | None, typer.Option("--train-frac", help="Learn on this share, evaluate on the rest.")
    ] = None,
    test: Annotated[
        list[str] | None, typer.Option("--test", help="Transfer: recorded answers of the same models on another set.")
    ] = None,
    folds: Annotated[int | None, typer.Option("--folds", help="Also report K-fold cross-validated accuracy.")] = None,
    keys: Annotated[str, typer.Option("--keys", help="raw (as recorded, the paper) or canonical")] = "raw",
    ties: Annotated[str, typer.Option("--ties", help="wrong (a tie is a loss) or right (the authors' rule)")] = "wrong",
    cost_aware: Annotated[
        bool, typer.Option("--cost-aware", help="Cheapest weights (tokens) with the best count.")
    ] = False,
    token_budget: Annotated[
        float | None, typer.Option("--token-budget", help="Best count with mean tokens per draw ≤ this.")
    ] = None,
    lower: Annotated[str | None, typer.Option("--lower", help="Per-model lower bounds w1,w2,...")] = None,
    upper: Annotated[str | None, typer.Option("--upper", help="Per-model upper bounds w1,w2,...")] = None,
    solver: Annotated[str, typer.Option("--solver", help="cbc or highs")] = "cbc",
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for both solver stages.")] = 60.0,
    trials: Annotated[int, typer.Option("--trials", help="Monte Carlo trials for finite-N accuracy (0 = skip).")] = 20,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    limit: Annotated[int | None, typer.Option("--limit")] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Choose model weights so the weighted mixture's majority is right on the most problems (MILP)."""
    from flows.ensemble_flow import ensemble_flow
    from tasks.algorithms.options import match_named_files, parse_named_files

    params = dict(
        name=name,
        samples=samples,
        train_frac=train_frac,
        folds=folds,
        keys=keys,  # raw | canonical, wrong | right, cbc | highs: the flow's Literal types check them
        ties=ties,
        token_budget=token_budget,
        lower=parse_floats(lower, "--lower"),
        upper=parse_floats(upper, "--upper"),
        solver=solver,
        time_limit=time_limit,
        trials=trials,
        seed=seed,
        limit=limit,
    )
    check_flow_parameters(ensemble_flow, **params)
    if bool(replay) == bool(dataset):
        raise ChorusError("ensemble: give --replay FILE ... or --dataset FILE --model NAME ..., not both or neither")
    if replay:
        named = parse_named_files(replay)
        if len(named) < 2:
            raise ChorusError("--replay: an ensemble needs at least two models")
        trained = [n for n, _ in named]
    else:
        if not model or len(model) < 2:
            raise ChorusError("--model: an ensemble needs at least two models")
        named, trained = [], list(model)
    # test files go with trained models by name (a test file and its model's training file share one)
    tests = match_named_files(trained, test, "--test") if test else []
    # Bad files fail here as file:line, before Prefect starts; a partial overlap is said before the run.
    warnings = check_replay_files(named) if named else []
    warnings += check_replay_files(tests, "--test") if tests else []
    for warning in warnings:
        err.print(warning, highlight=False, soft_wrap=True, markup=False)
    if not replay:
        preflight(model or [], dataset=dataset or "", limit=limit, config=config, db=db)

    from tasks.algorithms.ensemble_weights import check_bounds

    check_bounds(len(replay or model or []), params["lower"], params["upper"])
    use_prefect()

    quiet_prefect_console()

    with Announcements(err):
        summary = asyncio.run(
            ensemble_flow(
                **params,
                replay=replay,
                dataset=dataset,
                models=model,
                test_replay=test,
                cost_aware=cost_aware,
                db=db,
                config=config,
            )
        )
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    s = summary["solver"]
    out.print(
        f"ensemble [bold]{name}[/bold]: {s['solved']}/{s['total']} problems ({s['status']}, {s['name']}, "
        f"{s['seconds']} s, gap {s['gap']:.3g})"
    )
    table = Table()
    splits = list(summary["accuracy"])
    for col in ("model", "weight", *splits):
        table.add_column(col)
    for m in [*summary["models"], "ensemble"]:
        weight = f"{summary['weights'][m]:.3f}" if m in summary["weights"] else ""
        table.add_row(m, weight, *[f"{summary['accuracy'][sp].get(m, float('nan')):.4f}" for sp in splits])
    out.print(table)
