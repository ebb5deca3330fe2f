"""Prefect tasks of the `vote` flow: one task per chunk of problems."""

from __future__ import annotations

from dataclasses import asdict, replace

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from storage.engine import shared_engine
from storage.errors import ChorusError
from tasks.algorithms.answers import AnswerKind, kind_for_dataset
from tasks.algorithms.datasets import Problem
from tasks.algorithms.stopping import make_rule
from tasks.algorithms.vote_tally import VoteTally
from tasks.chorus_task import chorus_task
from tasks.retry import is_transient
from tasks.services.sampling import SampleStats, SamplingJob
from tasks.services.session import open_backends
from tasks.services.voting import VotePlan, vote_problems

TABLE_ROWS = 1000  # per-problem rows in the run's table artifact (the first problems of the input)


@chorus_task(name="ensemble-models")
def ensemble_models(ensemble: str, db_url: str) -> list[str]:
    """`NAME=WEIGHT` entries of weights saved by the `ensemble` flow (the newest under that name)."""
    from storage.ensembles import load_ensemble

    saved = load_ensemble(shared_engine(db_url), ensemble)
    return [f"{m}={w}" for m, w in zip(saved.models, saved.weights, strict=True)]


@chorus_task(name="plan-vote")
def plan_vote(
    jobs: list[SamplingJob],
    weights: list[float],
    dataset: str,
    kind: str | None,
    rule: str,
    threshold: float | None,
    max_samples: int,
    alpha: float,
    compat: str,
    schedule: tuple[int, ...],
) -> VotePlan:
    answer_kind: AnswerKind = kind or kind_for_dataset(dataset)  # type: ignore[assignment]
    if answer_kind not in ("math", "choice", "number"):
        raise ChorusError(f"--answer-kind {kind}: choose math, choice or number")
    total = sum(weights)
    return VotePlan(
        tuple(jobs),
        tuple(w / total for w in weights),
        answer_kind,
        make_rule(rule, threshold, max_samples, alpha, compat),
        schedule,
    )


@chorus_task(
    name="vote-chunk",
    task_run_name="vote [{problems[0].id}..]",
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_condition_fn=is_transient,
)
async def vote_chunk(
    plan: VotePlan,
    problems: list[Problem],
    db_url: str,
    seed: int = 0,
    report_progress: bool = True,
    keep_rows: int = 0,
) -> tuple[VoteTally, SampleStats]:
    """Adaptive voting for a chunk; a retry finds what was drawn before in the cache. Returns the chunk's
    tally with its first `keep_rows` votes, not every vote: a run's memory stays flat in its problems."""
    async with open_backends([job.spec for job in plan.jobs], db_url) as (cache, backends):
        votes, stats = await vote_problems(plan, problems, cache, backends, seed, report_progress)
    return VoteTally.of(votes, keep_rows), stats


def fixed_budget_plan(plan: VotePlan, tally: VoteTally) -> VotePlan:
    """The plain-majority baseline at the adaptive run's mean budget (rounded, at least 1)."""
    n = max(1, round(tally.total_samples / max(1, tally.problems)))
    return replace(plan, rule=make_rule("fixed", n, n), schedule=(n,))


@chorus_task(name="report-vote")
def report_vote(
    tally: VoteTally,
    stats: list[SampleStats],
    baseline: VoteTally | None,
    plan: VotePlan,
    dataset: str,
    wall_s: float,
) -> dict[str, object]:
    total = SampleStats()
    for s in stats:
        total.add(s)
    summary: dict[str, object] = {
        "dataset": dataset,
        "models": [j.spec.name for j in plan.jobs],
        "weights": list(plan.weights),
        "rule": plan.rule.name,
        "threshold": plan.rule.threshold,
        "max_samples": plan.rule.max_samples,
        **tally.summary(),
        "generated": total.generated,
        "cached": total.cached,
        "truncated": total.truncated,
        "wall_s": round(wall_s, 3),
    }
    if baseline is not None:
        base = baseline.summary()
        n = max(baseline.samples, default=0)  # every problem drew the same n
        summary["fixed_n_at_same_budget"] = {"n": n, "accuracy": base["accuracy"]}
    create_table_artifact(
        key="vote-problems",
        description="Adaptive vote per problem",
        table=[{k: v for k, v in asdict(v).items() if k != "answers"} for v in tally.rows],
    )
    lines = [f"# vote: {dataset}", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in summary.items()]
    create_markdown_artifact(key="vote-summary", markdown="\n".join(lines), description="Adaptive vote summary")
    return summary
