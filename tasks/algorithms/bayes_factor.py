"""Best-of-∞ Bayes factors, computed by one-dimensional quadrature, vectorised over many problems.

Pure: numpy and scipy only. The math (see /work/shared/NOTES.md, "Best-of-∞"): answer counts
N₁ ≥ N₂ ≥ … ≥ N_s and a Dirichlet-process prior with concentration α give the posterior
Dirichlet(a₁, …, a_s, a₀) over the seen answers and the unseen mass. With independent
Gᵢ ~ Gamma(aᵢ, 1), the top answer is the mode exactly when G₁ beats every competitor, so

    P(H₀ | D) = ∫₀^∞ f_{a₁}(x) · (1 − Π_{j≥2} F_{a_j}(x)) dx,

f the Gamma density and F_a(x) the regularised lower incomplete gamma. The bracket is computed as
``-expm1(Σ log1p(-gammaincc(a_j, x)))`` so a tiny P(H₀) keeps its relative precision: counts [50, 1]
give P(H₀) ≈ 9e-16 and BF ≈ 2e15 instead of saturating.

Why it is fast: the integral is taken in u = √x, where every Gamma density (and so the integrand)
has width ≈ ½, with Gauss–Legendre panels of width 1 on [0, √L], L = a₁ + 12√a₁ + 30 (the largest a₁
of the call). All rows share that grid, so ``log F_a(x)`` is tabulated once per distinct parameter
value (counts are small integers: few distinct values) and each row's Σ_j log F_{a_j} is a
(rows × values) @ (values × nodes) matrix product.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

_NODES_PER_PANEL = 8
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_NODES_PER_PANEL)
_GRADED = np.array([0.001, 0.01, 0.05, 0.2, 0.5, 1.0])


def _grid(a1_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes x and weights (including the dx = 2u du Jacobian) covering [0, a₁ + 12√a₁ + 30]."""
    upper = np.sqrt(a1_max + 12.0 * np.sqrt(a1_max) + 30.0)
    # geometric panels near 0 resolve the x^α cusp of F_α (the unseen-mass competitor)
    edges = np.concatenate([[0.0], _GRADED[upper > _GRADED], np.arange(1.0, upper, 1.0)[1:], [upper]])
    half = np.diff(edges)[:, None] / 2.0
    u = (edges[:-1, None] + half * (_GL_X[None, :] + 1.0)).ravel()
    w = (half * _GL_W[None, :]).ravel() * 2.0 * u
    return u * u, w


def p_not_mode(top: np.ndarray, others: np.ndarray) -> np.ndarray:
    """P(G_top < max_j G_others_j) for each row, with G ~ Gamma(a, 1) independent.

    ``top`` is (R,) with values > 0; ``others`` is (R, K) with 0 meaning "no such competitor" (padding).
    Rows without any competitor get 0. Accurate to ~1e-10 relative (checked against scipy quad).
    """
    top = np.asarray(top, dtype=float)
    others = np.asarray(others, dtype=float)
    if top.size == 0:
        return np.zeros(0)
    x, w = _grid(float(top.max()))
    values, inverse = np.unique(others, return_inverse=True)
    inverse = inverse.reshape(others.shape)
    # multiplicity[r, v] = how many competitors of row r have parameter values[v]
    flat = np.repeat(np.arange(others.shape[0]), others.shape[1]) * values.size + inverse.ravel()
    mult = np.bincount(flat, minlength=others.shape[0] * values.size).reshape(-1, values.size)
    positive = values > 0
    q = special.gammaincc(values[positive][:, None], x[None, :])
    # log F = log1p(-Q) keeps precision where F ≈ 1 (the tail that decides a tiny P(H₀));
    # clip -inf (F underflowed to 0) so that 0 multiplicity × log F stays 0, not nan.
    with np.errstate(divide="ignore"):
        log_f = np.maximum(np.log1p(-q), -1e300)
    log_prod = mult[:, positive].astype(float) @ log_f
    bracket = -np.expm1(log_prod)
    tops, top_inv = np.unique(top, return_inverse=True)
    log_density = (tops[:, None] - 1.0) * np.log(x[None, :]) - x[None, :] - special.gammaln(tops)[:, None]
    p0 = np.einsum("rk,rk->r", np.exp(log_density)[top_inv.ravel()] * w[None, :], bracket)
    return np.clip(p0, 0.0, 1.0)


def _sorted_desc(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"counts must be a 2-D (problems, answers) array, got shape {counts.shape}")
    if counts.size and counts.min() < 0:
        raise ValueError("counts must be non-negative")
    return -np.sort(-counts, axis=1)


def bayes_factors(counts: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """Bo∞ Bayes factor BF = s · P(H₁|D) / P(H₀|D) for each row of ``counts`` (chorus default).

    counts: (P, K) non-negative integers, zero-padded, columns in any order. H₁: the current plurality
    answer is the mode. Posterior Dirichlet(N₁, …, N_s, α); s = number of distinct answers seen; with
    s = 1 the only competitor is the unseen mass (a₀ = α). Rows with no answers give 0.
    """
    srt = _sorted_desc(counts).astype(float)
    out = np.zeros(srt.shape[0])
    live = srt[:, 0] > 0 if srt.shape[1] else np.zeros(srt.shape[0], dtype=bool)
    if not live.any():
        return out
    srt = srt[live]
    s = (srt > 0).sum(axis=1)
    others = np.concatenate([srt[:, 1:], np.full((srt.shape[0], 1), float(alpha))], axis=1)
    p0 = p_not_mode(srt[:, 0], others)
    with np.errstate(divide="ignore"):
        out[live] = s * (1.0 - p0) / p0
    return out


def bayes_factor(counts: Sequence[int], alpha: float = 0.3) -> float:
    """Scalar :func:`bayes_factors` for one problem's answer counts (any order)."""
    return float(bayes_factors(np.asarray([list(counts) or [0]]), alpha)[0])


def bayes_factor_bounds(counts: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """Cheap upper bounds on :func:`bayes_factors`: P(H₀) ≥ P(G₁ < G₂) = I_½(a₁, a₂) for the strongest
    competitor alone (the runner-up, or the unseen mass when s = 1). Rows with no answers give 0."""
    srt = _sorted_desc(counts).astype(float)
    if srt.shape[1] == 0:
        return np.zeros(srt.shape[0])
    n1 = srt[:, 0]
    n2 = srt[:, 1] if srt.shape[1] > 1 else np.zeros(srt.shape[0])
    s = (srt > 0).sum(axis=1)
    a2 = np.where(n2 > 0, n2, alpha)
    live = n1 > 0
    p_pair = special.betainc(np.where(live, n1, 1.0), a2, 0.5)
    with np.errstate(divide="ignore"):
        return np.where(live, s * (1.0 - p_pair) / p_pair, 0.0)


# ---- the authors' published rule (compat="authors") --------------------------------------------


def authors_draws(n_max: int) -> int:
    """Monte Carlo draws per check in the authors' code: 3000 when N_max ≥ 3000, else 1000."""
    return 3000 if n_max >= 3000 else 1000


def authors_p_not_mode(counts: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """Exact probability that one Monte Carlo draw of the authors' code disagrees with the mode.

    Their draw is Dirichlet(N₁+1, …, N_s+1, α+1) over the seen answers plus the "unknown" bucket; a
    draw agrees when the top-count answer has the largest share. Rows with no answers give 0.
    """
    srt = _sorted_desc(counts).astype(float)
    out = np.zeros(srt.shape[0])
    live = srt[:, 0] > 0 if srt.shape[1] else np.zeros(srt.shape[0], dtype=bool)
    if live.any():
        sub = srt[live]
        others = np.where(sub[:, 1:] > 0, sub[:, 1:] + 1.0, 0.0)
        others = np.concatenate([others, np.full((sub.shape[0], 1), alpha + 1.0)], axis=1)
        out[live] = p_not_mode(sub[:, 0] + 1.0, others)
    return out


def authors_bayes_factors(
    counts: np.ndarray,
    alpha: float = 0.3,
    *,
    n_max: int = 100,
    rng: np.random.Generator | None = None,
    p0: np.ndarray | None = None,
) -> np.ndarray:
    """The authors' Monte Carlo Bayes factor, drawn with exactly its sampling distribution.

    The number of their ``M`` Dirichlet draws that disagree with the mode is Binomial(M, p₀), p₀ from
    :func:`authors_p_not_mode` (pass ``p0`` when cached), so one binomial draw replaces M Dirichlet
    draws. Then, as in their code: BF = (s+1)·K/D with K agreeing and D disagreeing draws (s+1 counts
    the unknown bucket); D = 0 → P(H₀) := exp(−N₁·gap²/2), gap = max((c₁ − c₂)/Σc, 1e-4) over their
    count list c (seen counts plus α for the unknown bucket); K = 0 → 0; no answer yet → +inf (their
    code stops at once when the only bucket is "unknown").
    """
    rng = np.random.default_rng() if rng is None else rng
    srt = _sorted_desc(counts).astype(float)
    rows = srt.shape[0]
    if p0 is None:
        p0 = authors_p_not_mode(srt, alpha)
    m = authors_draws(n_max)
    disagree = rng.binomial(m, np.clip(p0, 0.0, 1.0))
    agree = m - disagree
    s = (srt > 0).sum(axis=1)
    n1 = srt[:, 0] if srt.shape[1] else np.zeros(rows)
    n2 = np.where(s >= 2, srt[:, 1] if srt.shape[1] > 1 else 0.0, alpha)
    gap = np.maximum((n1 - n2) / (srt.sum(axis=1) + alpha), 1e-4)
    hoeffding = np.exp(-n1 * gap * gap / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bf = np.where(disagree > 0, (s + 1) * agree / np.maximum(disagree, 1), (s + 1) * (agree / m) / hoeffding)
    bf = np.where(agree == 0, 0.0, bf)
    return np.where(s == 0, np.inf, bf)


def authors_stop_chance_bound(counts: np.ndarray, threshold: np.ndarray, alpha: float, n_max: int) -> np.ndarray:
    """Upper bound on P(authors' BF ≥ threshold) per row, from the pairwise lower bound on p₀.

    BF ≥ B needs D ≤ (s+1)·M/(B+s+1) disagreeing draws (D = 0 included), and D ~ Binomial(M, p₀) with
    p₀ ≥ I_½(N₁+1, a₂+1), a₂ the runner-up count (α when s = 1). Rows with no answers give 1.
    """
    srt = _sorted_desc(counts).astype(float)
    n1 = srt[:, 0]
    n2 = srt[:, 1] if srt.shape[1] > 1 else np.zeros(srt.shape[0])
    s = (srt > 0).sum(axis=1)
    m = authors_draws(n_max)
    p_pair = special.betainc(np.maximum(n1, 1.0) + 1.0, np.where(n2 > 0, n2, alpha) + 1.0, 0.5)
    d_max = np.floor((s + 1) * m / (np.asarray(threshold, dtype=float) + s + 1))
    chance = special.bdtr(d_max, m, p_pair)
    return np.where(n1 > 0, chance, 1.0)
