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


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle (~0.2 s of CPU), and
    every chunk task opens its own client, so a vote over thousands of problems paid it thousands of times."""
    return ssl.create_default_context()


def classify(exc: BaseException, where: str) -> Exception:
    """Map an httpx failure to TransientError (retry) or BadRequestError (fail at once)."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        body = exc.response.text[:200].replace("\n", " ")
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


async def post_json(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Any:
    """POST and decode JSON, raising TransientError / BadRequestError."""
    try:
        response = await client.post(url, json=body)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        if isinstance(exc, ValueError) and not isinstance(exc, httpx.HTTPError):
            raise TransientError(f"{url}: response is not JSON") from None
        raise classify(exc, url) from None


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
