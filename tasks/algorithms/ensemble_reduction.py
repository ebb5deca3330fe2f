"""Pre-solve reductions of the ensemble MILP, and the leads a weight vector gives each problem.

A row Σᵢ wᵢ cᵣᵢ ≥ ε can be dropped when no weight on the bounded simplex can violate it (it never
binds) or when another row of the same problem dominates it (≈ 90 % of rows on real data).
Pure numpy/scipy: no prefect, sqlalchemy or httpx.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

TOL = 1e-9  # a lead this close to the threshold is the solver's rounding, not a decision


def problem_rows(probs: np.ndarray) -> np.ndarray:
    """Rows (R, K) of coefficients pᵢ(gold) − pᵢ(a), one per wrong answer (or gold vs nothing)."""
    if probs.shape[1] == 1:
        return probs[:, :1].T.copy()
    return (probs[:, :1] - probs[:, 1:]).T


def min_leads(problems: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Per problem, the smallest lead Σᵢ wᵢ cᵣᵢ over its rows (the gold's margin over its best rival)."""
    w = np.asarray(weights, dtype=float)
    return np.array([float((problem_rows(p) @ w).min()) for p in problems])


def solved_mask(problems: Sequence[np.ndarray], weights: np.ndarray, epsilon: float = 1e-6) -> np.ndarray:
    """Which problems the weighted mixture gets right under the ``epsilon`` convention."""
    return min_leads(problems, weights) >= epsilon - TOL


@dataclass
class _Reduced:
    fixed_solved: list[int]
    unsolvable: list[int]
    stage1: dict[int, np.ndarray]  # free problem -> rows that can still fail
    stage2: dict[int, np.ndarray]  # solvable problem -> non-dominated rows (bind once m > ε)
    n_rows: int
    n_kept: int
    lead: dict[int, float] = field(default_factory=dict)  # upper bound on the margin q allows


def _undominated(rows: np.ndarray) -> np.ndarray:
    """Drop rows implied by another row of the same problem (coefficient-wise ≥); keep one duplicate."""
    if len(rows) <= 1:
        return rows
    ge = (rows[:, None, :] >= rows[None, :, :] - 1e-12).all(axis=2)  # ge[r, s]: r ≥ s everywhere
    np.fill_diagonal(ge, False)
    idx = np.arange(len(rows))
    earlier_or_strict = ~ge.T | (idx[None, :] < idx[:, None])  # s dominates r, or equal and s first
    redundant = (ge & earlier_or_strict).any(axis=1)
    return rows[~redundant]


def reduce_problems(
    problems: Sequence[np.ndarray],
    epsilon: float,
    reduce: bool = True,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> _Reduced:
    """Pre-solve: fix problems no w can solve / every w solves, drop rows that can never bind."""
    red = _Reduced([], [], {}, {}, 0, 0)
    k = problems[0].shape[0] if problems else 0
    lo = np.zeros(k) if lower is None else np.asarray(lower, dtype=float)
    up = np.ones(k) if upper is None else np.asarray(upper, dtype=float)
    for q, probs in enumerate(problems):
        rows = problem_rows(probs)
        red.n_rows += len(rows)
        if not reduce:
            red.stage1[q] = red.stage2[q] = rows
            red.n_kept += len(rows)
            red.lead[q] = 1.0
            continue
        # Σ wᵢ cᵢ ≤ maxᵢ cᵢ on the simplex: a row whose best case misses ε can never hold. This covers
        # "gold never seen" and all-zero rows under ε > 0 (0 ≥ ε is false, so a tie is never a win).
        if (rows.max(axis=1) < epsilon - TOL).any():
            red.unsolvable.append(q)
            continue
        rows = _undominated(rows)
        binding = rows[rows.min(axis=1) < epsilon - TOL]  # others hold for every w on the simplex
        if len(binding) == 0:
            red.fixed_solved.append(q)
            red.lead[q] = float(rows.max(axis=1).min())  # cheap, valid: Σ w c ≤ max c
        else:
            # Rows that each can hold may still exclude each other: the LP says whether any w wins q.
            lead = best_lead(rows, lo, up) if len(binding) > 1 else float(rows.max(axis=1).min())
            if lead < epsilon - TOL:
                red.unsolvable.append(q)
                continue
            red.stage1[q] = binding
            red.n_kept += len(binding)
            red.lead[q] = lead
        red.stage2[q] = rows
    return red


def best_lead(rows: np.ndarray, lo: np.ndarray, up: np.ndarray) -> float:
    """max over the bounded simplex of minᵣ Σᵢ wᵢ cᵣᵢ: the widest margin q allows on its own (an LP)."""
    from scipy.optimize import linprog

    k = rows.shape[1]
    # Variables (w, t): maximise t subject to t − C w ≤ 0, Σ w = 1.
    res = linprog(
        np.r_[np.zeros(k), -1.0],
        A_ub=np.c_[-rows, np.ones(len(rows))],
        b_ub=np.zeros(len(rows)),
        A_eq=np.r_[np.ones(k), 0.0][None, :],
        b_eq=[1.0],
        bounds=[*zip(lo, up, strict=True), (-1.0, 1.0)],
        method="highs",
    )
    return float(-res.fun) if res.status == 0 else -1.0
