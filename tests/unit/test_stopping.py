"""Stopping rules and the Bo∞ Bayes factor (tasks/algorithms/stopping.py, tasks/algorithms/bayes_factor.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

from storage.errors import ChorusError
from tasks.algorithms.bayes_factor import (
    authors_bayes_factors,
    authors_p_not_mode,
    authors_stop_chance_bound,
    bayes_factor,
    bayes_factor_bounds,
    bayes_factors,
    p_not_mode,
)
from tasks.algorithms.stopping import (
    RULES,
    VoteState,
    beta_scores,
    check_points,
    make_rule,
    plurality,
    plurality_columns,
    window_unanimous,
)

ALPHA = 0.3


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([1], 4.33),
        ([3], 37.0),
        ([5], 204),
        ([3, 1], 12.1),
        ([5, 2], 15.8),
        ([10, 3, 1], 146),
        ([30, 20], 24.3),
    ],
)
def test_reference_values_from_notes(counts: list[int], expected: float) -> None:
    assert bayes_factor(counts, ALPHA) == pytest.approx(expected, rel=3e-3)


def test_no_saturation_for_overwhelming_evidence() -> None:
    p0 = p_not_mode(np.array([50.0]), np.array([[1.0, ALPHA]]))[0]
    assert p0 == pytest.approx(9.19e-16, rel=1e-2)
    assert bayes_factor([50, 1]) == pytest.approx(2 * (1 - p0) / p0, rel=1e-9)
    assert bayes_factor([50, 1]) > 1e15


def _quad_p0(a1: float, others: list[float]) -> float:
    def integrand(x: float) -> float:
        with np.errstate(divide="ignore"):
            bracket = -np.expm1(np.sum(np.log1p(-special.gammaincc(np.array(others), x))))
        return stats.gamma.pdf(x, a1) * bracket

    upper = a1 + 12 * np.sqrt(a1) + 30
    return integrate.quad(integrand, 0, upper, points=[a1], limit=500, epsabs=0, epsrel=1e-12)[0]


def test_quadrature_matches_scipy_quad_on_random_counts() -> None:
    rng = np.random.default_rng(7)
    rows = [np.sort(rng.integers(1, rng.choice([4, 30, 120]), size=rng.integers(1, 6)))[::-1] for _ in range(15)]
    width = max(len(r) for r in rows)
    counts = np.array([np.pad(r, (0, width - len(r))) for r in rows])
    got = bayes_factors(counts, ALPHA)
    for row, bf in zip(rows, got, strict=True):
        p0 = _quad_p0(float(row[0]), [*map(float, row[1:]), ALPHA])
        assert bf == pytest.approx(len(row) * (1 - p0) / p0, rel=1e-6)


def test_quadrature_matches_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    draws = 200_000
    for counts in ([5, 2], [3, 1, 1], [2]):
        p = rng.dirichlet([*counts, ALPHA], size=draws)
        mc = float(np.mean(p[:, 0] < p[:, 1:].max(axis=1)))
        exact = p_not_mode(np.array([float(counts[0])]), np.array([[*map(float, counts[1:]), ALPHA]]))[0]
        se = np.sqrt(exact * (1 - exact) / draws)
        assert abs(mc - exact) < 4.5 * se


def test_single_answer_closed_form() -> None:
    # s = 1: the only competitor is the unseen mass, P(H0) = P(G_N < G_α) = I_½(N, α)
    for n in (1, 4, 9):
        p0 = special.betainc(n, ALPHA, 0.5)
        assert bayes_factor([n]) == pytest.approx((1 - p0) / p0, rel=1e-7)


def test_vectorised_rows_any_column_order_and_padding() -> None:
    counts = np.array([[0, 3, 0, 1], [2, 5, 0, 0], [0, 0, 0, 0], [1, 0, 10, 3]])
    got = bayes_factors(counts)
    assert got[2] == 0.0
    assert got[0] == pytest.approx(bayes_factor([3, 1]))
    assert got[1] == pytest.approx(bayes_factor([5, 2]))
    assert got[3] == pytest.approx(bayes_factor([10, 3, 1]))
    assert bayes_factor([]) == 0.0


def test_evidence_grows_with_agreement_and_bounds_hold() -> None:
    assert np.all(np.diff(bayes_factors(np.arange(1, 30)[:, None])) > 0)
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 25, size=(300, 5))
    assert np.all(bayes_factor_bounds(counts) >= bayes_factors(counts) * (1 - 1e-9))


def test_tied_top_counts_cap_the_factor() -> None:
    # a tie at the top means P(H0) >= 1/2, so BF <= s
    assert bayes_factor([4, 4]) <= 2.0
    assert bayes_factor([6, 6, 1]) <= 3.0


def test_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        bayes_factors(np.array([1, 2]))
    with pytest.raises(ValueError):
        bayes_factors(np.array([[1, -2]]))


# ---- the authors' rule ------------------------------------------------------------------------


def _literal_authors_bf(counts: list[float], rng: np.random.Generator, draws: int = 1000) -> float:
    """Their calculate_bayes_factor_mc, line for line (counts include α for the unknown bucket)."""
    if len(counts) < 2:
        return float("inf")
    samples = rng.dirichlet(np.array(counts) + 1.0, draws)
    agree = np.sum(samples[:, int(np.argmax(counts))] == samples.max(axis=1))
    if agree == 0:
        return 0.0
    p = agree / draws
    q = 1.0 - p
    if q == 0:
        gap = max((max(counts) - sorted(counts, reverse=True)[1]) / sum(counts), 1e-4)
        q = np.exp(-max(counts) * gap * gap / 2)
    return len(counts) * p / q


def test_authors_p_not_mode_matches_their_dirichlet() -> None:
    rng = np.random.default_rng(5)
    for counts in ([3, 1], [4, 2, 1], [1]):
        p = rng.dirichlet([c + 1 for c in counts] + [ALPHA + 1], size=200_000)
        mc = float(np.mean(p[:, 0] < p[:, 1:].max(axis=1)))
        exact = authors_p_not_mode(np.array([counts]), ALPHA)[0]
        assert abs(mc - exact) < 4.5 * np.sqrt(exact * (1 - exact) / 200_000)


@pytest.mark.parametrize("counts", [[3, 1], [2, 1, 1], [6]])
def test_authors_binomial_shortcut_has_their_distribution(counts: list[int]) -> None:
    rng = np.random.default_rng(11)
    reps = 300
    theirs = np.array([_literal_authors_bf([*map(float, counts), ALPHA], rng) for _ in range(reps)])
    ours = authors_bayes_factors(np.array([counts] * reps), ALPHA, rng=rng)
    for b in (5.0, 10.0, 30.0):  # the probability of stopping at each threshold agrees
        p_theirs, p_ours = np.mean(theirs >= b), np.mean(ours >= b)
        se = np.sqrt(max(p_theirs * (1 - p_theirs), 1e-3) * 2 / reps)
        assert abs(p_theirs - p_ours) < 4.5 * se


def test_authors_special_cases() -> None:
    rng = np.random.default_rng(0)
    # nothing disagrees: Hoeffding replaces P(H0); their counts include α for the unknown bucket
    gap = (20 - ALPHA) / (20 + ALPHA)
    bf = authors_bayes_factors(np.array([[20]]), ALPHA, rng=rng, p0=np.array([0.0]))[0]
    assert bf == pytest.approx(2 / np.exp(-20 * gap * gap / 2))
    assert authors_bayes_factors(np.array([[3, 1]]), rng=rng, p0=np.array([1.0]))[0] == 0.0
    assert authors_bayes_factors(np.array([[0, 0]]), rng=rng)[0] == np.inf
    # their multiplier s + 1 = 3 over M = 1000 draws: BF = 3 · (1000 − D) / D, D ~ Binomial(1000, p0)
    many = authors_bayes_factors(np.array([[5, 1]] * 2000), rng=rng, p0=np.full(2000, 0.01))
    disagree = 3000 / (many + 3)
    assert np.allclose(disagree, np.round(disagree))
    assert abs(disagree.mean() - 10) < 4 * np.sqrt(1000 * 0.01 * 0.99 / 2000)


def test_stop_chance_bound_is_tiny_only_for_hopeless_rows() -> None:
    counts = np.array([[10, 9, 3], [30, 0, 0]])
    chance = authors_stop_chance_bound(counts, np.array([100.0, 100.0]), ALPHA, 100)
    assert chance[0] < 1e-12 < chance[1]


def test_check_points() -> None:
    assert np.array_equal(check_points(50, "chorus"), np.arange(1, 51))
    assert np.array_equal(check_points(100, "authors"), np.arange(1, 101))
    expected = [1, 2, 4, 8, 16, 24, 32, 40, 60, 80, 100, *range(120, 301, 20)]
    assert check_points(300, "authors").tolist() == expected
    assert check_points(130, "authors").tolist()[-2:] == [100, 120]
    with pytest.raises(ChorusError):
        check_points(10, "paper")


# ---- votes, state, baselines, registry --------------------------------------------------------


def test_plurality_ties_and_non_votes() -> None:
    assert plurality(["b", "a", "a", "b"]) == "b"  # tie: earliest-seen wins
    assert plurality([None, "", "x", None]) == "x"
    assert plurality([None, ""]) is None
    assert plurality(["unextractable", "unextractable", "7"]) == "unextractable"


def test_plurality_columns_agrees_with_plurality() -> None:
    rng = np.random.default_rng(2)
    seqs = [[rng.choice(["a", "b", "c", None]) for _ in range(rng.integers(0, 9))] for _ in range(300)]
    state = VoteState.from_sequences(seqs, window=5)
    cols = plurality_columns(state.counts)
    for seq, col in zip(seqs, cols, strict=True):
        order = list(dict.fromkeys(a for a in seq if a))
        assert (order[col] if col >= 0 else None) == plurality(seq)


def test_vote_state_from_sequences() -> None:
    state = VoteState.from_sequences([["x", None, "y", "x"], []], window=3)
    assert state.counts.tolist() == [[2, 1], [0, 0]]
    assert state.n.tolist() == [4, 0]
    assert state.last.tolist() == [[-1, 1, 0], [-1, -1, -1]]


def test_beta_scores_match_beta_distribution() -> None:
    counts = np.array([[7, 2, 1], [3, 3, 0], [4, 0, 0], [0, 0, 0]])
    expected = [stats.beta.sf(0.5, 8, 3), 0.5, stats.beta.sf(0.5, 5, 1), 0.0]
    assert beta_scores(counts) == pytest.approx(expected)


def test_window_unanimous() -> None:
    last = np.array([[1, 1, 1], [1, 1, 2], [-1, -1, -1], [0, 2, 2]])
    assert window_unanimous(last, 3).tolist() == [True, False, False, False]
    assert window_unanimous(last, 2).tolist() == [True, False, False, True]


def test_registry_and_should_stop() -> None:
    assert set(RULES) == {"bayes", "fixed", "beta", "esc", "gain", "rate"}
    state = VoteState.from_sequences([["a"] * 5, ["a", "b", "a", "b", "c"], ["a"] * 2], window=5)
    stop, score = make_rule("bayes", 100, max_samples=10).should_stop(state)
    assert score == pytest.approx(bayes_factors(state.counts))
    assert stop.tolist() == [True, False, False]
    stop, _ = make_rule("fixed", 5, max_samples=10).should_stop(state)
    assert stop.tolist() == [True, True, False]
    stop, _ = make_rule("esc", 5, max_samples=10).should_stop(state)
    assert stop.tolist() == [True, False, False]
    stop, _ = make_rule("beta", 0.95, max_samples=2).should_stop(state)  # max_samples stops all
    assert stop.all()
    authors = make_rule("bayes", 10, max_samples=100, compat="authors")
    stop, score = authors.should_stop(state, np.random.default_rng(0))
    assert stop[0] and not stop[1] and score[0] > 10
    # live: a problem with only blanks so far does not stop in authors mode (their loader drops blanks)
    blanks = VoteState.from_sequences([[None, None], [None] * 100], window=1)
    stop, score = authors.should_stop(blanks, np.random.default_rng(0))
    assert np.isinf(score).all() and stop.tolist() == [False, True]
    with pytest.raises(ChorusError):
        make_rule("esc", 5).should_stop(VoteState(state.counts, state.n))
    with pytest.raises(ChorusError):
        make_rule("vibes", 1)
    with pytest.raises(ChorusError):
        make_rule("fixed", 2.5)
