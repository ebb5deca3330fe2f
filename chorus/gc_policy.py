"""Garbage collection for a flow run: young collections every 50,000 allocations instead of 700.

A run keeps every in-flight problem's requests, rows and coroutines alive across its awaits, so with
CPython's default threshold each of them outlives two young collections and is promoted to the old
generation. Full collections then follow every ~70,000 promotions (the old generation's 25 % rule), and
each walks the whole heap (~280,000 objects with Prefect loaded): 8 passes, ~1.7 s of a 10,000-problem
replay `vote` (bench/RESULTS.md, "Garbage collection"). With a larger young generation those objects
die young; reference cycles are still collected, only less often. Memory held by uncollected cycles
grows by at most one young generation (a few MB).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

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
