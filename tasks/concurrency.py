"""Bounds on in-flight work: per model endpoint (the server's slots) and per flow (chunk tasks)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
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
