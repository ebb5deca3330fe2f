"""HTTP plumbing shared by the HTTP backends: transient-vs-permanent errors and bounded retries."""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from storage.errors import BadRequestError, TransientError
from tasks.backends.base import Health

T = TypeVar("T")

# 408 and 429 are the server saying "not now", so they are worth another try; other 4xx are not.
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


def secrets_of(headers: httpx.Headers) -> list[str]:
    """The credentials a request carried (the Authorization value and its bare token), longest first."""
    out: list[str] = []
    for name in ("authorization", "x-api-key", "api-key"):
        value = headers.get(name)
        if value:
            out += [value, value.split(" ", 1)[-1]]
    return sorted({s for s in out if len(s) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced by `***`: servers echo request headers in their error bodies."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def upstream_text(response: httpx.Response, limit: int) -> str:
    """The start of a response body, on one line, with the request's credentials redacted.

    Redacted before it is cut, so a key straddling the cut cannot leak half of itself.
    """
    return redact(response.text, secrets_of(response.request.headers))[:limit].replace("\n", " ")


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle (~0.2 s of CPU), and
    every chunk task opens its own client, so a vote over thousands of problems paid it thousands of times."""
    return ssl.create_default_context()


def classify(exc: BaseException, where: str) -> Exception:
    """Map an httpx failure to TransientError (retry) or BadRequestError (fail at once)."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        body = upstream_text(exc.response, 200)
        # llama-cpp-python's server reports request validation errors as HTTP 500.
        if status == 500 and "validation error" in body:
            return BadRequestError(f"{where}: HTTP {status} {body}")
        if status in RETRYABLE_STATUS or status >= 500:
            return TransientError(f"{where}: HTTP {status} {body}")
        return BadRequestError(f"{where}: HTTP {status} {body}")
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"{where}: timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return TransientError(f"{where}: cannot connect ({type(exc).__name__}: {exc})")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


async def post_json(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """POST and decode JSON, raising TransientError / BadRequestError.

    A 2xx whose body is not JSON is the server (or a proxy in front of it) answering something else
    than the API: asking again gets the same answer, so it is a BadRequestError, not retried.
    """
    try:
        response = await client.post(url, json=body)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise classify(exc, url) from None
    try:
        return response.json()
    except ValueError:
        snippet = upstream_text(response, 80)
        ctype = response.headers.get("content-type", "no content-type")
        status = response.status_code
        raise BadRequestError(f"{url}: HTTP {status} response is not JSON ({ctype}: {snippet!r})") from None


async def with_retries(
    call: Callable[[], Awaitable[T]], *, attempts: int = 4, base_delay: float = 0.5, max_delay: float = 8.0
) -> T:
    """Retry `call` on TransientError with jittered exponential backoff; anything else propagates."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except TransientError:
            if attempt == attempts:
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1))
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
    raise AssertionError("unreachable")


async def probe_endpoints(client: httpx.AsyncClient, probes: dict[str, str], timeout: float) -> Health:
    """GET each probe URL (keyed by endpoint); healthy when every one answers 2xx."""
    states: dict[str, str] = {}
    for base, url in probes.items():
        try:
            r = await client.get(url, timeout=timeout)
            r.raise_for_status()
            states[base] = "ok"
        except httpx.HTTPError as exc:
            states[base] = str(classify(exc, base))
    ok = all(v == "ok" for v in states.values())
    return Health(ok, "ok" if ok else "; ".join(v for v in states.values() if v != "ok"), states)
