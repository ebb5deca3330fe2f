"""The flow runner's garbage-collection policy: a larger young generation, restored afterwards."""

from __future__ import annotations

import gc
from collections import deque

import pytest

from flows.run_policy import FLOW_THRESHOLDS, fewer_gc_passes


def test_thresholds_hold_inside_and_come_back_after_an_error() -> None:
    before = gc.get_threshold()
    assert before != FLOW_THRESHOLDS
    with pytest.raises(RuntimeError), fewer_gc_passes():
        assert gc.get_threshold() == FLOW_THRESHOLDS
        raise RuntimeError("a failed flow")
    assert gc.get_threshold() == before


def test_a_growing_heap_gets_fewer_full_collections() -> None:
    """A run's heap grows (results, cache rows) while requests wait on their replies. Under the default
    thresholds that costs full collections, each a walk of the whole heap."""

    def full_collections() -> int:
        gc.collect()
        start = gc.get_stats()[2]["collections"]
        waiting: deque[list[int]] = deque(maxlen=5_000)
        kept = []
        for i in range(300_000):
            waiting.append([i])  # alive across 5,000 later allocations
            kept.append([i])  # kept to the end
        return gc.get_stats()[2]["collections"] - start

    with fewer_gc_passes():
        tuned = full_collections()
    assert tuned == 0 < full_collections()


def test_a_server_freezes_its_start_up_heap_while_serving_and_thaws_it_after() -> None:
    from chorus.serve.app import serving_gc_policy

    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with serving_gc_policy():
        assert gc.get_threshold() == FLOW_THRESHOLDS
        assert gc.get_freeze_count() > 0  # the modules pytest loaded, among others
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
