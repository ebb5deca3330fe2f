"""The ``rate`` stopping rule: stop when the next samples buy too little accuracy *per sample*.

Pure: numpy and scipy only. A budget spread over problems is best spent where the expected accuracy
gained per sample is largest; with one price λ per sample for every problem (the Lagrange multiplier of
the budget), a problem should stop as soon as no further number of samples m returns more than λ per
sample. That is this rule, with λ = 1/T. The ``gain`` rule thresholds the *total* gain still possible
(G = E[max share − leader's share]) and so keeps sampling near-ties up to N_max: G shrinks like 1/√n
there, but each extra sample realises only a small part of it. ``rate`` asks how fast the gain comes.

The value of m more samples (a knowledge-gradient look-ahead, as in Frazier, Powell & Dayanik 2008):
the leader's and the strongest competitor's shares (the runner-up, or the unseen mass α when one answer
has been seen) under the Dirichlet-process posterior Dirichlet(N₁, …, N_s, α), their difference
d = p₂ − p₁ approximated as Gaussian with the posterior mean μ = (a₂ − a₁)/A and variance σ²
(Dirichlet moments, A = Σ a). After m more samples the posterior mean of d moves with variance
s_m² = σ² · m/(A + m) (Dirichlet-multinomial pre-posterior), and switching to the runner-up when it
pulls ahead gains E[(μ + s_m Z)⁺] = s_m φ(μ/s_m) + μ Φ(μ/s_m). The rate is the best of these per sample
over m ∈ {1, 2, 4, …, 64}. Shares stand in for the chance of being right (the calibration ``gain`` uses,
fitted to nothing).

Samples without an answer: a sample buys a vote only with chance 1 − b, b the problem's blank rate;
b is estimated as (blanks + ½)/(n + 1) (Jeffreys' prior, fitted to nothing), so the rate per *sample*
is the rate per vote times (1 − b). A problem with no vote yet has everything to gain from its first
vote (gain 1 per vote): rate 1 − b, so a problem that only ever yields blanks is given up after about T
samples rather than run to N_max.

Score 1/rate, higher = more confident as for every rule; stop when the score ≥ T. Default 1000: the
Gaussian look-ahead under-rates what a few samples buy on small counts, so at T = 100 every problem
stops after its first vote (score 116); the frontier sweeps T, the default only has to be usable.
"""

from __future__ import annotations

import numpy as np
from scipy import special

LOOKAHEADS = np.array([1, 2, 4, 8, 16, 32, 64], dtype=float)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def gain_rate_per_vote(counts: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """max over m of (expected accuracy gained by m more votes) / m, per row of ``counts``
    ((P, K), zero-padded, any column order). Rows with no votes give 1."""
    srt = -np.sort(-np.asarray(counts, dtype=float), axis=1)
    rows = srt.shape[0]
    if srt.shape[1] == 0:
        return np.ones(rows)
    a1 = srt[:, 0]
    a2 = np.maximum(srt[:, 1], alpha) if srt.shape[1] > 1 else np.full(rows, alpha)
    total = srt.sum(axis=1) + alpha
    live = a1 > 0
    a1s, tot = np.where(live, a1, 1.0), np.where(live, total, 1.0 + alpha)
    mu = (a2 - a1s) / tot
    var = (a1s * (tot - a1s) + a2 * (tot - a2) + 2.0 * a1s * a2) / (tot**2 * (tot + 1.0))
    s = np.sqrt(var[:, None] * LOOKAHEADS[None, :] / (tot[:, None] + LOOKAHEADS[None, :]))
    z = mu[:, None] / s
    value = s * _INV_SQRT_2PI * np.exp(-0.5 * z**2) + mu[:, None] * special.ndtr(z)
    rate = (np.maximum(value, 0.0) / LOOKAHEADS[None, :]).max(axis=1)
    return np.where(live, rate, 1.0)


def vote_chance(votes: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """1 − b: the chance that the next sample gives a vote, b = (blanks + ½)/(n + 1)."""
    votes, samples = np.asarray(votes, dtype=float), np.asarray(samples, dtype=float)
    return 1.0 - (samples - votes + 0.5) / (samples + 1.0)


def rate_score(rate_per_vote: np.ndarray, votes: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """The ``rate`` rule's score 1/(rate per vote × chance of a vote); inf when nothing is left to gain."""
    with np.errstate(divide="ignore"):
        return 1.0 / (np.asarray(rate_per_vote) * vote_chance(votes, samples))
