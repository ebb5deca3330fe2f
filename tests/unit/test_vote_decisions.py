"""A problem's stopping decision, remembered per answer-count vector, is the one a fresh evaluation gives."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tasks.algorithms.stopping import VoteState, make_rule
from tasks.services.voting import decide_by_counts


@pytest.mark.parametrize(("name", "threshold"), [("bayes", 10.0), ("bayes", 3.0), ("beta", 0.9), ("gain", 100.0)])
def test_remembered_decisions_equal_fresh_ones_bit_for_bit(name: str, threshold: float) -> None:
    rule = make_rule(name, threshold, 16)
    rng = np.random.default_rng(7)
    decide_by_counts.cache_clear()
    stops = 0
    for _ in range(400):
        n = int(rng.integers(1, 17))
        # few distinct answers (so count vectors repeat), some blanks ("" and None count as no answer)
        answers = [None if x == 0 else "" if x == 1 else f"a{x}" for x in rng.integers(0, 6, size=n)]
        stop, score = rule.should_stop(VoteState.from_sequences([answers]))
        ranked = tuple(sorted(Counter(a for a in answers if a).values(), reverse=True))
        remembered = decide_by_counts(rule, ranked, n)
        assert remembered == (bool(stop[0]), float(score[0]))
        assert type(remembered[1]) is float and (remembered[1] == score[0] or np.isnan(score[0]))
        stops += remembered[0]
    assert decide_by_counts.cache_info().hits > 0 and 0 < stops < 400  # both branches, and the memo, were used
