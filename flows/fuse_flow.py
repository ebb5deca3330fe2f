"""The `fuse` flow: N samples per problem → fused answer, Best-of-N pick, single sample → accuracy and
judge win rates (Khairi et al. 2025, test-time scaling)."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import Field

from flows.flow_decorator import chorus_flow
from flows.fusion_chunks import fuse_in_chunks
from flows.parameters import (
    ChunkSize,
    ConfigPath,
    DatasetPath,
    DbUrl,
    FusorContext,
    Limit,
    MaxTokens,
    ModelName,
    Temperature,
    TopP,
)
from tasks.fusion_tasks import finish, plan_fusion, report_fuse
from tasks.setup_tasks import load_problems


@chorus_flow("fuse")
async def fuse_flow(
    dataset: DatasetPath,
    model: ModelName = "smollm2",
    n: Annotated[int, Field(ge=2, le=64, description="Candidates per problem (fusion needs at least 2)")] = 5,
    fusor: ModelName = "smollm2",
    judge: str | None = None,
    reward: str | None = None,
    select: str | None = None,
    compare: bool = True,
    answer_kind: Annotated[Literal["math", "choice", "number"], Field(description="How answers are read")] = "math",
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    top_p: TopP = None,
    fusor_max_tokens: MaxTokens = None,
    fusor_context: FusorContext = None,
    judge_max_tokens: MaxTokens = None,
    db: DbUrl = None,
    config: ConfigPath = None,
    chunk_size: ChunkSize = 8,
    limit: Limit = None,
) -> dict[str, object]:
    """Fuse `n` samples of `model` with `fusor`, pick Best-of-N with the scorer, compare with one sample."""
    started = time.perf_counter()
    problems = load_problems(dataset, limit)
    plan = plan_fusion(
        [model],
        n,
        fusor,
        config=config,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        fusor_max_tokens=fusor_max_tokens,
        fusor_context=fusor_context,
        judge=judge,
        judge_max_tokens=judge_max_tokens,
        reward=reward,
        select=select,
        kind=answer_kind,
        compare_with_judge=compare and judge is not None,
    )
    states = await fuse_in_chunks(plan, problems, db, chunk_size, "fuse")
    return finish(report_fuse(plan, states, dataset, time.perf_counter() - started))
