"""How a chorus flow's body runs, in whatever process runs it: the CLI, a Prefect worker's flow-run
process, a test. `ChorusFlow` wraps every flow function in it, because
Prefect calls that function directly on every path (a worker never goes through the CLI).

One sync Prefect client for the run. Prefect gives an async flow an async client only, so every sync
task inside it (the flows' set-up and report steps) opened and closed a client of its own, an SSL
context each: ~50 ms a task, ~0.6 s of a 12-task vote (bench/RESULTS.md, issue 11 §3). A held
SyncClientContext is what such a task looks for first.

Garbage collection: young collections every 50,000 allocations instead of 700.

A run keeps every in-flight problem's requests, rows and coroutines alive across its awaits, so with
CPython's default threshold each of them outlives two young collections and is promoted to the old
generation. Full collections then follow every ~70,000 promotions (the old generation's 25 % rule), and
each walks the whole heap (~280,000 objects with Prefect loaded): 8 passes, ~1.7 s of a 10,000-problem
replay `vote` (bench/RESULTS.md, "Garbage collection"). With a larger young generation those objects
die young; reference cycles are still collected, only less often. Memory held by uncollected cycles
grows by at most one young generation (a few MB).
"""

from __future__ import annotations

import functools
import gc
import inspect
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

FLOW_THRESHOLDS = (50_000, 10, 10)


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the body with FLOW_THRESHOLDS; the process's own thresholds come back afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(*FLOW_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def flow_run_policy() -> Iterator[None]:
    """One sync Prefect client held for the body (an existing one is reused) and fewer GC passes."""
    from prefect.context import SyncClientContext

    with SyncClientContext.get_or_create(), fewer_gc_passes():
        yield


def with_run_policy(fn: F) -> F:
    """`fn` run under `flow_run_policy`, as a function that Prefect reads as `fn` itself: its signature,
    annotations and docstring, and `fn`'s module globals. Prefect's parameter validation resolves the
    string annotations (`from __future__ import annotations`) in the function's `__globals__`, which a
    plain `functools.wraps` wrapper would take from this module."""
    policy = flow_run_policy
    if inspect.iscoroutinefunction(fn):

        async def run(*args: Any, **kwargs: Any) -> Any:
            with policy():
                return await fn(*args, **kwargs)

    else:

        def run(*args: Any, **kwargs: Any) -> Any:
            with policy():
                return fn(*args, **kwargs)

    # The same code and closure (fn, policy: no global name is looked up), under fn's globals.
    rebound = types.FunctionType(run.__code__, fn.__globals__, fn.__name__, None, run.__closure__)
    return functools.update_wrapper(rebound, fn)  # type: ignore[return-value]
