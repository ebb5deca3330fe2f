"""The ensemble MILP: hand-checked optima, reductions, bounds, costs, and the paper's figures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from storage.errors import ChorusError
from tasks.algorithms.ensemble_eval import (
    build_dists,
    cross_validate,
    k_folds,
    mixture_accuracy,
    mixture_correct,
    single_accuracy,
    train_test_split,
)
from tasks.algorithms.ensemble_weights import reduce_problems, solve_ensemble, solved_mask
from tasks.algorithms.replay_files import ReplayProblem, load_replay
from tests.conftest import SHARED_DATA

mip = pytest.importorskip("mip")

DATA = SHARED_DATA


def P(*rows: list[float]) -> np.ndarray:
    """A problem matrix: one row per model, gold first."""
    return np.array(rows, dtype=float)


# Model 0 is right on problems 0-1 (and a confident wrong on 2-3); model 1 the other way round,
# but model 1's wrong answers on 0-1 are split, so a mixture can win all four only with enough
# weight on each where it is right.
DISJOINT = [
    P([0.9, 0.1], [0.3, 0.7]),
    P([0.8, 0.2], [0.4, 0.6]),
    P([0.3, 0.7], [0.9, 0.1]),
    P([0.4, 0.6], [0.8, 0.2]),
]


def best_count_by_grid(problems, epsilon, steps=200):
    """Brute force over a grid of the 2- or 3-model simplex: a lower bound on the optimum."""
    k = problems[0].shape[0]
    best = 0
    for idx in itertools.product(range(steps + 1), repeat=k - 1):
        if sum(idx) > steps:
            continue
        w = np.array([*idx, steps - sum(idx)], dtype=float) / steps
        best = max(best, int(solved_mask(problems, w, epsilon).sum()))
    return best


def test_two_models_right_on_disjoint_problems_mixture_gets_all():
    sol = solve_ensemble(DISJOINT)
    assert sol.status == "optimal"
    assert sol.solved == 4 and sol.total == 4
    # Each single model gets exactly two.
    for i in range(2):
        assert solved_mask(DISJOINT, np.eye(2)[i]).sum() == 2
    # Problem 0 needs 0.8 w0 - 0.4 w1 > 0 and problem 2 needs -0.4 w0 + 0.8 w1 > 0: w0 in (1/3, 2/3);
    # problems 1 and 3 need w0 in (1/4, 3/4). All four leads equal 0.2 at w = (.5, .5), their max-min.
    assert sol.weights == pytest.approx([0.5, 0.5], abs=1e-6)
    assert sol.margin == pytest.approx(0.2, abs=1e-6)


def test_no_weight_helps_when_the_gold_only_wins_alone():
    # Problem 0: only model 0 wins; problem 1: only model 1 wins, and any mix loses one of them.
    probs = [P([0.6, 0.4], [0.0, 1.0]), P([0.0, 1.0], [0.6, 0.4])]
    sol = solve_ensemble(probs)
    assert sol.solved == 1 == sol.objective
    assert sol.bound == pytest.approx(1)


def test_gold_never_seen_is_unsolvable_and_ties_follow_epsilon():
    never = P([0.0, 1.0], [0.0, 1.0])
    tie = P([0.5, 0.5], [0.5, 0.5])  # every mixture ties gold with the wrong answer
    always = P([0.9, 0.1], [0.7, 0.3])
    red = reduce_problems([never, tie, always], 1e-6)
    assert red.unsolvable == [0, 1] and red.fixed_solved == [2]
    strict = solve_ensemble([never, tie, always], epsilon=1e-6)
    assert strict.solved == 1 and strict.fixed_unsolved == 2 and strict.rows == 0
    authors = solve_ensemble([never, tie, always], epsilon=0.0)
    assert authors.solved == 2  # the tie counts as solved when no row is negative


def test_dominated_rows_are_dropped_and_counted():
    # Wrong answers b and c: row for b is implied by row for c (c beats gold by more everywhere).
    q = P([0.5, 0.2, 0.3], [0.2, 0.3, 0.5])
    sol = solve_ensemble([q, *DISJOINT])
    assert sol.dropped_rows == 1
    assert sol.rows == 1 + 4


@pytest.mark.parametrize("seed", range(8))
def test_reductions_do_not_change_the_optimum(seed):
    rng = np.random.default_rng(seed)
    problems = []
    for _ in range(25):
        k, answers = 3, int(rng.integers(1, 5))
        counts = rng.multinomial(10, rng.dirichlet(np.ones(answers)), size=k) / 10.0
        if rng.random() < 0.2:
            counts[:, 0] = 0.0  # gold never seen
        problems.append(counts)
    for eps in (0.0, 1e-6):
        a = solve_ensemble(problems, epsilon=eps, reduce=True)
        b = solve_ensemble(problems, epsilon=eps, reduce=False)
        assert a.status == b.status == "optimal"
        assert a.solved == b.solved == a.objective == b.objective
        assert a.solved >= best_count_by_grid(problems, eps, steps=60)


def test_stage2_margin_is_at_least_the_stage1_margin_and_keeps_the_count():
    rng = np.random.default_rng(3)
    problems = [rng.multinomial(20, rng.dirichlet(np.ones(3)), size=3) / 20.0 for _ in range(40)]
    one = solve_ensemble(problems, stage2="none")
    two = solve_ensemble(problems, stage2="margin")
    assert two.solved == one.solved
    assert two.margin >= one.margin - 1e-9
    assert two.margin >= 1e-6


def test_bounds_are_respected_and_infeasible_bounds_raise():
    sol = solve_ensemble(DISJOINT, lower=[0.0, 0.0], upper=[0.3, 1.0])
    assert sol.weights[0] <= 0.3 + 1e-9
    assert sol.solved == 3  # w0 <= 0.3 < 1/3 loses problem 0 only
    with pytest.raises(ChorusError, match=r"lower sums to 1\.2"):
        solve_ensemble(DISJOINT, lower=[0.6, 0.6])
    with pytest.raises(ChorusError, match="upper"):
        solve_ensemble(DISJOINT, upper=[0.3, 0.3])


def test_token_budget_and_cheapest_weights():
    costs = [100.0, 1000.0]
    capped = solve_ensemble(DISJOINT, costs=costs, token_budget=300.0)  # forces w1 <= 2/9 < 1/3
    assert capped.cost <= 300.0 + 1e-6 and capped.solved == 2
    cheap = solve_ensemble(DISJOINT, costs=costs, stage2="cost")
    assert cheap.solved == 4
    # Cheapest weights that still win all four put as little as allowed on model 1 (w1 → 1/3).
    assert cheap.weights[1] == pytest.approx(1 / 3, abs=1e-4)
    slack = solve_ensemble(DISJOINT, costs=costs, stage2="cost", cost_slack=2)
    assert slack.cost == pytest.approx(100.0, abs=1e-6) and slack.solved == 2
    with pytest.raises(ChorusError, match="below the cheapest"):
        solve_ensemble(DISJOINT, costs=costs, token_budget=50.0)


def test_highs_agrees_with_cbc():
    pytest.importorskip("highspy")
    rng = np.random.default_rng(5)
    problems = [rng.multinomial(10, rng.dirichlet(np.ones(3)), size=4) / 10.0 for _ in range(40)]
    assert solve_ensemble(problems, solver="highs").solved == solve_ensemble(problems).solved


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ChorusError, match="threads"):
        solve_ensemble(DISJOINT, threads=-1)
    with pytest.raises(ChorusError, match="solver"):
        solve_ensemble(DISJOINT, solver="gurobi")
    with pytest.raises(ChorusError, match="needs costs"):
        solve_ensemble(DISJOINT, stage2="cost")


def replay(pid: str, answers: str, gold: str | None = "A") -> ReplayProblem:
    return ReplayProblem(pid, tuple(answers), tuple(10 * (n + 1) for n in range(len(answers))), gold)


def test_build_dists_intersection_blanks_and_mixture_ties():
    m0 = [replay("1", "AAB"), replay("2", "BB "), replay("3", "A", gold=None), replay("9", "A")]
    m1 = [replay("1", "ABB"), replay("2", "AB"), replay("3", "A", gold=None)]
    data = build_dists([m0, m1])
    assert data.problem_ids == ("1", "2") and data.dropped_ids == ("9",) and data.no_gold_ids == ("3",)
    assert data.probs[1][0] == pytest.approx([0.0, 1.0])  # the blank answer is not counted
    assert data.tokens == pytest.approx([120 / 6, 90 / 5])  # no-gold and dropped problems excluded
    assert single_accuracy(data, 0) == 0.5 and single_accuracy(data, 1) == 0.0
    # Equal weights: problem 1 ties (2/3+1/3 vs 1/3+2/3), problem 2 loses.
    assert mixture_correct(data, [1, 1], ties="wrong").tolist() == [False, False]
    assert mixture_correct(data, [1, 1], ties="right").tolist() == [True, False]


def test_splits_are_seeded_partitions():
    ids = [str(n) for n in range(10)]
    tr, te = train_test_split(ids, 0.7, seed=1)
    assert sorted(tr + te) == ids and len(tr) == 7 and train_test_split(ids, 0.7, seed=1) == (tr, te)
    folds = k_folds(ids, 3, seed=2)
    assert sorted(p for _, te in folds for p in te) == ids
    assert all(set(tr).isdisjoint(te) and len(tr) + len(te) == 10 for tr, te in folds)
    with pytest.raises(ChorusError):
        k_folds(ids, 11)


def load(dataset: str):
    files = sorted(DATA.glob(f"analysis_{dataset}_*.jsonl"))
    if not files:
        pytest.skip(f"no recorded data at {DATA}")
    return build_dists([load_replay(f) for f in files]), [f.stem.split("_")[-1] for f in files]


@pytest.mark.parametrize(("dataset", "expected", "models"), [("gpqa_diamond", 153, 6), ("math500", 485, 7)])
def test_paper_ensemble_figures(dataset, expected, models):
    data, names = load(dataset)
    assert len(names) == models
    # The authors' rule (no wrong answer above gold); the count only (the margin stage is benchmarked).
    sol = solve_ensemble(data.probs, epsilon=0.0, stage2="none")
    assert sol.status == "optimal" and sol.solved == expected == sol.objective == sol.bound
    assert mixture_correct(data, sol.weights, ties="right").sum() == expected
    assert sol.solved > max(single_accuracy(data, i, "right") * sol.total for i in range(models))


def test_paper_aime2024_no_gain_over_best_single():
    data, names = load("aime2024")
    assert len(names) == 11
    sol = solve_ensemble(data.probs, epsilon=0.0)
    best = max(single_accuracy(data, i) for i in range(len(names)))
    assert best == pytest.approx(28 / 30)
    assert sol.solved == 28 and mixture_accuracy(data, sol.weights, "right") == pytest.approx(best)


def test_cross_validation_reports_every_model_and_the_ensemble():
    data, names = load("math500")
    report = cross_validate(data, names, k=3, seed=0, stage2="none")
    assert set(report.test) == {*names, "ensemble"} and len(report.fold_weights) == 3
    assert report.train["ensemble"] >= max(report.train[n] for n in names)
    assert 0.9 < report.test["ensemble"] <= 1.0
