"""`--compat authors` vs the authors' own code, file by file (issue 9).

    CHORUS_HOME=$(mktemp -d) .venv/bin/python bench/bench_authors_compat.py --reference REF.jsonl
        [--trials 100] [--seed 1] [--data DIR] [--only SUBSTRING]

REF.jsonl: one line per (file, B) from a run of the authors' code, with keys file, B, acc, acc_se,
samples, samples_se (their loader + their weighted_ensemble_prediction; see bench/RESULTS.md §9.1 for how
it was run). For each line this runs chorus's emulation on the same file and prints both with the
difference in units of the combined standard error (|z| ≤ 2 is the issue's criterion).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.algorithms.replay_files import load_replay  # noqa: E402
from tasks.algorithms.simulation import simulate  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "boinf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=DATA, help="folder of the reference's files (default ../shared)")
    ap.add_argument("--only", default="", help="compare only reference files whose name contains this")
    args = ap.parse_args()
    ref = [json.loads(line) for line in args.reference.read_text().splitlines() if line.strip()]
    by_file: dict[str, dict[float, dict]] = {}
    for r in ref:
        if args.only in r["file"]:
            by_file.setdefault(r["file"], {})[float(r["B"])] = r
    print("| file | B | theirs: acc / samples | chorus authors: acc / samples | z acc | z samples |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for name, rows in sorted(by_file.items()):
        bs = sorted(rows)
        res = simulate(
            load_replay(args.data / name),
            rule="bayes",
            thresholds=bs,
            fixed=[],
            trials=args.trials,
            max_samples=100,
            seed=args.seed,
            compat="authors",
        )
        for b, p in zip(bs, res.adaptive, strict=True):
            r = rows[b]
            za = (p.accuracy - r["acc"]) / max(math.hypot(p.accuracy_se, r["acc_se"]), 1e-12)
            zs = (p.mean_samples - r["samples"]) / max(math.hypot(p.mean_samples_se, r["samples_se"]), 1e-12)
            worst = max(worst, abs(za), abs(zs))
            print(
                f"| {name.removeprefix('analysis_').removesuffix('.jsonl')} | {b:g} | "
                f"{r['acc']:.4f} ± {r['acc_se']:.4f} / {r['samples']:.2f} ± {r['samples_se']:.2f} | "
                f"{p.accuracy:.4f} ± {p.accuracy_se:.4f} / {p.mean_samples:.2f} ± {p.mean_samples_se:.2f} | "
                f"{za:+.1f} | {zs:+.1f} |",
                flush=True,
            )
    print(f"largest |z|: {worst:.2f}")


if __name__ == "__main__":
    main()
