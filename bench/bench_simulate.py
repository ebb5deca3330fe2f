"""Time the Monte Carlo simulator on MATH500 × gpt-oss-20b (the speed goal: ≤ 10 s on 2 cores).

Run: python bench/bench_simulate.py [--compat chorus|authors] [--trials 100]
500 problems, N_max 100, 8 Bayes-factor thresholds + 6 fixed N, 100 trials.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.algorithms.replay_files import load_replay  # noqa: E402
from tasks.algorithms.simulation import simulate  # noqa: E402

DATA = "math500/gpt-oss-20b"  # shipped inside the package (chorus data list); a file path works too
THRESHOLDS = [2, 5, 10, 30, 100, 300, 1000, 3000]
FIXED = [1, 3, 5, 10, 30, 100]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compat", default="chorus", choices=["chorus", "authors"])
    parser.add_argument("--rule", default="bayes")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args()
    problems = load_replay(args.data)
    thresholds = THRESHOLDS if args.rule == "bayes" else {"beta": [0.9, 0.95, 0.99], "esc": [5]}[args.rule]
    start = time.perf_counter()
    result = simulate(
        problems,
        rule=args.rule,
        thresholds=thresholds,
        fixed=FIXED,
        trials=args.trials,
        max_samples=100,
        seed=0,
        compat=args.compat,
    )
    elapsed = time.perf_counter() - start
    print(
        f"{args.data}: {len(problems)} problems, rule={args.rule}, compat={args.compat}, "
        f"{args.trials} trials: {elapsed:.2f} s"
    )
    print(f"Bo∞ accuracy {result.bo_inf_accuracy:.4f}")
    for label, points in (("threshold", result.adaptive), ("fixed N", result.fixed)):
        for p in points:
            print(
                f"  {label} {p.setting:>7g}: accuracy {p.accuracy:.4f} ± {p.accuracy_se:.4f}, "
                f"samples {p.mean_samples:6.2f}, tokens {p.mean_tokens:9.0f}"
            )


if __name__ == "__main__":
    main()
