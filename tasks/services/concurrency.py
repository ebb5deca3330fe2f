"""Bounds on in-flight work: per model endpoint (the server's slots) and per flow (chunk tasks)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
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


class SequenceBudget:
    """At most `limit` sequences in flight to one endpoint group, granted by priority, then arrival.

    A request for n samples takes n units (capped at `limit`, so an oversized request still runs, alone):
    an SGLang server schedules each of the n as its own sequence, so counting requests would let a few
    large batches flood its queue while counting sequences keeps it full but bounded.

    Who goes next: a fresh problem (`priority` None) before any started one, in arrival order; then
    the started problems' next batches, longest chain first (`priority`: how long the problem's chain
    of sequential batches has run, in tokens: per batch, its longest trace). The makespan is set by the
    longest chains, and a problem's chain can only be told long after its first sample (a long first
    trace, disagreeing answers): giving every problem its first sample first finds the hard ones
    soonest, wherever they are in the input, and the longest-first order then keeps them going. The
    head is served before anyone behind it, even when a smaller request would fit, so a large batch is
    never starved.
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.free = self.limit
        self._chains: list[tuple[float, int, int, asyncio.Future[None]]] = []  # heap: (-priority, arrival, n, fut)
        self._fresh: deque[tuple[int, asyncio.Future[None]]] = deque()  # (n, fut) in arrival order
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self._chains) + len(self._fresh)

    def hold(self, n: int, priority: float | None = None) -> _BudgetHold:
        """`async with budget.hold(n, priority):` n units while the block runs (a class, not a generator
        context manager: a replay vote enters it 60,000 times)."""
        return _BudgetHold(self, min(max(1, n), self.limit), priority)

    async def _acquire(self, n: int, priority: float | None) -> None:
        if not self.waiting and self.free >= n:
            self.free -= n
            return
        fut = asyncio.get_running_loop().create_future()
        chain = (-priority, next(self._arrivals), n, fut) if priority is not None else None
        if chain is None:
            self._fresh.append((n, fut))
        else:
            heapq.heappush(self._chains, chain)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release(n)  # granted just as we were cancelled: hand the units on
            else:
                with contextlib.suppress(ValueError):  # already dropped by _release
                    if chain is None:
                        self._fresh.remove((n, fut))
                    else:
                        self._chains.remove(chain)
                        heapq.heapify(self._chains)
                self._release(0)  # the head may have changed: grant whoever now fits
            raise

    def _release(self, n: int) -> None:
        self.free += n
        while self._fresh or self._chains:
            k, fut = self._fresh[0] if self._fresh else self._chains[0][2:]
            if k > self.free:
                return
            if self._fresh:
                self._fresh.popleft()
            else:
                heapq.heappop(self._chains)
            if fut.cancelled():
                continue  # its task is being cancelled and will not use the units
            self.free -= k
            fut.set_result(None)


class _BudgetHold:
    __slots__ = ("budget", "n", "priority")

    def __init__(self, budget: SequenceBudget, n: int, priority: float | None) -> None:
        self.budget, self.n, self.priority = budget, n, priority

    async def __aenter__(self) -> None:
        await self.budget._acquire(self.n, self.priority)

    async def __aexit__(self, *exc: object) -> None:
        self.budget._release(self.n)


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


# Problems in flight per request the endpoints take at once, by how a flow advances its problems.
QUEUED_PROBLEMS_PER_SLOT = 4  # sample: one step per problem, first come first served
PIPELINED_PROBLEMS_PER_SLOT = 64  # vote, fuse, distill: several steps per problem, admitted early


def chunks_in_flight(max_concurrency: int, chunk_size: int, problems_per_slot: int = QUEUED_PROBLEMS_PER_SLOT) -> int:
    """Chunk tasks to run at once: `problems_per_slot` problems per request the endpoints take at once.

    The endpoint limiter (vote: its budget), not this number, bounds what the servers see; extra chunks
    only wait in our queue, and cost memory (about 10 kB per admitted problem).

    `sample` (4): a chunk task ends with its slowest problem (reasoning traces differ 10x in length);
    meanwhile the other chunks' queued requests must fill the slots it leaves.

    `vote` (64): the budget's order (first samples first) can only reach a problem once it is admitted,
    so a hard problem late in the input starts early only if it is admitted early. At 64 a run of a
    few thousand problems on one server (2,500 on 64 slots, 72 in flight) is admitted whole, and a far
    larger run is a moving window (admitting all 10,000 problems of a replay run at once cost 110 MB).

    `fuse`, `distill` (64): a problem's fusion waits for its candidates. Admitted in a small window, the
    last problems' candidates and then their fusions ran at the end of the run, two traces one after
    the other with the slots mostly idle. Admitted early, every candidate request is queued before most
    fusions are, so the run ends with fusions only: 1.13x the ideal makespan on 600 problems and a 64-slot
    stand-in, against 1.21-1.22x at 4 per slot (bench/RESULTS.md, issue 11, "fuse").
    """
    return max(2, -(-problems_per_slot * max_concurrency // max(1, chunk_size)) + 1)
