"""OpenAI response shapes: chat.completion / text_completion objects and their SSE chunk streams."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from chorus.serve.strategies import Outcome

STREAM_PIECE_CHARS = 24  # the chosen text is already complete; pieces keep chunks small for clients


def _finish(reason: str) -> str:
    return reason if reason in ("stop", "length") else "stop"


def usage(outcome: Outcome) -> dict[str, int]:
    return {
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
    }


def completion_body(outcome: Outcome, model: str, chorus: dict[str, Any], *, chat: bool) -> dict[str, Any]:
    choices: list[dict[str, Any]] = []
    for i, (text, reason) in enumerate(zip(outcome.texts, outcome.finish_reasons, strict=True)):
        if chat:
            choices.append(
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": _finish(reason),
                }
            )
        else:
            choices.append({"index": i, "text": text, "logprobs": None, "finish_reason": _finish(reason)})
    return {
        "id": ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex,
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage(outcome),
        "chorus": chorus,
    }


def _pieces(text: str) -> Iterator[str]:
    for start in range(0, len(text), STREAM_PIECE_CHARS):
        yield text[start : start + STREAM_PIECE_CHARS]


def sse_chunks(
    outcome: Outcome, model: str, chorus: dict[str, Any], *, chat: bool, include_usage: bool
) -> Iterator[str]:
    """`data: {chunk}` events: role first (chat), the text in pieces, a final chunk with finish_reason
    and the chorus object, a usage chunk when asked (`stream_options.include_usage`), then [DONE]."""
    head = {
        "id": ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": model,
    }

    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        return f"data: {json.dumps({**head, 'choices': choices, **extra})}\n\n"

    for i, (text, reason) in enumerate(zip(outcome.texts, outcome.finish_reasons, strict=True)):
        if chat:
            yield event([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for piece in _pieces(text):
            delta = {"delta": {"content": piece}} if chat else {"text": piece}
            yield event([{"index": i, **delta, "logprobs": None, "finish_reason": None}])
        last = {"delta": {}} if chat else {"text": ""}
        yield event([{"index": i, **last, "logprobs": None, "finish_reason": _finish(reason)}], chorus=chorus)
    if include_usage:
        yield event([], usage=usage(outcome))
    yield "data: [DONE]\n\n"
