"""The timing model of a GPU inference server, in real time divided by `speedup`.

At most `slots` sequences decode at once, each at `decode_tps` tokens/s; the rest wait in arrival
order (FIFO, like SGLang's default scheduler). A request's prompt is prefilled once at `prefill_tps`
tokens/s by the first of its n sequences to get a slot; the others find the prefix cached and start
decoding at once (SGLang's radix cache). Every sequence is recorded (arrival, start, end, in model
seconds) so busy slot-seconds, utilisation and the ideal makespan can be computed afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GpuParams:
    slots: int = 64
    decode_tps: float = 60.0
    prefill_tps: float = 8000.0
    speedup: float = 1.0


class FifoSlots:
    """`slots` units handed out strictly in arrival order (asyncio.Semaphore makes no such promise)."""

    def __init__(self, slots: int) -> None:
        self.free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled: pass it on
            else:
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1


@dataclass
class SequenceRecord:
    request_id: int
    problem: str
    arrival: float
    start: float
    end: float
    tokens: int
    prompt_tokens: int  # the request's prompt (prefilled once per request)


@dataclass
class GpuServer:
    """Counts and the sequence log of one stand-in; times are model seconds since the server started."""

    params: GpuParams
    slots: FifoSlots = field(init=False)
    records: list[SequenceRecord] = field(default_factory=list)
    running: int = 0
    requests_total: int = 0
    prompt_tokens_total: int = 0
    generation_tokens_total: int = 0
    busy_slot_seconds: float = 0.0
    _t0: float = field(default_factory=time.monotonic)
    t0_unix: float = field(default_factory=time.time)  # lines up the logs of several stand-ins

    def __post_init__(self) -> None:
        self.slots = FifoSlots(self.params.slots)

    def now(self) -> float:
        """Model seconds since start (real seconds × speedup)."""
        return (time.monotonic() - self._t0) * self.params.speedup

    @property
    def queued(self) -> int:
        return self.slots.queued

    async def run_request(self, problem: str, prompt_tokens: int, completion_tokens: list[int]) -> None:
        """Hold slots for a request's sequences as the GPU would; returns when the last one finishes."""
        self.requests_total += 1
        request_id = self.requests_total
        arrival = self.now()
        prefill_pending = [True]

        async def sequence(tokens: int) -> None:
            await self.slots.acquire()
            start = self.now()
            self.running += 1
            try:
                seconds = tokens / self.params.decode_tps
                if prefill_pending[0]:
                    prefill_pending[0] = False
                    seconds += prompt_tokens / self.params.prefill_tps
                    self.prompt_tokens_total += prompt_tokens
                await asyncio.sleep(seconds / self.params.speedup)
                self.generation_tokens_total += tokens
            finally:
                self.running -= 1
                self.slots.release()
                end = self.now()
                self.busy_slot_seconds += end - start
                self.records.append(SequenceRecord(request_id, problem, arrival, start, end, tokens, prompt_tokens))

        await asyncio.gather(*(sequence(t) for t in completion_tokens))


def utilisation_while_backlogged(records: list[SequenceRecord], slots: int, backlog: int) -> tuple[float, float]:
    """Busy fraction of the slots from the first arrival until fewer than `backlog` sequences remain
    unfinished (the tail, where no scheduler could fill the server); returns (fraction, window seconds)."""
    if not records:
        return 0.0, 0.0
    ends = sorted(r.end for r in records)
    t0 = min(r.arrival for r in records)
    cut = len(ends) - backlog
    t1 = ends[cut] if cut >= 0 else t0
    if t1 <= t0:
        return 0.0, 0.0
    busy = sum(max(0.0, min(r.end, t1) - max(r.start, t0)) for r in records)
    return busy / (slots * (t1 - t0)), t1 - t0


def ideal_makespan(records: list[SequenceRecord], params: GpuParams) -> float:
    """The larger of total slot work / slots and the longest chain of one problem's sequential requests
    (each request as long as its prefill plus its longest sequence), in model seconds."""
    return max(makespan_bounds(records, params))


def problem_chains(records: list[SequenceRecord], params: GpuParams) -> dict[str, float]:
    """Each problem's chain: its requests one after another, each as long as its longest sequence plus
    the prompt's prefill, in model seconds.

    A problem's requests count as one after another, which holds for a one-model vote; a mixture sends
    its models' requests of a round side by side, so there the chain is an overestimate.
    """
    per_request: dict[int, tuple[str, float, float]] = {}
    for r in records:
        longest = max(per_request.get(r.request_id, (r.problem, 0.0, 0.0))[1], r.tokens / params.decode_tps)
        per_request[r.request_id] = (r.problem, longest, r.prompt_tokens / params.prefill_tps)
    chains: dict[str, float] = {}
    for problem, longest, prefill in per_request.values():
        chains[problem] = chains.get(problem, 0.0) + longest + prefill
    return chains


def makespan_bounds(records: list[SequenceRecord], params: GpuParams) -> tuple[float, float]:
    """(total slot work / slots, the longest chain of one problem's requests), in model seconds."""
    prefill = {r.request_id: r.prompt_tokens / params.prefill_tps for r in records}
    work = sum(r.tokens for r in records) / params.decode_tps + sum(prefill.values())
    return work / params.slots, max(problem_chains(records, params).values(), default=0.0)
