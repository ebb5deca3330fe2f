"""Prefect tasks of the `ensemble` flow: answer distributions, the MILP, evaluation, saved weights."""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from storage.engine import shared_engine
from storage.ensembles import save_ensemble
from storage.errors import ChorusError
from tasks.algorithms.answers import AnswerKind, answer_key, canonicalize
from tasks.algorithms.datasets import Problem
from tasks.algorithms.ensemble_eval import EnsembleData, build_dists, cross_validate, mixture_accuracy, single_accuracy
from tasks.algorithms.ensemble_eval import train_test_split as split_ids
from tasks.algorithms.ensemble_weights import EnsembleSolution, solve_ensemble
from tasks.algorithms.options import ANSWER_KEYS, match_named_files, name_order, parse_named_files
from tasks.algorithms.replay_files import ReplayProblem, load_replay
from tasks.algorithms.simulation import simulate
from tasks.chorus_task import chorus_task
from tasks.retry import is_transient
from tasks.services.sampling import SamplingJob, sample_problems
from tasks.services.session import open_backend


def models_in_name_order(
    replay: list[str] | None, models: list[str] | None, lower: list[float] | None, upper: list[float] | None
) -> tuple[list[str] | None, list[str] | None, list[float] | None, list[float] | None]:
    """The models (replay items or registry names) in name order, with the positional per-model bounds
    permuted along: the order in which models were given cannot change the weights."""
    names = [n for n, _ in parse_named_files(replay)] if replay else list(models or [])
    order = name_order(names)

    def permute(xs: list | None) -> list | None:
        return None if xs is None else [xs[i] for i in order]

    return permute(replay), permute(models), permute(lower), permute(upper)


@chorus_task(name="load-replay-models")
def load_replay_models(
    items: list[str], order: list[str] | None = None, flag: str = "--replay"
) -> tuple[list[str], list[list[ReplayProblem]]]:
    """The models' recorded answers by name; with `order`, in that order (matched by name, never position)."""
    named = dict(parse_named_files(items, flag))
    if order is not None:
        if set(named) != set(order):
            raise ChorusError(
                f"{flag}: need one file per model, matched by name ({', '.join(order)}); got {', '.join(named)}"
            )
        named = {n: named[n] for n in order}
    if len(named) < 2:
        raise ChorusError(f"{flag}: an ensemble needs at least two models")
    return list(named), [load_replay(p) for p in named.values()]


@chorus_task(name="load-test-models")
def load_test_models(trained: list[str], items: list[str]) -> list[list[ReplayProblem]]:
    """Transfer files matched to the trained models by name, in the trained models' order."""
    return [load_replay(p) for _, p in match_named_files(trained, items, "--test")]


@chorus_task(name="cached-distributions", retries=3, retry_delay_seconds=[2, 8, 30], retry_condition_fn=is_transient)
async def cached_distributions(
    job: SamplingJob, problems: list[Problem], n: int, db_url: str, kind: AnswerKind
) -> list[ReplayProblem]:
    """n samples per problem of one live model (cached; only missing ones generated) as answer tallies."""
    async with open_backend(job.spec, db_url) as (cache, backend):
        samples, _ = await sample_problems(job, problems, n, cache, backend)
    gold = {p.id: p.answer for p in problems}
    return [
        ReplayProblem(
            s.problem_id,
            tuple(answer_key(g.text, kind) or "" for g in s.generations),
            tuple(g.completion_tokens for g in s.generations),
            None if gold[s.problem_id] is None else canonicalize(gold[s.problem_id], kind),
        )
        for s in samples
    ]


@chorus_task(name="answer-distributions")
def distributions(models: list[list[ReplayProblem]], keys: str) -> EnsembleData:
    if keys not in ANSWER_KEYS:
        raise ChorusError(f"--keys {keys}: choose raw or canonical")
    data = build_dists(models, ANSWER_KEYS[keys])
    if not data.problem_ids:
        raise ChorusError("ensemble: no problem has a gold answer and an answer from every model")
    return data


@chorus_task(name="solve-weights")
def solve_weights(data: EnsembleData, ids: list[str], solve_kwargs: dict[str, Any]) -> EnsembleSolution:
    train = data.subset(ids)
    kwargs = dict(solve_kwargs)
    if kwargs.get("stage2") == "cost" or kwargs.get("token_budget") is not None:
        kwargs["costs"] = data.tokens
    return solve_ensemble(train.probs, **kwargs)


@chorus_task(name="evaluate-ensemble")
def evaluate(
    data: EnsembleData, names: list[str], weights: np.ndarray, train: list[str], test: list[str], ties: str
) -> dict[str, dict[str, float]]:
    """Bo∞ accuracy of every model and of the ensemble, in-sample and (when any) held out."""
    report: dict[str, dict[str, float]] = {}
    for label, ids in (("in_sample", train), ("held_out", test)):
        if not ids:
            continue
        part = data.subset(ids)
        row = {n: round(single_accuracy(part, i, ties), 4) for i, n in enumerate(names)}  # type: ignore[arg-type]
        row["ensemble"] = round(mixture_accuracy(part, weights, ties), 4)  # type: ignore[arg-type]
        report[label] = row
    return report


@chorus_task(name="cross-validate")
def k_fold_report(
    data: EnsembleData, names: list[str], folds: int, seed: int, ties: str, solve_kwargs: dict[str, Any]
) -> dict[str, dict[str, float]]:
    rep = cross_validate(data, names, k=folds, seed=seed, ties=ties, **solve_kwargs)  # type: ignore[arg-type]
    return {
        "cv_train": {k: round(v, 4) for k, v in rep.train.items()},
        "cv_held_out": {k: round(v, 4) for k, v in rep.test.items()},
    }


@chorus_task(name="finite-n-mixture")
def finite_n(
    models: list[list[ReplayProblem]],
    weights: list[float],
    ids: list[str],
    keys: str,
    trials: int,
    max_samples: int,
    seed: int,
) -> dict[str, Any]:
    """Adaptive sampling from the mixture (model i with probability w_i per draw) on the given problems."""
    wanted = set(ids)
    kept = [[p for p in m if p.problem_id in wanted] for m in models]
    result = simulate(
        kept[0],
        mixtures=kept[1:],
        weights=weights,
        rule="bayes",
        thresholds=[5, 10, 30],
        fixed=[1, 5, min(10, max_samples)],
        trials=trials,
        max_samples=max_samples,
        seed=seed,
        key=ANSWER_KEYS[keys],
    )
    return {
        "bo_inf": result.bo_inf_accuracy,
        "adaptive": [
            {"B": p.setting, "accuracy": round(p.accuracy, 4), "samples": round(p.mean_samples, 2)}
            for p in result.adaptive
        ],
        "fixed": [{"N": p.setting, "accuracy": round(p.accuracy, 4)} for p in result.fixed],
    }


def split(data: EnsembleData, train_frac: float | None, seed: int) -> tuple[list[str], list[str]]:
    ids = list(data.problem_ids)
    if train_frac is None:
        return ids, []
    if not 0 < train_frac < 1:
        raise ChorusError(f"--train-frac {train_frac}: must be between 0 and 1")
    return split_ids(ids, train_frac, seed)


@chorus_task(name="report-ensemble")
def report_ensemble(
    db_url: str,
    name: str,
    names: list[str],
    sol: EnsembleSolution,
    data: EnsembleData,
    split_ids: tuple[list[str], list[str]],
    accuracy: dict[str, Any],
    finite: dict[str, Any] | None,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Save the weights with their provenance, leave artifacts, and return the summary."""
    weights = [float(w) for w in sol.weights]
    summary: dict[str, Any] = {
        "name": name,
        "models": names,
        "weights": dict(zip(names, [round(w, 6) for w in weights], strict=True)),
        "problems": {
            "used": len(data.problem_ids),
            "train": len(split_ids[0]),
            "test": len(split_ids[1]),
            "not_in_every_model": len(data.dropped_ids),
            "no_gold": len(data.no_gold_ids),
        },
        "solver": {
            "name": sol.solver,
            "status": sol.status,
            "solved": sol.solved,
            "total": sol.total,
            "objective": sol.objective,
            "bound": sol.bound,
            "gap": sol.gap,
            "margin": sol.margin,
            "seconds": round(sol.seconds, 3),
            "rows": sol.rows,
            "dropped_rows": sol.dropped_rows,
            "stage2": sol.stage2,
            "stage2_status": sol.stage2_status,
            "cost": sol.cost,
        },
        "accuracy": accuracy,
        "data": provenance,
    }
    if finite is not None:
        summary["finite_n"] = finite
    save_ensemble(shared_engine(db_url), name, names, weights, summary)
    # Deployments can react: prefect.yaml re-runs the evaluation vote when new weights appear.
    emit_event(
        event="chorus.ensemble.saved",
        resource={"prefect.resource.id": f"chorus.ensemble.{name}", "prefect.resource.name": name},
        payload={"name": name, "models": names, "weights": weights},
    )
    create_table_artifact(
        key="ensemble-weights",
        description=f"Ensemble {name}",
        table=[{"model": n, "weight": round(w, 4)} for n, w in zip(names, weights, strict=True)],
    )
    cols = [*names, "ensemble"]
    lines = [
        f"# ensemble {name}",
        "",
        f"solver {sol.solver}: {sol.status}, {sol.solved}/{sol.total} solved, gap {sol.gap:.3g}, {sol.seconds:.2f} s",
        "",
        "| split | " + " | ".join(cols) + " |",
        "| --- |" + " --- |" * len(cols),
    ]
    for label, row in accuracy.items():
        lines.append(f"| {label} | " + " | ".join(str(row.get(n, "")) for n in cols) + " |")
    create_markdown_artifact(key="ensemble-report", markdown="\n".join(lines), description=f"Ensemble {name}")
    return summary
