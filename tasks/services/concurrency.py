"""Bounds on in-flight work: per model endpoint (the server's slots) and per flow (chunk tasks)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import TypeVar

T = TypeVar("T")

_limiters: dict[tuple[int, str], asyncio.Semaphore] = {}


def endpoint_limiter(key: str, limit: int) -> asyncio.Semaphore:
    """One semaphore per (event loop, model) in this process, shared by every task that calls it.

    Keyed by the running loop because an asyncio semaphore belongs to one loop.
    """
    loop_id = id(asyncio.get_running_loop())
    sem = _limiters.get((loop_id, key))
    if sem is None:
        sem = _limiters[(loop_id, key)] = asyncio.Semaphore(max(1, limit))
    return sem


async def bounded_gather(coros: Iterable[Awaitable[T]], limit: int) -> list[T]:
    """Like asyncio.gather, with at most `limit` awaitables running at once; results in order."""
    sem = asyncio.Semaphore(max(1, limit))

    async def run(c: Awaitable[T]) -> T:
        async with sem:
            return await c

    return await asyncio.gather(*(run(c) for c in coros))


def generation_slot(global_limit: str | None) -> AbstractAsyncContextManager[object]:
    """A slot of the Prefect global concurrency limit named in the registry (`global_limit`), shared by
    every flow run and worker that talks to the same server; no-op when unset.

    Create it sized to the server's slots: `prefect gcl create sglang-qwen --limit 256`. Strict: a
    limit that does not exist (a typo) fails the run instead of silently running unbounded.
    """
    if not global_limit:
        return nullcontext()
    from prefect.concurrency.asyncio import concurrency

    return concurrency(global_limit, occupy=1, strict=True)


def chunks_in_flight(max_concurrency: int, chunk_size: int) -> int:
    """Chunk tasks to run at once: enough to keep every server slot busy, not thousands of idle tasks."""
    return max(2, -(-max_concurrency // max(1, chunk_size)) + 1)
