"""Typed flow parameters: pydantic constraints and help text the Prefect UI renders as a form.

Prefect validates a run's parameters against these before the flow starts, so a deployment triggered
with an invalid value fails at once, with the parameter named, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

DatasetPath = Annotated[
    str, Field(min_length=1, description="JSONL or CSV with id, question (or prompt), optional answer")
]
ModelName = Annotated[str, Field(min_length=1, description="A model name from the registry (chorus.toml)")]
Samples = Annotated[int, Field(ge=1, le=100_000, description="Samples per problem")]
MaxTokens = Annotated[int | None, Field(ge=1, le=1_000_000, description="Completion token limit (registry default)")]
Temperature = Annotated[
    float | None, Field(ge=0, le=5, allow_inf_nan=False, description="Sampling temperature (registry default)")
]
TopP = Annotated[
    float | None, Field(gt=0, le=1, allow_inf_nan=False, description="Nucleus sampling (registry default)")
]
DbUrl = Annotated[str | None, Field(description="SQLAlchemy URL of the cache (default: $CHORUS_DATABASE_URL)")]
ConfigPath = Annotated[str | None, Field(description="Model registry TOML (default: $CHORUS_CONFIG or ./chorus.toml)")]
ChunkSize = Annotated[int, Field(ge=1, le=10_000, description="Problems per Prefect task")]
Limit = Annotated[int | None, Field(ge=1, description="Only the first N problems")]
RuleName = Annotated[Literal["bayes", "fixed", "beta", "esc", "gain", "rate"], Field(description="Stopping rule")]
Threshold = Annotated[
    float | None,
    Field(
        gt=0,
        allow_inf_nan=False,
        description=(
            "bayes: B (default 10); fixed: N; beta: probability; esc: window; gain: 1/G (default 100); "
            "rate: 1/(accuracy gained per sample) (default 1000)"
        ),
    ),
]
MaxSamples = Annotated[int, Field(ge=1, le=100_000, description="N_max: samples per problem at most")]
Compat = Annotated[Literal["chorus", "authors"], Field(description="chorus: exact Bayes factor; authors: their code")]
Alpha = Annotated[float, Field(gt=0, allow_inf_nan=False, description="Dirichlet-process concentration")]
Seed = Annotated[int, Field(ge=0, description="Seed of the Monte Carlo parts")]
AnswerKind = Annotated[
    Literal["math", "choice", "number"] | None,
    Field(description="How answers are read (default from the dataset name)"),
]
BatchSize = Annotated[int | None, Field(ge=1, le=100_000, description="A constant batch size instead of a schedule")]
FusorContext = Annotated[
    int | None, Field(ge=256, le=10_000_000, description="Fusor context in tokens (registry n_ctx by default)")
]
Bound = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, description="A mixture weight bound")]
