"""The `distill` flow: one completion per teacher per prompt → fused and Best-of-N answers → chat-format
JSONL for fine-tuning (Khairi et al. 2025, synthetic data), written only once every prompt is done."""

from __future__ import annotations

import time
from typing import Annotated

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
)
from tasks.fusion_tasks import finish, plan_fusion, write_distill
from tasks.setup_tasks import load_problems


@chorus_flow("distill")
async def distill_flow(
    prompts: DatasetPath,
    teachers: Annotated[list[str], Field(min_length=2, description="Registry models, one completion each")],
    fusor: ModelName,
    out: Annotated[str, Field(min_length=1, description="Folder for fusion.jsonl, best_of_n.jsonl, provenance")],
    scorer: str | None = None,
    reward: str | None = None,
    temperature: Annotated[float, Field(ge=0, le=5, allow_inf_nan=False, description="Teachers' temperature")] = 0.3,
    max_tokens: MaxTokens = None,
    fusor_max_tokens: MaxTokens = None,
    fusor_context: FusorContext = None,
    judge_max_tokens: MaxTokens = None,
    db: DbUrl = None,
    config: ConfigPath = None,
    chunk_size: ChunkSize = 8,
    limit: Limit = None,
) -> dict[str, object]:
    """Fuse and Best-of-N-select one completion per teacher for every prompt; write one JSONL per method."""
    started = time.perf_counter()
    problems = load_problems(prompts, limit)
    plan = plan_fusion(
        teachers,
        1,
        fusor,
        config=config,
        max_tokens=max_tokens,
        temperature=temperature,
        fusor_max_tokens=fusor_max_tokens,
        fusor_context=fusor_context,
        # Without a scorer the fusor judges: Best-of-N then needs no extra model.
        judge=None if reward else (scorer or fusor),
        judge_max_tokens=judge_max_tokens,
        reward=reward,
    )
    states = await fuse_in_chunks(plan, problems, db, chunk_size, "distill")
    return finish(write_distill(plan, states, out, time.perf_counter() - started))
