"""The `gain` stopping rule (tasks/algorithms/stopping_gain.py)."""

from __future__ import annotations

import numpy as np
import pytest

from storage.errors import ChorusError
from tasks.algorithms.replay_files import ReplayProblem
from tasks.algorithms.simulation import simulate
from tasks.algorithms.stopping import RULES, VoteState, make_rule
from tasks.algorithms.stopping_gain import expected_gain


@pytest.mark.parametrize("counts", [[1], [3], [3, 1], [5, 4], [20, 18], [10, 2, 1], [2, 2, 2]])
def test_expected_gain_matches_monte_carlo(counts: list[int]) -> None:
    rng = np.random.default_rng(0)
    draws = rng.dirichlet(np.array([*counts, 0.3], dtype=float), 400_000)
    mc = draws.max(axis=1) - draws[:, 0]
    exact = expected_gain(np.array([counts]))[0]
    assert abs(exact - mc.mean()) < 4 * mc.std() / np.sqrt(mc.size) + 1e-6


def test_gain_shrinks_with_agreement_and_columns_do_not_matter() -> None:
    g = expected_gain(np.array([[1, 0], [2, 0], [4, 0], [0, 4], [3, 1], [0, 0]]))
    assert g[0] > g[1] > g[2] > 0 and g[2] == pytest.approx(g[3])
    assert g[4] > g[2]  # a dissenting vote leaves more to gain than a fourth agreeing one
    assert g[5] == 1.0  # no vote yet: everything to gain


def test_rule_is_registered_and_stops_on_low_gain() -> None:
    assert RULES["gain"]["threshold"] == 100
    rule = make_rule("gain", max_samples=50)
    state = VoteState.from_sequences([["a"] * 6, ["a", "b", "a", "b"], [None, None]], window=1)
    stop, score = rule.should_stop(state)
    assert stop.tolist() == [True, False, False]
    assert score == pytest.approx(1 / expected_gain(state.counts))
    with pytest.raises(ChorusError, match="no authors mode"):
        make_rule("gain", compat="authors")


def test_simulated_unanimous_problem_stops_where_one_over_gain_crosses() -> None:
    problems = [ReplayProblem("0", ("7",) * 5, (3,) * 5, "7")]
    res = simulate(problems, rule="gain", thresholds=[10, 1000], fixed=[], trials=3, max_samples=40, seed=0)
    for point, t in zip(res.adaptive, (10, 1000), strict=True):
        first = next(n for n in range(1, 41) if 1 / expected_gain(np.array([[n]]))[0] >= t)
        assert point.mean_samples == first and point.accuracy == 1.0 and point.mean_tokens == 3 * first
