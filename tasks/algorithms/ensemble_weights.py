"""Optimal weighted ensemble of models (Best-of-∞, §"optimal weights"): a two-stage MILP.

Pure: numpy and python-mip only (no prefect/sqlalchemy/httpx), so the tests run in milliseconds.

Input, per problem q, a matrix ``P`` of shape (K, 1 + W): row i is model i's answer distribution on q,
column 0 the gold answer (zeros when nobody produced it) and columns 1..W the wrong answers seen.
The weighted mixture Σᵢ wᵢ pᵢ(·|q) picks the gold answer when, for every wrong answer a,

    Σᵢ wᵢ (pᵢ(gold) − pᵢ(a)) ≥ ε                                           (one *row* per (q, a))

Tie convention: ``epsilon > 0`` (default 1e-6) asks for a strict win, a tie counts as wrong;
``epsilon = 0`` is the authors' convention (a problem counts as solved when no row is negative), and it
is the one that reproduces the paper's figures. A problem with no wrong answer gets the single row
Σᵢ wᵢ pᵢ(gold) ≥ ε (gold against "no answer at all"), which any wrong-answer row implies.

Stage 1 maximises Σ y_q subject to Σᵢ wᵢ cᵣᵢ ≥ ε − Mᵣ(1 − y_q), w on the (bounded) simplex. Mᵣ =
ε − minᵢ cᵣᵢ is the smallest valid big-M per row (≤ 1 + ε, the uniform one used without reductions).
Stage 2 (one more solve, not bisection) keeps Σ y_q ≥ count* and either maximises the margin m (a
variable in [ε, 1], big-M 1 − minᵢ cᵣᵢ ≤ 2) or minimises the token cost Σᵢ wᵢ cᵢ with Σ y_q ≥ count* − slack.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from storage.errors import ChorusError
from tasks.algorithms.ensemble_reduction import (  # noqa: F401 - re-exported for callers
    TOL,
    _Reduced,
    best_lead,
    min_leads,
    problem_rows,
    reduce_problems,
    solved_mask,
)
from tasks.algorithms.milp_solver import FEAS_TOL, Milp, solve_milp  # noqa: F401 - FEAS_TOL is part of this API

COUNT_GAPS = (0.0, 1.0 - 1e-6)
MARGIN_GAPS = (1e-3, 1e-6)  # the widest margin to 0.1 % (or 1e-6): proving the last digits is the slow part
COST_GAPS = (1e-4, 1e-6)
Stage2 = Literal["margin", "cost", "none"]


@dataclass(frozen=True)
class EnsembleSolution:
    """Best weights found; ``solved`` is recounted from the weights, not taken from the solver."""

    weights: np.ndarray
    solved: int
    total: int
    margin: float  # smallest lead of gold over a wrong answer among solved problems (nan if none)
    status: str  # of stage 1 (the count): optimal | feasible | no_solution | infeasible | ...
    objective: float  # stage-1 count as the solver reports it
    bound: float  # stage-1 upper bound on the count
    gap: float  # (bound - objective) / max(objective, 1)
    seconds: float
    solver: str
    rows: int  # rows in the stage-1 model
    dropped_rows: int  # rows removed by the reductions
    fixed_solved: int = 0  # problems solved by every weight vector (no y variable)
    fixed_unsolved: int = 0  # problems no weight vector solves (no y variable)
    stage2: str = "none"
    stage2_status: str = "skipped"
    cost: float | None = None  # Σ wᵢ cᵢ when costs were given

    @property
    def accuracy(self) -> float:
        return self.solved / self.total if self.total else 0.0


def _check_bounds(k: int, lower, upper, costs, budget) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    lo = np.zeros(k) if lower is None else np.asarray(lower, dtype=float)
    up = np.ones(k) if upper is None else np.asarray(upper, dtype=float)
    if lo.shape != (k,) or up.shape != (k,):
        raise ChorusError(f"--lower/--upper: need {k} values each, one per model")
    if (lo < 0).any() or (up > 1).any() or (lo > up).any():
        raise ChorusError("--lower/--upper: need 0 <= lower <= upper <= 1 for every model")
    if lo.sum() > 1 + TOL or up.sum() < 1 - TOL:
        raise ChorusError(
            f"--lower/--upper: infeasible, lower sums to {lo.sum():g}, upper to {up.sum():g}; weights sum to 1"
        )
    c = None
    if costs is not None:
        c = np.asarray(costs, dtype=float)
        if c.shape != (k,) or not np.isfinite(c).all() or (c < 0).any():
            raise ChorusError(f"ensemble costs: need {k} finite non-negative token costs, one per model")
    if budget is not None:
        if c is None:
            raise ChorusError("ensemble token_budget needs costs (mean completion tokens per model)")
        cheapest = _cheapest_weights(lo, up, c) @ c
        if cheapest > budget + TOL:
            raise ChorusError(
                f"ensemble token_budget {budget:g} is below the cheapest feasible mixture "
                f"({cheapest:g} tokens) under the weight bounds"
            )
    return lo, up, c


def check_bounds(k: int, lower: Sequence[float] | None, upper: Sequence[float] | None) -> None:
    """Raise ChorusError when per-model weight bounds cannot hold on the simplex (checked up front)."""
    _check_bounds(k, lower, upper, None, None)


def _cheapest_weights(lo: np.ndarray, up: np.ndarray, c: np.ndarray | None) -> np.ndarray:
    """A feasible point: lower bounds, then the remaining mass to the cheapest models first."""
    w, rest = lo.copy(), 1.0 - lo.sum()
    for i in np.argsort(c if c is not None else np.zeros(len(lo)), kind="stable"):
        take = min(up[i] - lo[i], rest)
        w[i] += take
        rest -= take
    return w


def _base(k: int, lo, up, c, budget, maximize: bool) -> tuple[Milp, list[int]]:
    milp = Milp(maximize)
    w = [milp.var(float(lo[i]), float(up[i])) for i in range(k)]
    milp.row(w, [1.0] * k, 1.0, 1.0)
    if budget is not None:
        milp.row(w, c, -np.inf, float(budget))
    return milp, w


def solve_ensemble(
    problems: Sequence[np.ndarray],
    *,
    epsilon: float = 1e-6,
    lower: Sequence[float] | None = None,
    upper: Sequence[float] | None = None,
    costs: Sequence[float] | None = None,
    token_budget: float | None = None,
    stage2: Stage2 = "margin",
    cost_slack: int = 0,
    solver: str = "cbc",
    time_limit: float = 60.0,
    threads: int = 1,
    reduce: bool = True,
) -> EnsembleSolution:
    """Weights on the simplex that maximise the number of problems the mixture's plurality gets right.

    ``time_limit`` is for both stages (stage 1 gets 3/4, stage 2 the rest, at least 1/20). When the
    count is not proven optimal, the best weights found are returned with ``status="feasible"``.
    """
    start = time.perf_counter()
    if not problems:
        raise ChorusError("ensemble: no problems to optimise over")
    k = problems[0].shape[0]
    if any(p.ndim != 2 or p.shape[0] != k or p.shape[1] < 1 for p in problems):
        raise ChorusError(f"ensemble: every problem needs a ({k}, 1 + wrong answers) distribution matrix")
    if not 0 <= epsilon < 1:
        raise ChorusError(f"ensemble epsilon must be in [0, 1), got {epsilon}")
    if solver not in ("cbc", "highs"):
        raise ChorusError(f"ensemble solver must be 'cbc' or 'highs', got {solver!r}")
    if int(threads) < 1:
        raise ChorusError(f"ensemble threads must be a positive number, got {threads}")
    if stage2 not in ("margin", "cost", "none"):
        raise ChorusError(f"ensemble stage2 must be 'margin', 'cost' or 'none', got {stage2!r}")
    if stage2 == "cost" and costs is None:
        raise ChorusError("ensemble stage2='cost' needs costs (mean completion tokens per model)")
    lo, up, c = _check_bounds(k, lower, upper, costs, token_budget)
    red = reduce_problems(problems, epsilon, reduce, lo, up)

    # Stage 1: the count.
    milp, w = _base(k, lo, up, c, token_budget, maximize=True)
    y = _count_rows(milp, w, red, epsilon, reduce, obj=1.0)
    # The count is an integer: an absolute gap below 1 already proves it optimal.
    share = 1.0 if stage2 == "none" else 0.75
    status, x, _, bound = solve_milp(milp, solver, int(threads), max(share * time_limit, 0.01), None, COUNT_GAPS)
    fixed = len(red.fixed_solved)
    weights = x[:k] if x is not None else _cheapest_weights(lo, up, c)
    # Count the y's of the returned point: CBC's reported objective can be one higher when a tie passes
    # inside its tolerances in the presolved model and fails after postsolve.
    count = (int(np.round(x[list(y.values())]).sum()) if x is not None else 0) + fixed
    bound = (np.floor(bound + 1e-6) if np.isfinite(bound) else len(y)) + fixed

    stage2_status = "skipped"
    if stage2 != "none" and x is not None:
        left = max(time_limit - (time.perf_counter() - start), 0.05 * time_limit, 0.01)
        milp2, w2 = _base(k, lo, up, c, token_budget, maximize=stage2 == "margin")
        if stage2 == "margin":
            m_ub = _margin_bound(red, count - fixed, epsilon)
            m = milp2.var(epsilon, m_ub, obj=1.0)
            y2 = {q: milp2.var(0.0, 1.0, integer=True) for q in red.stage1}
            for q, rows in red.stage2.items():
                for row in rows:
                    big_m = m_ub - row.min() if reduce else 2.0  # Σ w c − m ≥ −M(1 − y) since m ≤ m_ub
                    if q not in y2:  # solved for every w: its rows still bound the margin
                        milp2.row([*w2, m], [*row, -1.0], 0.0)
                    elif big_m > 0:
                        milp2.row([*w2, m, y2[q]], [*row, -1.0, -big_m], -big_m)
                if q in y2 and red.lead[q] < m_ub:  # m ≤ lead_q when q is counted: tightens the relaxation
                    milp2.row([m, y2[q]], [1.0, m_ub - red.lead[q]], -np.inf, m_ub)
            milp2.row(list(y2.values()), [1.0] * len(y2), count - fixed)
            warm = [*weights, epsilon, *x[k:]]
        else:
            y2 = _count_rows(milp2, w2, red, epsilon, reduce, obj=0.0)
            milp2.obj[:k] = list(c)
            milp2.row(list(y2.values()), [1.0] * len(y2), max(count - fixed - int(cost_slack), 0))
            warm = list(x)
        gaps = MARGIN_GAPS if stage2 == "margin" else COST_GAPS
        stage2_status, x2, _, _ = solve_milp(milp2, solver, int(threads), left, warm, gaps)
        if x2 is not None:
            weights = x2[:k]

    weights = np.clip(weights, 0.0, None)
    weights = weights / weights.sum()
    leads = min_leads(problems, weights)
    ok = leads >= epsilon - TOL
    return EnsembleSolution(
        weights=weights,
        solved=int(ok.sum()),
        total=len(problems),
        margin=float(leads[ok].min()) if ok.any() else float("nan"),
        status=status,
        objective=float(count),
        bound=float(bound),
        gap=float(max(bound - count, 0.0) / max(count, 1.0)),
        seconds=time.perf_counter() - start,
        solver=solver,
        rows=sum(len(r) for r in red.stage1.values()),
        dropped_rows=red.n_rows - red.n_kept,
        fixed_solved=fixed,
        fixed_unsolved=len(red.unsolvable),
        stage2=stage2,
        stage2_status=stage2_status,
        cost=None if c is None else float(weights @ c),
    )


def _margin_bound(red: _Reduced, free_count: int, epsilon: float) -> float:
    """No margin beats the weakest always-solved problem or the free_count-th widest free problem."""
    fixed = [red.lead[q] for q in red.fixed_solved]
    free = sorted((red.lead[q] for q in red.stage1), reverse=True)
    bounds = [1.0, *fixed] + ([free[free_count - 1]] if 0 < free_count <= len(free) else [])
    return max(min(bounds), epsilon)


def _count_rows(milp: Milp, w: list[int], red: _Reduced, epsilon: float, reduce: bool, obj: float):
    """y_q per free problem and Σ w c − M y ≥ ε − M per row (M = ε − min c, or 1 + ε unreduced)."""
    y = {q: milp.var(0.0, 1.0, integer=True, obj=obj) for q in red.stage1}
    for q, rows in red.stage1.items():
        for row in rows:
            big_m = epsilon - row.min() if reduce else 1.0 + epsilon
            milp.row([*w, y[q]], [*row, -big_m], epsilon - big_m)
    return y
