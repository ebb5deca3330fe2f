"""The ``gain`` stopping rule: stop when more samples can buy little expected accuracy.

Pure: numpy and scipy only. Posterior over a problem's answer distribution: the Dirichlet process
posterior Dirichlet(N₁, …, N_s, α) (seen answers and the unseen mass), as the ``bayes`` rule. If the
chance that an answer is right grows with its share of the model's answers (taken here as equal to the
share, the simplest calibration, fitted to nothing), then sampling on until the plurality is the mode
can raise the chance of being right by at most

    G = E[max_a p_a − p_leader | D],

the posterior expected share the current plurality gives up to the mode. The ``bayes`` rule asks
"is the leader the mode?" and so spends up to N_max samples on near-ties between answers of similar
share, where finding the mode is worth little; G is small there as soon as the top shares are known to
be close, and small on clear pluralities as soon as the lead is clear. Stop when 1/G ≥ T (T = 100:
less than one point of expected accuracy left to gain on this problem).

G exactly, by size-biasing: E[p_a · 1{a is the max}] = (a_a / A) · P_{a + e_a}(a is the max) with
A = Σ a, so G = Σ_a (a_a / A) · P_{a+e_a}(a is max) − a_leader / A, each P by the one-dimensional
quadrature of :func:`tasks.algorithms.bayes_factor.p_not_mode` (deterministic, so the simulator memoises
it per count vector).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from tasks.algorithms.bayes_factor import p_not_mode


def expected_gain(counts: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """G = E[max_a p_a − p_leader] per row of ``counts`` ((P, K), zero-padded, any column order);
    the leader is the largest count. Rows with no votes give 1 (everything still to gain)."""
    srt = -np.sort(-np.asarray(counts, dtype=float), axis=1)
    out = np.ones(srt.shape[0])
    if srt.shape[1] == 0:
        return out
    live = srt[:, 0] > 0
    if not live.any():
        return out
    params = np.concatenate([srt[live], np.full((int(live.sum()), 1), float(alpha))], axis=1)
    rows = params.shape[0]
    total = params.sum(axis=1)
    # one quadrature row per (problem, bucket a): top = a_a + 1 against every other bucket (0 = padding)
    r_idx, a_idx = np.nonzero(params > 0)
    top = params[r_idx, a_idx] + 1.0
    others = params[r_idx].copy()
    others[np.arange(r_idx.size), a_idx] = 0.0
    p_max = 1.0 - p_not_mode(top, others)
    e_max = np.bincount(r_idx, weights=params[r_idx, a_idx] / total[r_idx] * p_max, minlength=rows)
    out[live] = np.clip(e_max - params[:, 0] / total, 0.0, 1.0)
    return out


def inverse_gain(counts: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """The ``gain`` rule's score 1/G (higher = more confident, as every rule's score; inf when G = 0)."""
    with np.errstate(divide="ignore"):
        return 1.0 / expected_gain(counts, alpha)


def gain_lower_bound(counts: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """A cheap lower bound on G: E[(p₂ − p₁)⁺] for the runner-up alone (the unseen mass when s = 1),
    since max_a p_a ≥ p₂. By size-biasing, with A = Σ a and P(p₂ > p₁) = I_½(a₁, a₂) (pairwise Beta):
    E[(p₂ − p₁)⁺] = (a₂/A)·I_½(a₁, a₂+1) − (a₁/A)·I_½(a₁+1, a₂). Rows with no votes give 1."""
    srt = -np.sort(-np.asarray(counts, dtype=float), axis=1)
    if srt.shape[1] == 0:
        return np.ones(srt.shape[0])
    a1 = srt[:, 0]
    a2 = np.where(srt[:, 1] > 0, srt[:, 1], alpha) if srt.shape[1] > 1 else np.full(a1.shape, alpha)
    total = srt.sum(axis=1) + alpha
    live = a1 > 0
    safe = np.where(live, a1, 1.0)
    lb = (a2 / total) * special.betainc(safe, a2 + 1.0, 0.5) - (safe / total) * special.betainc(safe + 1.0, a2, 0.5)
    return np.where(live, np.clip(lb, 0.0, 1.0), 1.0)
