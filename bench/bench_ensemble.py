"""Benchmark the ensemble MILP: recorded data (the paper's figures) and synthetic scale sweeps.

Usage: python bench/bench_ensemble.py [--solver cbc|highs] [--time-limit 60] [--quick]
        [--sizes 11x500,20x2000] [--no-recorded] [--synthetic-stage2 none,margin]
Prints a markdown table: solved/total, margin, status, gap, rows kept/dropped and solver seconds
(both stages; the time limit covers both stages).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.algorithms.ensemble_eval import build_dists, single_accuracy
from tasks.algorithms.ensemble_weights import solve_ensemble
from tasks.algorithms.replay_files import load_replay, packaged_replays


def synthetic(models: int, problems: int, seed: int, answers: int = 6, draws: int = 100) -> list[np.ndarray]:
    """Dirichlet answer distributions shaped like the recorded data: most problems easy for most models,
    a tail of hard ones where the models disagree. Column 0 is the gold answer."""
    rng = np.random.default_rng(seed)
    skill = rng.uniform(0.5, 2.0, size=models)
    out = []
    for _ in range(problems):
        hardness = rng.exponential(1.0)
        alpha = np.full((models, answers), 0.3)
        alpha[:, 1] = 0.3 + hardness  # a popular wrong answer on hard problems
        alpha[:, 0] = 3.0 * skill / (0.3 + hardness)
        counts = np.array([rng.multinomial(draws, rng.dirichlet(a)) for a in alpha], dtype=float)
        seen = counts.any(axis=0)
        seen[0] = True
        out.append(counts[:, seen] / draws)
    return out


def row(name: str, k: int, sol, best_single: float | None = None) -> str:
    single = "" if best_single is None else f"{best_single:.3f}"
    return (
        f"| {name} | {k}×{sol.total} | {sol.solved} ({sol.accuracy:.3f}) | {single} | {sol.margin:.4g} | "
        f"{sol.status}/{sol.stage2_status} | {sol.gap:.3g} | {sol.rows}/{sol.dropped_rows} | "
        f"{sol.seconds:.2f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--solver", default="cbc", choices=["cbc", "highs"])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="skip the largest synthetic sizes")
    ap.add_argument("--sizes", help="synthetic K×problems list, e.g. 11x500,20x2000 (overrides the default sweep)")
    ap.add_argument("--no-recorded", action="store_true", help="skip the packaged recorded data sets")
    ap.add_argument("--synthetic-stage2", default="none,margin", help="stage-2 modes for the synthetic rows")
    args = ap.parse_args()
    kw = {"solver": args.solver, "time_limit": args.time_limit}
    print(f"solver={args.solver} time_limit={args.time_limit}s; rows = kept/dropped by the reductions\n")
    print("| case | K×problems | solved | best single | margin | status (count/margin) | gap | rows | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dataset in () if args.no_recorded else ("gpqa_diamond", "math500", "aime2024"):
        files = [r.name for r in packaged_replays() if r.dataset == dataset]  # shipped in the package
        data = build_dists([load_replay(f) for f in files])
        best = max(single_accuracy(data, i, "right") for i in range(len(files)))
        for stage2 in ("none", "margin"):
            sol = solve_ensemble(data.probs, epsilon=0.0, stage2=stage2, **kw)
            print(row(f"{dataset} ε=0 stage2={stage2}", len(files), sol, best), flush=True)
        cheap = solve_ensemble(data.probs, epsilon=0.0, stage2="cost", costs=data.tokens, **kw)
        print(row(f"{dataset} ε=0 cheapest ({cheap.cost:.0f} tok/gen)", len(files), cheap, best), flush=True)
    sizes = [(11, 500), (5, 200), (10, 500), (20, 500), (10, 1000), (20, 1000)]
    if not args.quick:
        sizes += [(10, 2000), (20, 2000)]
    if args.sizes:
        sizes = [tuple(int(v) for v in item.lower().split("x")) for item in args.sizes.split(",")]
    for k, n in sizes:
        probs = synthetic(k, n, seed=k * 10_000 + n)
        best = max(int((np.array([(problem_rows_min(p, i)) for p in probs]) > 0).sum()) for i in range(k)) / n
        for stage2 in args.synthetic_stage2.split(","):
            t0 = time.perf_counter()
            sol = solve_ensemble(probs, epsilon=1e-6, stage2=stage2, **kw)
            assert sol.seconds <= time.perf_counter() - t0 + 1e-6
            print(row(f"synthetic ε=1e-6 stage2={stage2}", k, sol, best), flush=True)


def problem_rows_min(p: np.ndarray, model: int) -> float:
    """Model ``model``'s own lead of gold over its best wrong answer (> 0: its plurality is right)."""
    return float(p[model, 0] - (p[model, 1:].max() if p.shape[1] > 1 else 0.0)) if p[model, 0] > 0 else -1.0


if __name__ == "__main__":
    main()
