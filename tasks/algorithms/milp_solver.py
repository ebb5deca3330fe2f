"""The MILP as arrays and its two solver backends: CBC through python-mip, HiGHS through highspy.

Split from :mod:`tasks.algorithms.ensemble_weights` so the model (rows, reductions, stages) reads apart from the
solver plumbing. Pure: numpy, python-mip and highspy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from storage.errors import ChorusError

FEAS_TOL = 1e-9  # solver feasibility/integrality tolerance, well below the default ε


class Milp:
    """A MILP as arrays, so one build serves both backends (CBC through python-mip, HiGHS through highspy).

    python-mip 2.0 reaches HiGHS through its C API, which highspy 1.16 wheels no longer export; talking
    to highspy directly avoids that and passes the rows in one call.
    """

    def __init__(self, maximize: bool) -> None:
        self.maximize = maximize
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.obj: list[float] = []
        self.integer: list[bool] = []
        self.starts, self.index, self.value = [0], [], []
        self.rlo: list[float] = []
        self.rhi: list[float] = []

    def var(self, lb: float, ub: float, integer: bool = False, obj: float = 0.0) -> int:
        self.lb.append(lb), self.ub.append(ub), self.integer.append(integer), self.obj.append(obj)
        return len(self.lb) - 1

    def row(self, cols: Sequence[int], vals: Sequence[float], lo: float, hi: float = np.inf) -> None:
        keep = [(j, float(v)) for j, v in zip(cols, vals, strict=True) if v != 0.0]
        self.index += [j for j, _ in keep]
        self.value += [v for _, v in keep]
        self.starts.append(len(self.index))
        self.rlo.append(lo), self.rhi.append(hi)


def solve_milp(
    milp: Milp,
    solver: str,
    threads: int,
    seconds: float,
    start: Sequence[float] | None,
    gaps: tuple[float, float],
):
    """Run one backend: (status, x or None, objective, bound). ``gaps``: (relative, absolute) stop gap."""
    if solver == "highs":
        return solve_highs(milp, threads, seconds, start, gaps)
    try:
        import mip
    except ImportError:
        raise ChorusError("the ensemble optimiser needs python-mip: pip install 'mip[highs]'") from None
    model = mip.Model(sense=mip.MAXIMIZE if milp.maximize else mip.MINIMIZE, solver_name=mip.CBC)
    model.verbose = 0
    model.threads = threads
    # The default 1e-6 tolerances would let a tie pass a row asking for a lead of ε = 1e-6.
    model.infeas_tol = model.integer_tol = FEAS_TOL
    model.max_mip_gap, model.max_mip_gap_abs = gaps
    x = [
        model.add_var(lb=lo, ub=up, obj=o, var_type=mip.BINARY if b else mip.CONTINUOUS)
        for lo, up, o, b in zip(milp.lb, milp.ub, milp.obj, milp.integer, strict=True)
    ]
    for r in range(len(milp.rlo)):
        a, b = milp.starts[r], milp.starts[r + 1]
        expr = mip.xsum(v * x[j] for j, v in zip(milp.index[a:b], milp.value[a:b], strict=True))
        lo, hi = milp.rlo[r], milp.rhi[r]
        if lo == hi:
            model += expr == lo
        else:
            if lo > -np.inf:
                model += expr >= lo
            if hi < np.inf:
                model += expr <= hi
    if start is not None:
        model.start = list(zip(x, (float(v) for v in start), strict=True))
    st = model.optimize(max_seconds=seconds)
    names = {
        mip.OptimizationStatus.OPTIMAL: "optimal",
        mip.OptimizationStatus.FEASIBLE: "feasible",
        mip.OptimizationStatus.INFEASIBLE: "infeasible",
        mip.OptimizationStatus.INT_INFEASIBLE: "infeasible",
        mip.OptimizationStatus.NO_SOLUTION_FOUND: "no_solution",
    }
    if model.num_solutions == 0:
        return names.get(st, st.name.lower()), None, np.nan, np.nan
    return (
        names.get(st, st.name.lower()),
        np.array([v.x for v in x]),
        model.objective_value,
        model.objective_bound,
    )


def solve_highs(milp: Milp, threads: int, seconds: float, start: Sequence[float] | None, gaps: tuple[float, float]):
    try:
        import highspy
    except ImportError:
        raise ChorusError("solver='highs' needs highspy: pip install 'mip[highs]'") from None
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(seconds))
    h.setOptionValue("mip_rel_gap", gaps[0])
    h.setOptionValue("mip_abs_gap", gaps[1])
    for opt in ("primal_feasibility_tolerance", "mip_feasibility_tolerance"):
        h.setOptionValue(opt, FEAS_TOL)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(milp.lb), len(milp.rlo)
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = np.array(milp.obj), np.array(milp.lb), np.array(milp.ub)
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(milp.rlo), milp.rlo, -inf)
    lp.row_upper_ = np.where(np.isfinite(milp.rhi), milp.rhi, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    lp.a_matrix_.start_ = np.array(milp.starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(milp.index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(milp.value, dtype=float)
    kint, kcont = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
    lp.integrality_ = [kint if b else kcont for b in milp.integer]
    lp.sense_ = highspy.ObjSense.kMaximize if milp.maximize else highspy.ObjSense.kMinimize
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = [float(v) for v in start]
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    st = h.getModelStatus()
    info = h.getInfo()
    found = info.primal_solution_status == 2  # kSolutionStatusFeasible
    ms = highspy.HighsModelStatus
    status = (
        "optimal"
        if st == ms.kOptimal
        else "infeasible"
        if st == ms.kInfeasible
        else ("feasible" if found else "no_solution")
    )
    if not found:
        return status, None, np.nan, np.nan
    return status, np.array(h.getSolution().col_value), info.objective_function_value, info.mip_dual_bound
