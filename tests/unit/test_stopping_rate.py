"""The `rate` stopping rule (tasks/algorithms/stopping_rate.py)."""

from __future__ import annotations

import numpy as np
import pytest

from storage.errors import ChorusError
from tasks.algorithms.replay_files import ReplayProblem
from tasks.algorithms.simulation import simulate
from tasks.algorithms.stopping import RULES, VoteState, make_rule
from tasks.algorithms.stopping_rate import LOOKAHEADS, gain_rate_per_vote, vote_chance


@pytest.mark.parametrize(("counts", "m"), [([3, 1], 4), ([5, 4], 8), ([2], 2), ([10, 9], 16)])
def test_preposterior_spread_is_the_dirichlet_multinomial_one(counts: list[int], m: int) -> None:
    """The rule's look-ahead: after m more votes the posterior mean of p₂ − p₁ spreads by σ²·m/(A+m)."""
    rng = np.random.default_rng(0)
    a = np.array([*counts, 0.3] if len(counts) > 1 else [counts[0], 0.3], dtype=float)
    total = a.sum()
    p = rng.dirichlet(a, 200_000)
    y = np.array([rng.multinomial(m, row) for row in p[:20_000]])
    moved = ((a[1] + y[:, 1]) - (a[0] + y[:, 0])) / (total + m)
    var = (a[0] * (total - a[0]) + a[1] * (total - a[1]) + 2 * a[0] * a[1]) / (total**2 * (total + 1))
    assert moved.var() == pytest.approx(var * m / (total + m), rel=0.05)
    assert moved.mean() == pytest.approx((a[1] - a[0]) / total, abs=0.01)


def test_rate_falls_with_agreement_and_on_long_ties() -> None:
    r = gain_rate_per_vote(np.array([[1, 0], [2, 0], [4, 0], [0, 4], [2, 2], [30, 30], [0, 0]]))
    assert r[0] > r[1] > r[2] > 0 and r[2] == pytest.approx(r[3])
    assert r[4] > r[5] > 0  # a tie after 60 votes is worth less per sample than a tie after 4
    assert r[6] == 1.0  # no vote yet: the first vote is worth everything
    assert LOOKAHEADS[0] == 1


def test_rule_is_registered_stops_on_clear_cases_and_not_on_early_ties() -> None:
    assert RULES["rate"]["threshold"] == 1000
    rule = make_rule("rate", max_samples=50)
    state = VoteState.from_sequences([["a"] * 4, ["a", "b", "a", "b"], [None, None]], window=1)
    stop, score = rule.should_stop(state)
    assert stop.tolist() == [True, False, False]
    one = VoteState.from_sequences([["a"]], window=1)
    assert not rule.should_stop(one)[0][0] and make_rule("rate", 100).should_stop(one)[0][0]
    expected = 1 / (gain_rate_per_vote(state.counts) * vote_chance(state.counts.sum(axis=1), state.n))
    assert score == pytest.approx(expected)
    with pytest.raises(ChorusError, match="no authors mode"):
        make_rule("rate", compat="authors")


def test_blanks_lower_the_value_of_a_sample() -> None:
    rule = make_rule("rate")
    _, score = rule.should_stop(VoteState.from_sequences([["a", "b"], ["a", None, None, None, "b"]], window=1))
    assert score[1] > score[0]  # same votes, but each further sample is less likely to give one
    assert vote_chance(np.array([0, 3]), np.array([3, 3])).tolist() == pytest.approx([0.5 / 4, 3.5 / 4])


def test_simulator_equals_a_direct_loop_over_vote_states() -> None:
    problems = [
        ReplayProblem("u", ("7",) * 5, (3,) * 5, "7"),
        ReplayProblem("b", ("",) * 4, (2,) * 4, "1"),  # only blanks: given up once a vote looks unlikely
        ReplayProblem("x", ("unextractable",) * 3, (5,) * 3, "2"),
    ]
    thresholds = [5, 50, 1000]
    res = simulate(problems, rule="rate", thresholds=thresholds, fixed=[], trials=2, max_samples=40, seed=0)
    for point, t in zip(res.adaptive, thresholds, strict=True):
        rule = make_rule("rate", t, max_samples=40)
        used, tokens = [], []
        for prob in problems:
            seq: list[str | None] = []
            while True:
                seq.append(prob.answers[0] or None)
                stop, _ = rule.should_stop(VoteState.from_sequences([seq], window=1))
                if stop[0]:
                    break
            used.append(len(seq))
            tokens.append(len(seq) * prob.tokens[0])
        assert point.mean_samples == pytest.approx(np.mean(used))
        assert point.mean_tokens == pytest.approx(np.mean(tokens))
        assert point.accuracy == pytest.approx(1 / 3)


def test_every_rule_names_its_threshold_in_tables() -> None:
    from tasks.algorithms.stopping import RULES, setting_label

    labels = {name: setting_label(name, 10) for name in RULES}
    assert labels["bayes"] == "B=10" and labels["gain"] == "T=10" and labels["fixed"] == "N=10"
    assert all(not label.startswith("threshold=") for label in labels.values())
