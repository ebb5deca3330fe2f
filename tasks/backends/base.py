"""The one interface every model backend implements, and the values that cross it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from storage.errors import ChorusError


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters that define a cache key (together with model, prompt and sample index)."""

    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()

    def validate(self) -> SamplingParams:
        """Raise ChorusError naming the parameter when a value is out of range."""
        if not isinstance(self.max_tokens, int) or not 1 <= self.max_tokens <= 1_000_000:
            raise ChorusError(f"--max-tokens {self.max_tokens}: must be an integer from 1 to 1000000")
        if not math.isfinite(self.temperature) or not 0.0 <= self.temperature <= 5.0:
            raise ChorusError(f"--temperature {self.temperature}: must be between 0 and 5")
        if not math.isfinite(self.top_p) or not 0.0 < self.top_p <= 1.0:
            raise ChorusError(f"--top-p {self.top_p}: must be in (0, 1]")
        return self

    def as_key(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
        }


@dataclass(frozen=True)
class Prompt:
    """Either chat messages (the server applies the model's own template) or raw completion text."""

    messages: tuple[tuple[str, str], ...] | None = None
    text: str | None = None

    def as_key(self) -> dict[str, Any]:
        if self.messages is not None:
            return {"messages": [{"role": r, "content": c} for r, c in self.messages]}
        return {"text": self.text}

    def chat_messages(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages or ()]


@dataclass(frozen=True)
class GenerationRequest:
    """Samples `indices` of one prompt, with one seed per index (same length)."""

    problem_id: str
    prompt: Prompt
    params: SamplingParams
    indices: tuple[int, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    latency_s: float


@dataclass
class Health:
    ok: bool
    detail: str
    endpoints: dict[str, str] = field(default_factory=dict)


class Backend(Protocol):
    """A model server. `generate` returns one Completion per requested index, in order.

    `supports_n`: the server honours `n` (several samples of one prompt in one request, prefix shared);
    when false, the sampling service sends one seeded request per sample. `score` returns one reward
    per text from a reward model; a backend without a reward route raises BadRequestError.
    The cache identity of a model is not the backend's business: see `factory.model_fingerprint`.
    """

    name: str
    kind: str
    max_concurrency: int
    supports_n: bool

    async def generate(self, request: GenerationRequest) -> list[Completion]: ...

    async def score(self, texts: list[str]) -> list[float]: ...

    async def health(self) -> Health: ...

    async def aclose(self) -> None: ...
