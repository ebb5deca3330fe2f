"""Bounds on in-flight work: per model endpoint (the server's slots) and per flow (chunk tasks)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
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


class SequenceBudget:
    """At most `limit` sequences in flight to one endpoint group, granted by priority, then arrival.

    A request for n samples takes n units (capped at `limit`, so an oversized request still runs, alone):
    an SGLang server schedules each of the n as its own sequence, so counting requests would let a few
    large batches flood its queue while counting sequences keeps it full but bounded.

    `depth` orders the waiters: the deepest first (a vote passes how many samples the problem already
    has), ties and equal depths in arrival order. So a started problem's next batch overtakes every
    waiting fresh problem (depth 0), and the longest-running chains (the disagreeing problems, whose
    chain of sequential batches sets the makespan) are never stuck behind a queue of easy ones; fresh
    problems get the units nobody else is waiting for. The head waiter is served before anyone behind
    it, even when a smaller request would fit, so a large batch is never starved.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.free = self.limit
        self._waiters: list[tuple[int, int, int, asyncio.Future[None]]] = []  # heap: (-depth, arrival, n, fut)
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @asynccontextmanager
    async def hold(self, n: int, depth: int = 0) -> AsyncIterator[None]:
        n = min(max(1, n), self.limit)
        if self._waiters or self.free < n:
            entry = (-depth, next(self._arrivals), n, asyncio.get_running_loop().create_future())
            heapq.heappush(self._waiters, entry)
            try:
                await entry[3]
            except asyncio.CancelledError:
                if entry[3].done() and not entry[3].cancelled():
                    self._release(n)  # granted just as we were cancelled: hand the units on
                elif entry in self._waiters:
                    self._waiters.remove(entry)
                    heapq.heapify(self._waiters)
                    self._release(0)  # the head may have changed: grant whoever now fits
                raise
        else:
            self.free -= n
        try:
            yield
        finally:
            self._release(n)

    def _release(self, n: int) -> None:
        self.free += n
        while self._waiters and self._waiters[0][2] <= self.free:
            _, _, k, fut = heapq.heappop(self._waiters)
            if fut.cancelled():
                continue
            self.free -= k
            fut.set_result(None)


def in_flight_for_slots(cap: int, slots: int | None) -> int:
    """Sequences to keep in flight to servers that decode `slots` at once (None: unknown, the cap).

    A sequence sent beyond the slots waits in the server's first-come queue, and so does every later
    batch of a problem: with twice the slots in flight each step of a chain waits about one mean
    sequence time, which a 32-step chain pays 32 times. An eighth more than the slots (at least 4)
    still keeps each freed slot's next sequence queued at the server, so no slot idles during a client
    round trip. Never more than the user's cap (`max_concurrency`).
    """
    if slots is None or slots < 1:
        return cap
    return max(1, min(cap, slots + max(4, slots // 8)))


_budgets: dict[tuple[int, str], SequenceBudget] = {}


def endpoint_budget(key: str, limit: int) -> SequenceBudget:
    """One sequence budget per (event loop, model endpoints) in this process, shared by its vote tasks."""
    loop_id = id(asyncio.get_running_loop())
    budget = _budgets.get((loop_id, key))
    if budget is None:
        budget = _budgets[(loop_id, key)] = SequenceBudget(limit)
    return budget


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


def vote_chunks_in_flight(max_concurrency: int, chunk_size: int) -> int:
    """Vote chunk tasks to run at once: four problems per in-flight sequence of the endpoint budget.

    A problem has at most one batch in flight and spends part of its time between batches (and a chunk
    task keeps its place until its slowest problem ends), so it takes several problems per slot to keep
    the budget full; the budget, not this number, bounds what the server sees.
    """
    return max(2, -(-4 * max_concurrency // max(1, chunk_size)) + 1)
