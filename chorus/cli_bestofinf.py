"""`chorus vote` (adaptive sampling on live models) and `chorus simulate` (recorded answers)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated

import typer
from rich.table import Table

from chorus.cli_common import (
    ConfigOpt,
    DbOpt,
    JsonOpt,
    app,
    err,
    out,
    preflight,
    print_summary,
    quiet_prefect_console,
)
from chorus.input_checks import check_existing_database, check_output_file, check_replay_files
from chorus.prefect_runtime import use_prefect, without_flow_heartbeat
from chorus.progress_display import Announcements, VoteProgress
from chorus.validation import check_flow_parameters
from storage.errors import ChorusError
from tasks.algorithms.options import parse_floats, parse_named_files


@app.command()
def vote(
    dataset: Annotated[str, typer.Option("--dataset", help="JSONL or CSV with id, question, optional answer.")],
    model: Annotated[
        list[str] | None, typer.Option("--model", help="NAME or NAME=WEIGHT; repeat for a weighted mixture.")
    ] = None,
    rule: Annotated[str, typer.Option("--rule", help="bayes | fixed | beta | esc | gain | rate")] = "bayes",
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="B for bayes (default 10); N for fixed; probability for beta; window for esc."
        ),
    ] = None,
    max_samples: Annotated[int, typer.Option("--max-samples", help="N_max per problem.")] = 32,
    batch_schedule: Annotated[
        str | None, typer.Option("--batch-schedule", help="Samples per round, e.g. 1,1,2,4,8 (the last repeats).")
    ] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="A constant batch size instead of a schedule.")] = None,
    answer_kind: Annotated[
        str | None, typer.Option("--answer-kind", help="math | choice | number (default from the dataset name).")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Dirichlet-process concentration.")] = 0.3,
    compat: Annotated[
        str, typer.Option("--compat", help="chorus (exact Bayes factor) or authors (their published code).")
    ] = "chorus",
    max_tokens: Annotated[int | None, typer.Option("--max-tokens")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature")] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline/--no-baseline", help="Also majority-vote a fixed N at the same mean budget.")
    ] = True,
    limit: Annotated[int | None, typer.Option("--limit")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size")] = 8,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    ensemble: Annotated[
        str | None, typer.Option("--ensemble", help="Sample from weights saved by `chorus ensemble --name`.")
    ] = None,
    db: DbOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Adaptive Best-of-∞ voting: sample each problem until the stopping rule says the answer is settled."""
    from flows.vote_flow import vote_flow
    from tasks.algorithms.options import parse_schedule, parse_weighted
    from tasks.algorithms.stopping import make_rule

    check_flow_parameters(
        vote_flow,
        rule=rule,
        threshold=threshold,
        max_samples=max_samples,
        batch=batch,
        answer_kind=answer_kind,
        alpha=alpha,
        compat=compat,
        max_tokens=max_tokens,
        temperature=temperature,
        chunk_size=chunk_size,
        limit=limit,
        seed=seed,
    )
    if ensemble and model:
        raise ChorusError("--ensemble and --model: give one, not both")
    if ensemble:
        from storage.engine import open_engine
        from storage.ensembles import load_ensemble
        from storage.settings import database_url

        check_existing_database(database_url(db))  # a lookup creates no database
        saved = load_ensemble(open_engine(database_url(db)), ensemble)  # fails here, in one line, if unknown
        # Read once: the flow gets the weighted models, so it does not read the table again.
        model = [f"{m}={w}" for m, w in zip(saved.models, saved.weights, strict=True)]
    model = model or ["smollm2"]
    names = [name for name, _ in parse_weighted(model)]
    parse_schedule(batch_schedule, batch)
    make_rule(rule, threshold, max_samples, alpha, compat)
    count = preflight(
        names, dataset=dataset, limit=limit, config=config, db=db, max_tokens=max_tokens, temperature=temperature
    )
    use_prefect()
    from flows.vote_flow import vote_flow

    quiet_prefect_console()

    with Announcements(err), VoteProgress(err, count, quiet=as_json):
        summary = asyncio.run(
            vote_flow(
                dataset=dataset,
                models=model,
                rule=rule,
                threshold=threshold,
                max_samples=max_samples,
                batch_schedule=batch_schedule,
                batch=batch,
                answer_kind=answer_kind,
                alpha=alpha,
                compat=compat,
                max_tokens=max_tokens,
                temperature=temperature,
                baseline=baseline,
                db=db,
                config=config,
                chunk_size=chunk_size,
                limit=limit,
                seed=seed,
            )
        )
    print_summary(f"vote on {dataset}", summary, as_json)


@app.command()
def simulate(
    replay: Annotated[
        list[str], typer.Option("--replay", help="[NAME=]FILE of recorded answers; repeat for a mixture.")
    ],
    weights: Annotated[
        str | None, typer.Option("--weights", help="w1,w2,... one per --replay, in its order (default equal).")
    ] = None,
    rule: Annotated[str, typer.Option("--rule", help="bayes | fixed | beta | esc | gain | rate")] = "bayes",
    thresholds: Annotated[str, typer.Option("--thresholds")] = "2,5,10,30,100,300",
    fixed: Annotated[str, typer.Option("--fixed")] = "1,3,5,10,30,100",
    trials: Annotated[int, typer.Option("--trials")] = 100,
    max_samples: Annotated[int, typer.Option("--max-samples")] = 100,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.3,
    compat: Annotated[str, typer.Option("--compat", help="chorus or authors")] = "chorus",
    keys: Annotated[
        str, typer.Option("--keys", help="raw (recorded strings, as the paper) or canonical (merge equivalent forms)")
    ] = "raw",
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the result JSON to this file ('-' = stdout).")
    ] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Write accuracy vs mean samples to this PNG.")] = None,
) -> None:
    """Monte Carlo adaptive vs fixed-N majority over recorded answers (a Prefect flow run)."""

    from flows.simulate_flow import simulate_flow
    from tasks.algorithms.options import parse_ints
    from tasks.algorithms.stopping import check_threshold, setting_label

    w = parse_floats(weights, "--weights")
    if w is not None and len(w) != len(replay):
        raise ChorusError(f"--weights {weights}: {len(w)} weights for {len(replay)} --replay files")
    ths = parse_floats(thresholds, "--thresholds") or []
    fx = parse_ints(fixed, "--fixed") or []
    params = dict(
        replay=replay,
        weights=w,
        rule=rule,
        thresholds=ths,
        fixed=fx,
        trials=trials,
        max_samples=max_samples,
        seed=seed,
        alpha=alpha,
        compat=compat,
        keys=keys,
    )
    check_flow_parameters(simulate_flow, **params)
    if w is not None and sum(w) <= 0:
        raise ChorusError(f"--weights {weights}: at least one weight must be > 0")
    for t in ths:
        check_threshold(rule, t, "--thresholds")
    if any(n > max_samples for n in fx):
        raise ChorusError(f"--fixed {fixed}: every N must be ≤ --max-samples {max_samples}")
    check_output_file(json_out, "--json")
    check_output_file(plot, "--plot")
    # Two files of one model name, or a bad file, fail here in one line, before Prefect starts;
    # a partial overlap is said before the run.
    for warning in check_replay_files(parse_named_files(replay)):
        err.print(warning, highlight=False, soft_wrap=True, markup=False)
    use_prefect()

    quiet_prefect_console()

    with without_flow_heartbeat():
        result = simulate_flow(
            **params,
            plot=plot,
            chart=plot is not None,  # the terminal shows the table; the plot when asked for (saves ~1 s)
        )
    if json_out == "-":
        print(json.dumps(result, indent=2))
        return
    if json_out:
        try:
            with open(json_out, "w", encoding="utf-8") as fh:
                json.dump(result, fh, indent=2)
        except OSError as exc:  # checked before the run; this is a folder that changed meanwhile
            raise ChorusError(f"--json {json_out}: cannot write ({exc.strerror})") from None
    table = Table(title=f"simulate ({result['n_problems']} problems, Bo∞ = {result['bo_inf_accuracy']:.4f})")
    for col in ("setting", "accuracy", "± s.e.", "mean samples", "mean tokens"):
        table.add_column(col)
    for rule, points in ((result["rule"], result["adaptive"]), ("fixed", result["fixed"])):
        for p in points:
            table.add_row(
                setting_label(rule, p["setting"]),
                f"{p['accuracy']:.4f}",
                f"{p['accuracy_se']:.4f}",
                f"{p['mean_samples']:.2f}",
                f"{p['mean_tokens']:.0f}",
            )
    out.print(table)
    if plot:
        out.print(f"plot written to {os.path.abspath(plot)}", soft_wrap=True, highlight=False)
