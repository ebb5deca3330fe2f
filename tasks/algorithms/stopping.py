"""Stopping rules for adaptive sampling (Best-of-∞ and baselines), vectorised over many problems.

Pure: numpy and scipy only, no prefect/sqlalchemy/httpx. A live ``vote`` flow draws a batch of samples
for every unfinished problem, builds a :class:`VoteState`, and asks a rule which problems may stop::

    rule = make_rule("bayes", threshold=10, max_samples=100)          # from RULES
    state = VoteState.from_sequences(answers_so_far, window=rule.window)  # answers: str, or None = no answer
    stop, score = rule.should_stop(state)                                # (P,) bool, (P,) float

Rules (``threshold`` means something different for each; all stop at ``max_samples``):

=========  ===========================================================  =======================
name       stops when                                                   threshold
=========  ===========================================================  =======================
bayes      Bo∞ Bayes factor ≥ B (:mod:`tasks.algorithms.bayes_factor`)             B, default 10
fixed      n ≥ N (plain majority of N samples)                          N
beta       Adaptive-Consistency: P(p₁ > p₂) under Beta(N₁+1, N₂+1) ≥ t  t, default 0.95
esc        ESC: the last window of w samples is one (non-empty) answer  w, default 5
gain       1/G ≥ T, G = E[max share − leader's share] under the DP      T, default 100
           posterior: expected accuracy left to gain
           (:mod:`tasks.algorithms.stopping_gain`)
rate       1/R ≥ T, R = best expected accuracy gained per sample over   T, default 1000
           the next 1–64 samples × chance of a vote: one price per
           sample for all problems (:mod:`tasks.algorithms.stopping_rate`)
=========  ===========================================================  =======================

Votes: ``None`` (or the empty string) is "no answer" and is not a vote, but it is a sample (it costs
tokens and counts towards n and max_samples); the string "unextractable" is an ordinary answer.
Ties: among answers tied for the plurality the earliest-seen one wins (first appearance in the sample
order), which is also what ``Counter.most_common`` does in the authors' code.

Differences from the authors' code (``compat="authors"`` reproduces theirs; chorus is the default)
----------------------------------------------------------------------------------------------------
1. Posterior: chorus uses the Dirichlet-process posterior Dirichlet(N₁, …, N_s, α); the authors use
   Dirichlet(N₁+1, …, N_s+1, α+1) (Laplace smoothing on every bucket, the unknown one included).
2. P(H₁): chorus integrates exactly (1-D quadrature, ~1e-10 relative); the authors draw 1000
   Dirichlet samples (3000 when N_max ≥ 3000). Compat mode draws the number of disagreeing draws from
   Binomial(M, exact p₀), which has exactly the distribution of their count, at a fraction of the cost.
3. Saturation: when no draw disagrees the authors replace P(H₀) by exp(−N₁·gap²/2),
   gap = max((c₁−c₂)/Σc, 1e-4) over counts that include α for the unknown bucket, so their BF is capped
   near 2000 and then *falls* as evidence grows; chorus never saturates ([50, 1] → BF ≈ 2e15).
4. Multiplier: chorus uses s (distinct answers seen); the authors use s + 1 (the unknown bucket).
5. BF = 0 when no draw agrees (authors); chorus has no such case.
6. Blank answers: the authors' loader (``AnalysisData`` in ``boinf/ensemble_utils.py``) drops every
   empty or null answer from ``all_answers`` and ``answer_counts`` when it reads a file, so their rule
   never sees a blank sample and never stops on one. Compat mode replays the same pools (blanks removed;
   a problem with only blanks gives ("", 0 tokens) on every draw, as their sampler's fallback does, so
   it stops at n = 1 on their BF = +inf and predicts "unknown", always wrong). In a live ``vote`` the
   blanks cannot be removed in advance: compat mode there never stops on a state with no vote yet.
   chorus counts a blank as a sample without a vote (it was paid for) and keeps sampling.
7. Check points: the authors check after every sample when N_max ≤ 100, else only at
   n ∈ {1, 2, 4, 8, 16, 24, 32, 40, 60, 80, 100, 120, 140, …}; chorus checks after every sample
   (a live flow checks after every batch).
8. Tokens (simulator): the authors add a sample's tokens only when it has an answer; chorus counts
   every drawn sample's tokens (a sample without an answer was still paid for).
9. Simulator: one Bayes-factor draw per (trial, problem, n) is shared by all thresholds (common random
   numbers); the authors ran each threshold separately. Each threshold's curve has the same
   distribution; differences between thresholds are less noisy.
10. Ties at the top: the authors' ``np.argmax(counts)`` picks the first tied bucket in insertion
    order; its probability of winning is symmetric, so the exact p₀ does not depend on the choice.
11. Bo∞ (simulator): the authors take the plurality of each file's ``answer_counts`` after their loader
    (blanks removed, ``^\\circ`` and ``\\dfrac`` variants merged, ties to the file's key order); chorus
    takes the plurality of ``all_answers`` (no-answers ignored, ties to first appearance; authors mode
    weights a mixture by answered samples only, as they do). On all 24 shared files the two give the
    same Bo∞ (their answer_counts are the counts of all_answers, in first-appearance order).
12. Simulator shortcut (authors mode): a row whose chance of reaching the lowest open threshold is
    provably < 1e-12 (pairwise bound on p₀) is not drawn at that check; expected changed decisions in
    a 100-trial MATH500 run are < 1e-5. The chorus shortcut (an upper bound on BF) changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from storage.errors import ChorusError
from tasks.algorithms.bayes_factor import (
    authors_bayes_factors,
    authors_p_not_mode,
    authors_stop_chance_bound,
    bayes_factor_bounds,
    bayes_factors,
)
from tasks.algorithms.stopping_baselines import beta_scores, window_unanimous
from tasks.algorithms.stopping_gain import gain_lower_bound, inverse_gain
from tasks.algorithms.stopping_rate import gain_rate_per_vote, rate_score

COMPAT_MODES = ("chorus", "authors")
_AUTHORS_BASE_POINTS = (1, 2, 4, 8, 16, 24, 32, 40, 60, 80, 100)


def plurality(answers_in_order: Sequence[str | None]) -> str | None:
    """The most frequent answer; ties go to the earliest-seen; None/"" are not votes; None if no votes."""
    counts: dict[str, int] = {}
    for answer in answers_in_order:
        if answer:
            counts[answer] = counts.get(answer, 0) + 1
    best: str | None = None
    for answer, count in counts.items():  # dict order = first appearance, so strict > keeps the earliest
        if best is None or count > counts[best]:
            best = answer
    return best


def plurality_columns(counts: np.ndarray) -> np.ndarray:
    """Vectorised :func:`plurality`: the winning column per row, columns numbered in order of first
    appearance (as :meth:`VoteState.from_sequences` and the simulator number them); -1 for no votes."""
    counts = np.asarray(counts)
    if counts.shape[1] == 0:
        return np.full(counts.shape[0], -1)
    col = np.argmax(counts, axis=1)  # argmax returns the first (earliest-seen) of tied maxima
    return np.where(counts.max(axis=1) > 0, col, -1)


def check_points(n_max: int, compat: str = "chorus") -> np.ndarray:
    """Sample counts n (1-based) after which the Bayes rule is evaluated."""
    _check_compat(compat)
    if compat == "chorus" or n_max <= 100:
        return np.arange(1, n_max + 1)
    points = {p for p in _AUTHORS_BASE_POINTS if p <= n_max} | set(range(120, n_max + 1, 20))
    return np.array(sorted(points))


@dataclass(frozen=True)
class VoteState:
    """Where each of P problems stands.

    counts: (P, K) votes per distinct answer; column j is the j-th distinct answer seen (first-appearance
        order, which makes :func:`plurality_columns` apply the earliest-seen tie rule). Zero-padded.
    n: (P,) samples drawn so far, no-answer samples included.
    last: (P, W) or None: column ids of the last W samples, oldest first; -1 = no answer / not drawn.
        Only ESC needs it (W ≥ its window).
    """

    counts: np.ndarray
    n: np.ndarray
    last: np.ndarray | None = None

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[str | None]], window: int = 5) -> VoteState:
        """Build the state from each problem's answers in sampling order (None or "" = no answer)."""
        ids: list[list[int]] = []
        width = 1
        for seq in sequences:
            seen: dict[str, int] = {}
            row = [seen.setdefault(a, len(seen)) if a else -1 for a in seq]
            ids.append(row)
            width = max(width, len(seen))
        counts = np.zeros((len(ids), width), dtype=np.int64)
        last = np.full((len(ids), max(window, 1)), -1, dtype=np.int64)
        for i, row in enumerate(ids):
            votes = [j for j in row if j >= 0]
            if votes:
                counts[i] += np.bincount(votes, minlength=width)
            tail = row[-window:] if window > 0 else []
            if tail:
                last[i, last.shape[1] - len(tail) :] = tail
        return cls(counts, np.array([len(r) for r in ids], dtype=np.int64), last)


@dataclass(frozen=True)
class StoppingRule:
    """A stopping rule: ``should_stop(state) -> (stop, score)``; see the module docstring's table.

    Rules whose score depends only on the sorted vote counts (``bayes``, ``beta``, ``gain``) also expose
    ``count_stat`` (deterministic, cacheable per count vector) and ``finish`` (turns it into the score;
    only the authors' Monte Carlo rule is random) so the simulator can memoise.
    """

    name: str
    threshold: float
    max_samples: int
    alpha: float = 0.3
    compat: str = "chorus"

    @property
    def window(self) -> int:
        """Samples of history the rule needs in ``VoteState.last``."""
        return int(self.threshold) if self.name == "esc" else 1

    @property
    def count_based(self) -> bool:
        return self.name in ("bayes", "beta", "gain", "rate")

    def check_points(self) -> np.ndarray:
        """The n at which the simulator evaluates the rule (ESC: ends of its non-overlapping windows)."""
        if self.name == "bayes":
            return check_points(self.max_samples, self.compat)
        if self.name == "esc":
            return np.arange(self.window, self.max_samples + 1, self.window)
        if self.name == "fixed":
            return np.array([min(int(self.threshold), self.max_samples)])
        return np.arange(1, self.max_samples + 1)

    def count_stat(self, sorted_counts: np.ndarray) -> np.ndarray:
        if self.name == "beta":
            return beta_scores(sorted_counts)
        if self.name == "gain":
            return inverse_gain(sorted_counts, self.alpha)
        if self.name == "rate":
            return gain_rate_per_vote(sorted_counts, self.alpha)
        if self.compat == "authors":
            return authors_p_not_mode(sorted_counts, self.alpha)
        return bayes_factors(sorted_counts, self.alpha)

    def finish(
        self, stat: np.ndarray, sorted_counts: np.ndarray, rng: np.random.Generator, samples: np.ndarray | int = 0
    ) -> np.ndarray:
        """The score from the memoised statistic; ``samples`` (n per row, blanks included): ``rate`` only."""
        if self.name == "rate":
            return rate_score(stat, sorted_counts.sum(axis=1), np.broadcast_to(samples, stat.shape))
        if self.name == "bayes" and self.compat == "authors":
            return authors_bayes_factors(sorted_counts, self.alpha, n_max=self.max_samples, rng=rng, p0=stat)
        return stat

    def screen(self, sorted_counts: np.ndarray, need: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(provisional scores, rows that need the exact score) for rows that can stop only at a score
        ≥ ``need``. Chorus Bayes and gain: rows whose cheap upper bound is below ``need`` keep the
        bound, so no decision changes. Authors: rows whose chance of reaching ``need`` is < 1e-12 (bounded with
        the pairwise p₀) keep 0. Other rules: every row needs its exact score."""
        rows = np.arange(sorted_counts.shape[0])
        if self.name == "bayes" and self.compat == "chorus":
            bound = bayes_factor_bounds(sorted_counts, self.alpha)
            return bound, rows[bound >= need]
        if self.name == "gain":  # 1/G ≤ 1/(pairwise lower bound on G): rows below need cannot stop
            with np.errstate(divide="ignore"):
                bound = 1.0 / gain_lower_bound(sorted_counts, self.alpha)
            return bound, rows[bound >= need]
        if self.name == "bayes":
            chance = authors_stop_chance_bound(sorted_counts, need, self.alpha, self.max_samples)
            return np.zeros(rows.size), rows[chance >= 1e-12]
        return np.zeros(rows.size), rows

    def score(self, state: VoteState, rng: np.random.Generator | None = None) -> np.ndarray:
        """The rule's statistic per problem (higher = more confident)."""
        if self.name == "fixed":
            return np.asarray(state.n, dtype=float)
        if self.name == "esc":
            if state.last is None or state.last.shape[1] < self.window:
                raise ChorusError(f"esc rule needs the last {self.window} answers in VoteState.last")
            return window_unanimous(state.last, self.window).astype(float)
        counts = -np.sort(-np.asarray(state.counts), axis=1)
        rng = np.random.default_rng() if rng is None else rng
        return self.finish(self.count_stat(counts), counts, rng, np.asarray(state.n))

    def should_stop(self, state: VoteState, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(stop, score) per problem: stop when score ≥ threshold (ESC: score 1) or n ≥ max_samples."""
        score = self.score(state, rng)
        bar = 1.0 if self.name == "esc" else self.threshold
        hit = score >= bar
        if self.name == "bayes" and self.compat == "authors":
            hit &= np.asarray(state.counts).sum(axis=1) > 0  # their loader never lets a blank reach the rule
        return hit | (np.asarray(state.n) >= self.max_samples), score


RULES: dict[str, dict[str, float]] = {
    "bayes": {"threshold": 10.0},
    "fixed": {"threshold": 10.0},
    "beta": {"threshold": 0.95},
    "esc": {"threshold": 5.0},
    "gain": {"threshold": 100.0},
    "rate": {"threshold": 1000.0},
}
"""Rule names and their default thresholds (see the module docstring for what each threshold means)."""
THRESHOLD_SYMBOL = {"bayes": "B", "fixed": "N", "beta": "t", "esc": "w", "gain": "T", "rate": "T"}
"""How tables and plots name each rule's threshold (the letters of the module docstring's table)."""


def setting_label(rule: str, setting: float) -> str:
    """A curve point's label in tables and plots: "B=10" for bayes, "T=100" for gain, ..."""
    return f"{THRESHOLD_SYMBOL.get(rule, 'threshold')}={setting:g}"


def make_rule(
    name: str,
    threshold: float | None = None,
    max_samples: int = 100,
    alpha: float = 0.3,
    compat: str = "chorus",
) -> StoppingRule:
    """Build a rule by name; ``threshold=None`` takes the default from :data:`RULES`."""
    if name not in RULES:
        raise ChorusError(f"unknown stopping rule {name!r}; choose one of {', '.join(RULES)}")
    _check_compat(compat)
    if compat == "authors" and name in ("gain", "rate"):
        raise ChorusError(f"--compat authors is the authors' bayes rule; the {name} rule has no authors mode")
    if max_samples < 1:
        raise ChorusError(f"max_samples must be at least 1, got {max_samples}")
    if alpha <= 0:
        raise ChorusError(f"alpha must be positive, got {alpha}")
    threshold = RULES[name]["threshold"] if threshold is None else check_threshold(name, float(threshold))
    return StoppingRule(name, threshold, int(max_samples), float(alpha), compat)


def check_threshold(name: str, threshold: float, flag: str = "--threshold") -> float:
    """The threshold if it means something for rule `name`, else ChorusError naming `flag` and the value."""
    where = f"{flag} {threshold:g}: the {name} rule's threshold"
    if not math.isfinite(threshold) or threshold <= 0:
        raise ChorusError(f"{where} must be a finite number > 0")
    if name in ("fixed", "esc") and threshold != int(threshold):
        raise ChorusError(f"{where} is a sample count (a whole number ≥ 1)")
    if name == "beta" and not threshold < 1:
        raise ChorusError(f"{where} is a probability (between 0 and 1)")
    return threshold


def _check_compat(compat: str) -> None:
    if compat not in COMPAT_MODES:
        raise ChorusError(f"unknown compat mode {compat!r}; choose one of {', '.join(COMPAT_MODES)}")
