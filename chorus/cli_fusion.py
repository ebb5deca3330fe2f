"""`chorus fuse` (Fusion-of-N vs Best-of-N at test time) and `chorus distill` (synthetic fine-tuning data)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from chorus.cli_common import ConfigOpt, DbOpt, JsonOpt, ProgressBar, app, preflight, print_summary
from chorus.input_checks import check_output_folder
from chorus.prefect_runtime import use_prefect
from chorus.validation import check_flow_parameters
from storage.errors import ChorusError

FusorOpt = Annotated[str, typer.Option("--fusor", help="Model that reads the candidates and writes one answer.")]
FusorTokensOpt = Annotated[
    int | None, typer.Option("--fusor-max-tokens", help="Longest fused answer (default: the fusor's registry default).")
]
FusorContextOpt = Annotated[
    int | None,
    typer.Option(
        "--fusor-context", help="Fusor context in tokens (default: its registry n_ctx); longer candidates are cut."
    ),
]
JudgeTokensOpt = Annotated[int | None, typer.Option("--judge-max-tokens", help="Longest judge reply.")]
RewardOpt = Annotated[
    str | None, typer.Option("--reward", help="Reward model on SGLang (/classify) that scores each candidate.")
]


def _validate(
    samplers: list[str], n: int, fusor: str, dataset: str, limit: int | None, config: str | None, **plan: Any
) -> None:
    """Every check that needs no model call, so bad input is one line and nothing is written."""
    from tasks.algorithms.datasets import load_dataset
    from tasks.services.fusing import check_fusion_fits
    from tasks.services.fusion_plan import build_fusion_plan

    # The dataset first: building the plan may prepare an embedded model's file under CHORUS_HOME.
    questions = [p.question for p in load_dataset(dataset, limit)]
    fusion_plan = build_fusion_plan(samplers, n, fusor, config=config, **plan)
    check_fusion_fits(fusion_plan, questions, n * len(samplers))


def _run(flow_call: Any, count: int, as_json: bool) -> dict[str, Any]:
    from tasks.services import progress_events as progress

    with ProgressBar(count, 0, quiet=as_json) as advance:
        unsubscribe = progress.subscribe(advance)
        try:
            return asyncio.run(flow_call)
        finally:
            unsubscribe()


@app.command()
def fuse(
    dataset: Annotated[str, typer.Option("--dataset", help="JSONL or CSV with id, question, optional answer.")],
    model: Annotated[str, typer.Option("--model", help="Model that samples the N candidates.")] = "smollm2",
    n: Annotated[int, typer.Option("-n", help="Candidates per problem (at least 2).")] = 5,
    fusor: FusorOpt = "smollm2",
    judge: Annotated[
        str | None, typer.Option("--judge", help="LLM judge: 1-10 scores for Best-of-N and pairwise win rates.")
    ] = None,
    reward: RewardOpt = None,
    select: Annotated[
        str | None,
        typer.Option(
            "--select", help="Best-of-N scorer: judge | reward | majority (default: reward, judge, majority)."
        ),
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare/--no-compare", help="Pairwise judge win rates (needs --judge).")
    ] = True,
    answer_kind: Annotated[str, typer.Option("--answer-kind", help="math | choice | number, for accuracy.")] = "",
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Longest candidate.")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature")] = None,
    fusor_max_tokens: FusorTokensOpt = None,
    fusor_context: FusorContextOpt = None,
    judge_max_tokens: JudgeTokensOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N problems.")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Problems per Prefect task.")] = 8,
    db: DbOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fusion-of-N vs Best-of-N vs one sample on a dataset: accuracy where gold exists, judge win rates."""
    from tasks.algorithms.answers import kind_for_dataset

    if n < 2:
        raise ChorusError(f"-n {n}: fusion needs at least 2 candidates")
    kind = answer_kind or kind_for_dataset(dataset.rsplit("/", 1)[-1])
    if kind not in ("math", "choice", "number"):
        raise ChorusError(f"--answer-kind {answer_kind}: choose math, choice or number")
    from flows.fuse_flow import fuse_flow

    check_flow_parameters(
        fuse_flow,
        dataset=dataset,
        model=model,
        n=n,
        fusor=fusor,
        max_tokens=max_tokens,
        temperature=temperature,
        fusor_max_tokens=fusor_max_tokens,
        fusor_context=fusor_context,
        judge_max_tokens=judge_max_tokens,
        chunk_size=chunk_size,
        limit=limit,
    )
    models = [m for m in (model, fusor, judge, reward) if m]
    # Plan checks first: they write nothing, while preflight creates the cache database.
    _validate(
        [model],
        n,
        fusor,
        dataset,
        limit,
        config,
        max_tokens=max_tokens,
        temperature=temperature,
        fusor_max_tokens=fusor_max_tokens,
        fusor_context=fusor_context,
        judge=judge,
        judge_max_tokens=judge_max_tokens,
        reward=reward,
        select=select,
        kind=kind,
        compare_with_judge=compare and judge is not None,
    )
    count = preflight(
        models, dataset=dataset, limit=limit, config=config, db=db, max_tokens=max_tokens, temperature=temperature
    )
    use_prefect()

    from chorus.prefect_start import start_ephemeral_api

    start_ephemeral_api()

    call = fuse_flow(
        dataset=dataset,
        model=model,
        n=n,
        fusor=fusor,
        judge=judge,
        reward=reward,
        select=select,
        compare=compare,
        answer_kind=kind,
        max_tokens=max_tokens,
        temperature=temperature,
        fusor_max_tokens=fusor_max_tokens,
        fusor_context=fusor_context,
        judge_max_tokens=judge_max_tokens,
        db=db,
        config=config,
        chunk_size=chunk_size,
        limit=limit,
    )
    print_summary(f"fuse {model} x{n} with {fusor} on {dataset}", _run(call, count, as_json), as_json)


@app.command()
def distill(
    prompts: Annotated[str, typer.Option("--prompts", help="JSONL or CSV with id and prompt (or question).")],
    teacher: Annotated[list[str], typer.Option("--teacher", help="A teacher model; repeat (at least 2).")],
    out: Annotated[str, typer.Option("--out", help="Folder for fusion.jsonl, best_of_n.jsonl, provenance.json.")],
    fusor: FusorOpt = "smollm2",
    scorer: Annotated[
        str | None, typer.Option("--scorer", help="LLM judge for Best-of-N (default: the fusor).")
    ] = None,
    reward: RewardOpt = None,
    temperature: Annotated[float, typer.Option("--temperature", help="Teachers' temperature.")] = 0.3,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Longest teacher completion.")] = None,
    fusor_max_tokens: FusorTokensOpt = None,
    fusor_context: FusorContextOpt = None,
    judge_max_tokens: JudgeTokensOpt = None,
    limit: Annotated[int | None, typer.Option("--limit")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size")] = 8,
    db: DbOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Synthetic data: one completion per teacher per prompt, fused and Best-of-N-selected, as chat JSONL."""
    from flows.distill_flow import distill_flow

    if len(teacher) < 2:
        raise ChorusError(f"--teacher: fusion needs at least 2 teachers, got {len(teacher)}")
    if len(set(teacher)) != len(teacher):
        raise ChorusError("--teacher: each teacher once (the same model twice gives the same cached completion)")
    check_flow_parameters(
        distill_flow,
        prompts=prompts,
        teachers=teacher,
        fusor=fusor,
        out=out,
        temperature=temperature,
        max_tokens=max_tokens,
        fusor_max_tokens=fusor_max_tokens,
        fusor_context=fusor_context,
        judge_max_tokens=judge_max_tokens,
        chunk_size=chunk_size,
        limit=limit,
    )
    check_output_folder(out, "--out")
    if scorer and reward:
        raise ChorusError("--scorer and --reward: give one scorer, not both")
    judge = None if reward else (scorer or fusor)
    models = [*teacher, fusor, *(m for m in (judge, reward) if m)]
    # Plan checks first: they write nothing, while preflight creates the cache database.
    _validate(
        teacher,
        1,
        fusor,
        prompts,
        limit,
        config,
        max_tokens=max_tokens,
        temperature=temperature,
        fusor_max_tokens=fusor_max_tokens,
        fusor_context=fusor_context,
        judge=judge,
        judge_max_tokens=judge_max_tokens,
        reward=reward,
    )
    count = preflight(
        models, dataset=prompts, limit=limit, config=config, db=db, max_tokens=max_tokens, temperature=temperature
    )
    use_prefect()

    from chorus.prefect_start import start_ephemeral_api

    start_ephemeral_api()

    call = distill_flow(
        prompts=prompts,
        teachers=teacher,
        fusor=fusor,
        out=out,
        scorer=scorer,
        reward=reward,
        temperature=temperature,
        max_tokens=max_tokens,
        fusor_max_tokens=fusor_max_tokens,
        fusor_context=fusor_context,
        judge_max_tokens=judge_max_tokens,
        db=db,
        config=config,
        chunk_size=chunk_size,
        limit=limit,
    )
    print_summary(f"distill {', '.join(teacher)} with {fusor}", _run(call, count, as_json), as_json)
