"""The registry file's schema: one pydantic model for every `[models.NAME]` table of chorus.toml.

TOML already has types, so validation is strict: `max_concurrency = "8"` is an error, not 8. The first
problem becomes one line, `chorus.toml: models.NAME.KEY: what is wrong`, before anything runs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from storage.errors import ChorusError

BackendKind = Literal["sglang", "openai", "llamacpp", "replay"]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SamplingDefaults(BaseModel):
    """A model's default sampling parameters (the command line overrides them)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] | None = None
    stop: list[str] | None = None


class ModelEntry(BaseModel):
    """One `[models.NAME]` table; the fields are ModelSpec's, less the name."""

    model_config = ConfigDict(extra="forbid", strict=True)

    backend: BackendKind
    model: str = ""
    endpoints: list[str] = []
    chat: bool = True
    system: str | None = None
    prompt_template: str | None = None
    api_key_env: str | None = None
    supports_n: bool | None = None
    max_concurrency: Annotated[int, Field(ge=1, le=100_000)] = 8
    sampling: SamplingDefaults = SamplingDefaults()
    path: Annotated[str, Field(min_length=1)] | None = None
    n_ctx: Annotated[int, Field(ge=256, le=10_000_000)] = 2048
    timeout_s: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)] = 300.0
    global_limit: Annotated[str, Field(min_length=1)] | None = None
    fingerprint: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("endpoints", mode="before")
    @classmethod
    def _one_endpoint_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("endpoints")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return value

    @field_validator("prompt_template")
    @classmethod
    def _has_question(cls, value: str | None) -> str | None:
        if value is not None and "{question}" not in value:
            raise ValueError("must contain {question} (else every problem gets the same prompt)")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (the key itself is never stored)")
        return value

    @model_validator(mode="after")
    def _backend_needs(self) -> ModelEntry:
        if self.backend == "replay" and not self.path:
            raise ValueError('a replay model needs path = "FILE.jsonl"')
        if self.backend in ("sglang", "openai") and not self.endpoints:
            raise ValueError(f'backend {self.backend} needs endpoints = ["http://..."]')
        return self

    def spec_fields(self) -> dict[str, Any]:
        """Keyword arguments for ModelSpec: endpoints as a tuple, only the sampling defaults that are set."""
        values = self.model_dump(exclude={"sampling"})
        values["endpoints"] = tuple(self.endpoints)
        values["sampling"] = self.sampling.model_dump(exclude_none=True)
        return values


_PHRASES = {
    "extra_forbidden": "unknown key",
    "missing": "missing",
    "literal_error": "must be one of {expected}",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be a table",
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be ≤ {le}",
    "finite_number": "must be a finite number",
    "string_too_short": "must not be empty",
}


def _phrase(error: dict[str, Any]) -> str:
    template = _PHRASES.get(error["type"])
    if template is None:
        return str(error["msg"]).removeprefix("Value error, ")
    got = "" if error["type"] in ("missing", "extra_forbidden") else f", got {error['input']!r}"
    return template.format(**(error.get("ctx") or {})) + got


def validate_entry(name: str, raw: Any, where: str) -> ModelEntry:
    """`raw` (one TOML table) as a ModelEntry, or ChorusError `where: models.NAME.KEY: what is wrong`."""
    try:
        return ModelEntry.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = ".".join(str(part) for part in ("models", name, *error["loc"]))
        raise ChorusError(f"{where}: {loc}: {_phrase(error)}") from None
