"""What a strategy is: a model-name prefix, how it parses the rest of the name, and `answer(ask)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chorus.serve.context import Ask, ServeContext
from chorus.serve.errors import bad_request
from storage.cache import Generation


@dataclass
class Outcome:
    """The answer to one request: the choice texts, usage over every sample drawn, the chorus object."""

    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int
    completion_tokens: int
    cached: int
    generated: int
    chorus: dict[str, Any] = field(default_factory=dict)


class Strategy(Protocol):
    name: str  # for metrics: single | bo-inf | vote | ensemble | fusion | bon

    def check(self, ctx: ServeContext) -> None:
        """Raise ApiError (404/400) when the named models or settings are not available."""

    async def answer(self, ctx: ServeContext, ask: Ask) -> Outcome: ...


def usage_of(generations: list[Generation]) -> tuple[int, int]:
    """(prompt tokens, completion tokens) summed over the samples a request drew."""
    return sum(g.prompt_tokens for g in generations), sum(g.completion_tokens for g in generations)


def only_one_choice(ask: Ask, strategy: str) -> None:
    if ask.n != 1:
        raise bad_request(
            f"n={ask.n}: the {strategy} strategy returns one answer (n must be 1)", code="unsupported_parameter"
        )


def parse_count(text: str, prefix: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise bad_request(
            f"model {prefix}-{text}/...: the count must be an integer from {low} to {high}", code="model_not_found"
        )
    return int(text)
