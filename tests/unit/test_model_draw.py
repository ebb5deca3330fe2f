"""The mixture's model choice per draw: deterministic, and the same as it always was (cache keys depend on it)."""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import numpy as np

from tasks.services.voting import draw_model


def numpy_definition(problem_id: str, draw: int, weights: tuple[float, ...]) -> int:
    """How chorus chose before the pure-Python version: earlier runs' cached draws were made this way."""
    if len(weights) == 1:
        return 0
    u = int.from_bytes(hashlib.sha256(f"{problem_id}|{draw}".encode()).digest()[:8], "big") / 2**64
    cumulative = np.cumsum(np.asarray(weights) / sum(weights))
    return int(min(np.searchsorted(cumulative, u, side="right"), len(weights) - 1))


def test_same_choices_as_the_numpy_definition() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        weights = tuple(rng.choice([rng.random(), 1 / 3, 0.1, 0.0, 1.0]) for _ in range(rng.randint(2, 6)))
        if sum(weights) == 0:
            continue
        pid, draw = str(rng.randint(0, 10**6)), rng.randint(0, 200)
        assert draw_model(pid, draw, weights) == numpy_definition(pid, draw, weights)


def test_choices_follow_the_weights_and_skip_zero_weight() -> None:
    counts = Counter(draw_model(f"p{i}", d, (0.5, 0.0, 0.25, 0.25)) for i in range(2000) for d in range(4))
    assert counts[1] == 0
    assert abs(counts[0] / 8000 - 0.5) < 0.03 and abs(counts[2] / 8000 - 0.25) < 0.03
