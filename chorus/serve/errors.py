"""OpenAI-shaped errors (`{"error": {"message", "type", "code"}}`) and the redaction of secrets."""

from __future__ import annotations

import os
from collections.abc import Iterable

from storage.errors import BadRequestError, ChorusError, TransientError


class ApiError(Exception):
    """An error the client sees: HTTP status, OpenAI error type and code, optional headers."""

    def __init__(
        self, status: int, message: str, *, type_: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": None}}


def bad_request(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, message, type_="invalid_request_error", code=code)


def not_found(message: str) -> ApiError:
    return ApiError(404, message, type_="invalid_request_error", code="model_not_found")


class Redactor:
    """Replaces every secret (the server's own key, each model's upstream API key) by `***`."""

    def __init__(self, env_vars: Iterable[str]) -> None:
        self.secrets = sorted({v for name in env_vars if (v := os.environ.get(name))}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def upstream_error(exc: ChorusError, redact: Redactor) -> ApiError:
    """A failure of a model server after the retries: 503 when it is down or overloaded, 502 when it
    answered but rejected or garbled the request (retrying the same request cannot help)."""
    reason = redact(str(exc))
    if isinstance(exc, TransientError):
        return ApiError(
            503,
            f"upstream unavailable: {reason}",
            type_="server_error",
            code="upstream_unavailable",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, BadRequestError):
        return ApiError(502, f"upstream rejected the request: {reason}", type_="server_error", code="upstream_error")
    return ApiError(502, f"upstream error: {reason}", type_="server_error", code="upstream_error")
