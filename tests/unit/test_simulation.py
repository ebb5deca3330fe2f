"""The Monte Carlo simulator over recorded answers (tasks/algorithms/simulation.py)."""

from __future__ import annotations

import json
import random
from collections import Counter
from math import comb

import numpy as np
import pytest

from storage.errors import ChorusError
from tasks.algorithms.bayes_factor import bayes_factor
from tasks.algorithms.replay_files import ReplayProblem, load_replay
from tasks.algorithms.simulation import simulate
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="recorded Best-of-∞ data not present")


def _problem(pid: str, answers: list[str], gold: str | None, tokens: int = 7) -> ReplayProblem:
    return ReplayProblem(pid, tuple(answers), tuple([tokens] * len(answers)), gold)


def test_unanimous_problem_stops_where_the_bayes_factor_first_crosses() -> None:
    problems = [_problem("0", ["42"] * 10, "42", tokens=7)]
    result = simulate(problems, rule="bayes", thresholds=[10, 300], fixed=[3], trials=5, max_samples=50, seed=1)
    for point, b in zip(result.adaptive, (10, 300), strict=True):
        first = next(n for n in range(1, 51) if bayes_factor([n]) >= b)
        assert point.mean_samples == first
        assert point.mean_tokens == 7 * first
        assert point.accuracy == 1.0
    assert result.fixed[0].mean_tokens == 21
    assert result.bo_inf_accuracy == 1.0


def test_rule_asked_only_at_the_given_check_points() -> None:
    """A vote with batches 1,3,4,8 asks the rule after 1,4,8,16,...: it stops at the first of those
    at or past where the per-sample rule would stop."""
    problems = [_problem("0", ["42"] * 10, "42")]
    first = next(n for n in range(1, 51) if bayes_factor([n]) >= 10)
    points = [1, 4, 8, 16, 24, 32]
    result = simulate(
        problems, rule="bayes", thresholds=[10], fixed=[], trials=3, max_samples=32, seed=1, check_points=points
    )
    assert result.adaptive[0].mean_samples == next(p for p in points if p >= first)
    assert next(p for p in points if p >= first) != first  # else the test would not tell the two apart


def test_fixed_n_majority_matches_binomial_probability() -> None:
    # 3 of 5 recorded answers are right; majority of 3 draws is right with P(Bin(3, .6) >= 2)
    problems = [_problem(str(i), ["a", "a", "a", "b", "b"], "a") for i in range(50)]
    result = simulate(problems, rule="bayes", thresholds=[], fixed=[1, 3], trials=200, max_samples=3, seed=4)
    exact3 = sum(comb(3, k) * 0.6**k * 0.4 ** (3 - k) for k in (2, 3))
    for point, p in zip(result.fixed, (0.6, exact3), strict=True):
        assert abs(point.accuracy - p) < 4 * point.accuracy_se
        assert point.accuracy_se == pytest.approx(np.sqrt(p * (1 - p) / 50 / 200), rel=0.25)
    assert result.adaptive == []


def test_ties_go_to_the_earliest_seen_answer() -> None:
    # two draws, two answers: a tie (half the time) goes to whichever came first, so P(first is "a") = 1/2
    # overall accuracy = P(aa) + P(ab) = 1/4 + 1/4
    problems = [_problem(str(i), ["a", "b"], "a") for i in range(100)]
    result = simulate(problems, rule="bayes", thresholds=[], fixed=[2], trials=100, max_samples=2, seed=2)
    assert abs(result.fixed[0].accuracy - 0.5) < 4 * result.fixed[0].accuracy_se


def test_no_answer_samples_are_not_votes_but_cost() -> None:
    problems = [_problem("0", ["", ""], "1", tokens=5), _problem("1", ["", "1"], "1", tokens=5)]
    chorus = simulate(problems, rule="bayes", thresholds=[10], fixed=[], trials=20, max_samples=30, seed=0)
    # problem 0 never gets a vote: it runs to max_samples; every draw's tokens are counted
    assert chorus.adaptive[0].mean_samples > 15
    assert chorus.adaptive[0].accuracy == pytest.approx(0.5)
    assert chorus.adaptive[0].mean_tokens == pytest.approx(5 * chorus.adaptive[0].mean_samples)
    authors = simulate(
        problems[:1],
        rule="bayes",
        thresholds=[10],
        fixed=[],
        trials=5,
        max_samples=30,
        seed=0,
        compat="authors",
    )
    # a problem with only blanks: their loader leaves nothing, their sampler returns ("", 0), their BF is
    # +inf on "only the unknown bucket": stop at once, predict "unknown", no tokens
    assert authors.adaptive[0].mean_samples == 1
    assert authors.adaptive[0].mean_tokens == 0
    assert authors.adaptive[0].accuracy == 0


def test_authors_mode_never_draws_a_blank_their_loader_dropped() -> None:
    # 9 blanks and one "1": their loader keeps only "1", so every draw is "1" and B=10 stops at the
    # first n where their BF (counts [n, 0.3]) crosses it, always right; chorus draws the blanks
    problems = [_problem(str(i), [""] * 9 + ["1"], "1", tokens=5) for i in range(20)]
    kw = {"rule": "bayes", "thresholds": [10], "fixed": [], "trials": 10, "max_samples": 30, "seed": 3}
    authors = simulate(problems, compat="authors", **kw).adaptive[0]
    chorus = simulate(problems, **kw).adaptive[0]
    assert authors.accuracy == 1.0
    assert authors.mean_tokens == pytest.approx(5 * authors.mean_samples)
    assert authors.mean_samples < 4
    assert chorus.mean_samples > 10  # about nine blanks per vote
    dropped = simulate(problems, drop_blanks=True, **kw).adaptive[0]  # the chorus rule on their pools
    assert dropped.accuracy == 1.0 and dropped.mean_samples < 4


def test_authors_gold_is_cleaned_as_their_loader_does() -> None:
    problems = [_problem(str(i), ["336"] * 4, "336^\\circ ") for i in range(5)]
    kw = {"rule": "bayes", "thresholds": [10], "fixed": [], "trials": 3, "max_samples": 10, "seed": 0}
    assert simulate(problems, compat="authors", **kw).adaptive[0].accuracy == 1.0
    assert simulate(problems, **kw).adaptive[0].accuracy == 0.0


def test_key_canonicaliser_merges_forms() -> None:
    problems = [_problem("0", ["1.0", "1", "2", "2", "3"], "1")]
    raw = simulate(problems, rule="bayes", thresholds=[], fixed=[], trials=2, max_samples=5, seed=0)
    merged = simulate(
        problems,
        rule="bayes",
        thresholds=[],
        fixed=[],
        trials=2,
        max_samples=5,
        seed=0,
        key=lambda s: s.removesuffix(".0") or None,
    )
    assert raw.bo_inf_accuracy == 0.0
    assert merged.bo_inf_accuracy == 1.0


def test_weighted_mixture() -> None:
    a = [_problem(str(i), ["x"] * 4, "x") for i in range(40)]
    b = [_problem(str(i), ["y"] * 4, "x") for i in range(41)]
    result = simulate(
        a,
        rule="beta",
        thresholds=[0.95],
        fixed=[1],
        trials=100,
        max_samples=20,
        seed=3,
        mixtures=[b],
        weights=[0.7, 0.3],
    )
    assert result.bo_inf_accuracy == 1.0  # argmax of Σ w_i p_i picks "x"
    assert abs(result.fixed[0].accuracy - 0.7) < 4 * result.fixed[0].accuracy_se
    assert result.dropped_problems == 1 and result.n_problems == 40
    flipped = simulate(
        a,
        rule="beta",
        thresholds=[],
        fixed=[],
        trials=1,
        max_samples=2,
        seed=0,
        mixtures=[b],
        weights=[0.3, 0.7],
    )
    assert flipped.bo_inf_accuracy == 0.0
    with pytest.raises(ChorusError):
        simulate(a, rule="beta", thresholds=[], fixed=[], trials=1, max_samples=2, seed=0, weights=[0.5, 0.5])


def test_esc_and_rule_validation() -> None:
    problems = [_problem("0", ["x"] * 3 + ["y"], "x")]
    result = simulate(problems, rule="esc", thresholds=[5], fixed=[], trials=300, max_samples=40, seed=5)
    # a window of 5 is unanimous with chance .75^5 + .25^5 per window, so the stop is geometric in windows
    p = 0.75**5 + 0.25**5
    expected = sum(5 * k * p * (1 - p) ** (k - 1) for k in range(1, 8)) + 40 * (1 - p) ** 8
    assert abs(result.adaptive[0].mean_samples - expected) < 4 * result.adaptive[0].mean_samples_se
    with pytest.raises(ChorusError):
        simulate(problems, rule="esc", thresholds=[2.5], fixed=[], trials=1, max_samples=5, seed=0)
    with pytest.raises(ChorusError):
        simulate(problems, rule="bayes", thresholds=[], fixed=[9], trials=1, max_samples=5, seed=0)


def test_result_is_json_ready_and_seeded() -> None:
    problems = [_problem(str(i), ["a", "b", "a", ""], "a") for i in range(5)]
    kwargs = dict(rule="bayes", thresholds=[5.0], fixed=[2], trials=3, max_samples=8, seed=9)
    first = simulate(problems, **kwargs).to_dict()
    assert json.loads(json.dumps(first)) == first
    assert simulate(problems, **kwargs).to_dict() == first
    assert set(first["adaptive"][0]) == {
        "setting",
        "accuracy",
        "accuracy_se",
        "mean_samples",
        "mean_samples_se",
        "mean_tokens",
        "mean_tokens_se",
    }


# ---- the recorded data ------------------------------------------------------------------------


@needs_data
def test_best_of_infinity_figures() -> None:
    for name, expected in (
        ("math500_gpt-oss-20b", 480 / 500),
        ("aime2024_Qwen3-30B-A3B-Thinking-2507", 28 / 30),
    ):
        problems = load_replay(DATA / f"analysis_{name}.jsonl")
        result = simulate(problems, rule="bayes", thresholds=[], fixed=[], trials=1, max_samples=1, seed=0)
        assert result.bo_inf_accuracy == pytest.approx(expected)


@needs_data
def test_authors_compat_reproduces_their_adaptive_curve() -> None:
    # Published (read off the paper's figure, ~±0.003): B=10 → 0.954 at 3.3 samples; B=300 → 0.958 at
    # 10.7. Their code, run literally here (20 and 10 trials), gave 0.9528 ± 0.0010 at 3.33 and
    # 0.9554 ± 0.0008 at 10.66.
    problems = load_replay(DATA / "analysis_math500_gpt-oss-20b.jsonl")
    result = simulate(
        problems,
        rule="bayes",
        thresholds=[10, 300],
        fixed=[],
        trials=12,
        max_samples=100,
        seed=0,
        compat="authors",
    )
    for point, (acc, samples) in zip(result.adaptive, ((0.954, 3.3), (0.958, 10.7)), strict=True):
        assert abs(point.accuracy - acc) < 4 * point.accuracy_se + 0.003
        assert abs(point.mean_samples - samples) < 4 * point.mean_samples_se + 0.1


def _literal_authors_run(problems: list[ReplayProblem], b: float, rng: np.random.Generator) -> tuple[float, float]:
    """The authors' loader (blank answers dropped) and weighted_ensemble_prediction loop for one model,
    line for line (N_max = 100)."""
    ok = used = 0
    for prob in problems:
        counts: Counter[str] = Counter()
        pool = [a for a in prob.answers if a.strip()] or [""]  # AnalysisData; an empty pool gives ("", 0)
        for _ in range(100):
            used += 1
            answer = random.choice(pool)
            if answer:
                counts[answer] += 1
            counts["unknown"] = 0.3
            values = list(counts.values())
            if len(values) < 2:
                break  # their BF is +inf
            samples = rng.dirichlet(np.array(values) + 1.0, 1000)
            agree = np.sum(samples[:, int(np.argmax(values))] == samples.max(axis=1))
            if agree == 0:
                continue
            q = 1 - agree / 1000
            if q == 0:
                gap = max((max(values) - sorted(values, reverse=True)[1]) / sum(values), 1e-4)
                q = np.exp(-max(values) * gap * gap / 2)
            if len(values) * (agree / 1000) / q >= b:
                break
        ok += counts.most_common(1)[0][0] == prob.gold
    return ok / len(problems), used / len(problems)


@needs_data
@pytest.mark.parametrize("name", ["gpqa_diamond_gpt-oss-20b", "aime2024_EXAONE-Deep-32B"])
def test_authors_compat_matches_their_code_run_literally(name: str) -> None:
    # AIME2024 EXAONE: 16 % of its answers are blank, so drawing blanks (the old bug) would fail this
    problems = load_replay(DATA / f"analysis_{name}.jsonl")[:60]
    random.seed(0)
    rng = np.random.default_rng(0)
    literal = np.array([_literal_authors_run(problems, 10.0, rng) for _ in range(8)])
    ours = simulate(
        problems,
        rule="bayes",
        thresholds=[10],
        fixed=[],
        trials=200,
        max_samples=100,
        seed=1,
        compat="authors",
    ).adaptive[0]
    lit_mean, lit_se = literal.mean(axis=0), literal.std(axis=0, ddof=1) / np.sqrt(len(literal))
    assert abs(ours.accuracy - lit_mean[0]) < 4 * np.hypot(ours.accuracy_se, lit_se[0]) + 1e-9
    assert abs(ours.mean_samples - lit_mean[1]) < 4 * np.hypot(ours.mean_samples_se, lit_se[1])


def test_fixed_rule_as_adaptive_equals_fixed_baseline() -> None:
    problems = [_problem(str(i), ["a", "b", "a", "c", ""], "a") for i in range(20)]
    result = simulate(problems, rule="fixed", thresholds=[3], fixed=[3], trials=10, max_samples=6, seed=8)
    assert result.adaptive[0].accuracy == result.fixed[0].accuracy
    assert result.adaptive[0].mean_tokens == result.fixed[0].mean_tokens
    assert result.adaptive[0].mean_samples == 3
