"""Request bodies, validated: what a strategy honours is typed; anything it cannot honour is refused
with a 400 naming the parameter, never silently dropped."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chorus.serve.errors import ApiError, bad_request

# Accepted and without effect on the answer (an end-user id for the caller's own logs).
NEUTRAL = {"user"}


class ChorusSettings(BaseModel):
    """The `chorus` object of a request: settings of the voting strategies."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["bayes", "fixed", "beta", "esc"] | None = None
    threshold: float | None = Field(default=None, gt=0)
    max_samples: int | None = Field(default=None, ge=1, le=1024)
    answer_kind: Literal["math", "choice", "number"] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=5)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    n: int = Field(default=1, ge=1, le=128)
    stream: bool = False
    stream_options: StreamOptions | None = None
    chorus: ChorusSettings = Field(default_factory=ChorusSettings)

    def stop_tuple(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def refuse_unsupported(self) -> None:
        """400 for a parameter chorus cannot honour (a default-valued one is harmless and accepted)."""
        for name, value in (self.model_extra or {}).items():
            if name in NEUTRAL or value in (None, False, 0, [], {}) or value == {"type": "text"}:
                continue
            raise bad_request(f"parameter {name!r} is not supported by chorus serve", code="unsupported_parameter")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]]
    name: str | None = None

    @field_validator("content")
    @classmethod
    def text_only(cls, value: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        if isinstance(value, list) and any(part.get("type") != "text" for part in value):
            raise ValueError("only text content parts are supported")
        return value

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part.get("text", "")) for part in self.content)


class ChatRequest(_Common):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)

    def turns(self) -> tuple[tuple[str, str], ...]:
        # "developer" is OpenAI's newer name for the system role; servers behind chorus know "system".
        return tuple(("system" if m.role == "developer" else m.role, m.text()) for m in self.messages)


class CompletionRequest(_Common):
    prompt: str | list[str]
    echo: bool = False
    suffix: str | None = None

    def prompt_text(self) -> str:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise bad_request("prompt: send one prompt per request (a list of several is not supported)")
            return self.prompt[0]
        return self.prompt


def parse_body(model: type[_Common], body: Any) -> Any:
    """Validate a JSON body; the first problem becomes a 400 naming the field."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    try:
        request = model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']}", type_="invalid_request_error", code="invalid_value") from None
    request.refuse_unsupported()
    if isinstance(request, CompletionRequest) and (request.echo or request.suffix):
        raise bad_request(
            "parameters 'echo' and 'suffix' are not supported by chorus serve", code="unsupported_parameter"
        )
    return request
