"""Bound (C) of bench_oracle_bound.py: the best rule that decides from the votes, knowing the file's mix.

The rule knows every problem's (p_g, p_w, p_rest) but not which problem it is sampling (a uniform prior
over the file's problems) nor which of the two tracked answers is the gold one; it sees the counts
(h ≥ l) of the two tracked answers and how many other samples were drawn. Bayes-optimal stopping for
"maximise Σ P(correct) − λ Σ samples" by backward induction over (n, h, l). A tie between the two is won
half the time (exact under the earliest-seen tie rule); optimistic: the rest never wins. Not a strict
bound for chorus's rules: they
see which of the other samples repeat (and blanks apart from wrong answers), which this rule does not;
but they do not know which two answers to track, nor the file's mix, which this rule does.
"""

from __future__ import annotations

import numpy as np


def _layer_states(n: int) -> tuple[np.ndarray, np.ndarray]:
    hi, lo = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = (lo <= hi) & (hi + lo <= n)
    return hi[keep], lo[keep]


def population_tables(shares: np.ndarray, n_max: int) -> list[tuple[np.ndarray, ...]]:
    """Per layer n: (h, l, P(next is the h answer), P(next is the l answer), P(rest), reward of stopping),
    under the posterior over (problem, which tracked answer is gold) given the state."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lg, lw, lr = (np.log(shares[:, i])[None, :] for i in range(3))
    pg, pw, pr = (shares[:, i][None, :] for i in range(3))

    def term(k: np.ndarray, logp: np.ndarray) -> np.ndarray:  # k·log p with 0·log 0 = 0
        with np.errstate(invalid="ignore"):
            return np.where(k[:, None] > 0, k[:, None] * logp, 0.0)

    tables = []
    for n in range(n_max + 1):
        h, lo = _layer_states(n)
        r = n - h - lo
        rest = term(r, lr)
        w1 = term(h, lg) + term(lo, lw) + rest  # gold = the answer with h votes
        w2 = np.where((h > lo)[:, None], term(lo, lg) + term(h, lw) + rest, -np.inf)  # gold = the one with lo
        top = np.maximum(w1.max(axis=1), w2.max(axis=1))[:, None]
        top = np.where(np.isfinite(top), top, 0.0)
        e1, e2 = np.exp(w1 - top), np.exp(w2 - top)
        z = (e1 + e2).sum(axis=1)
        z = np.where(z > 0, z, 1.0)
        up_h = ((e1 * pg + e2 * pw).sum(axis=1)) / z
        up_l = ((e1 * pw + e2 * pg).sum(axis=1)) / z
        p_rest = ((e1 + e2) * pr).sum(axis=1) / z
        # a tie goes to the earliest-seen answer: given the counts the order is exchangeable, so the gold
        # one is first with chance exactly 1/2
        reward = np.where(h == lo, 0.5 * (h > 0), e1.sum(axis=1) / z)
        tables.append((h, lo, up_h, up_l, p_rest, reward))
    return tables


def population_frontier(tables: list[tuple[np.ndarray, ...]], lam: float) -> tuple[float, float]:
    """(accuracy, mean samples) of the Bayes-optimal vote-only rule at price λ per sample."""
    n_max = len(tables) - 1
    grid = n_max + 2
    value = acc = used = None
    for n in range(n_max, -1, -1):
        h, lo, up_h, up_l, p_rest, reward = tables[n]
        if value is None:
            v, a, u = reward, reward, np.zeros_like(reward)
        else:
            # next layer: (h+1, lo), (h, lo+1) re-sorted, (h, lo) with one more "other" sample
            moves = ((up_h, h + 1, lo), (up_l, np.maximum(h, lo + 1), np.minimum(h, lo + 1)), (p_rest, h, lo))
            cont_v, cont_a, cont_u = (sum(p * x[i, j] for p, i, j in moves) for x in (value, acc, used))
            cont_v, cont_u = cont_v - lam, cont_u + 1.0
            go = (cont_v > reward) | (n == 0)
            v, a, u = np.where(go, cont_v, reward), np.where(go, cont_a, reward), np.where(go, cont_u, 0.0)
        value, acc, used = (np.zeros((grid, grid)) for _ in range(3))
        value[h, lo], acc[h, lo], used[h, lo] = v, a, u
    return float(acc[0, 0]), float(used[0, 0])
