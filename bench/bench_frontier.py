"""Bo∞ per model and the sample-efficiency frontier, chorus rule vs the authors' rule (issue 3).

    CHORUS_HOME=$(mktemp -d) .venv/bin/python bench/bench_frontier.py [--trials 100] [--max-samples 100]
        [--json OUT] [FILES...]

For every recorded-answers file (default: every data set shipped in the package,
`chorus data list`; raw keys as the paper):

* Bo∞ accuracy (plurality of all recorded answers, `SimulationResult.bo_inf_accuracy`);
* the adaptive Bayes-factor curve (accuracy vs mean samples) over a dense threshold grid, for
  `compat="chorus"` (the default rule) and `compat="authors"` (their published code), same seed;
* target = Bo∞ − 0.001 (within 0.1 point). samples(rule, a) = the least mean samples at which the
  rule's curve reaches accuracy a (linear interpolation between grid points on the running-max
  envelope of the curve; None if never reached). The goal (issue 3): samples(chorus, target) ≤
  0.75 × samples(authors, target).
* Because the target is often not reachable with N_max = 100 (not even by fixed N = 100), the
  comparison is also made at a* = min(target, the highest accuracy both rules reach): ratio =
  samples(chorus, a*) / samples(authors, a*).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.algorithms.replay_files import load_replay, packaged_replays  # noqa: E402
from tasks.algorithms.simulation import simulate  # noqa: E402

THRESHOLDS = [1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 100, 200, 300, 1000, 3000, 10_000, 100_000, 1_000_000]


def samples_to_reach(curve: list[tuple[float, float]], target: float) -> float | None:
    """Least mean samples at which the (samples, accuracy) curve reaches target (running-max envelope)."""
    pts = sorted(curve)
    best_acc, prev = -1.0, None
    for s, a in pts:
        if a >= target:
            if prev is None or prev[1] >= target:
                return s
            s0, a0 = prev
            return s0 + (s - s0) * (target - a0) / (a - a0)
        if a > best_acc:
            best_acc, prev = a, (s, a)
    return None


def run_file(ref: str, trials: int, max_samples: int) -> dict:
    problems = load_replay(ref)
    out: dict = {"file": ref, "problems": len(problems)}
    curves = {}
    for compat in ("chorus", "authors"):
        t0 = time.perf_counter()
        res = simulate(
            problems,
            rule="bayes",
            thresholds=THRESHOLDS,
            fixed=[1, 100],
            trials=trials,
            max_samples=max_samples,
            seed=0,
            compat=compat,
        )
        out[f"{compat}_seconds"] = round(time.perf_counter() - t0, 2)
        out["bo_inf"] = res.bo_inf_accuracy
        out["fixed_N_max"] = res.fixed[-1].accuracy
        curves[compat] = [(p.mean_samples, p.accuracy) for p in res.adaptive]
        out[f"{compat}_curve"] = [
            {"B": p.setting, "acc": round(p.accuracy, 4), "samples": round(p.mean_samples, 2)} for p in res.adaptive
        ]
        out[f"{compat}_max_acc"] = max(a for _, a in curves[compat])
    target = out["bo_inf"] - 0.001
    out["target"] = target
    sc, sa = samples_to_reach(curves["chorus"], target), samples_to_reach(curves["authors"], target)
    out["chorus_samples_at_target"], out["authors_samples_at_target"] = sc, sa
    out["ratio_at_target"] = None if sc is None or sa is None else sc / sa
    a_star = min(target, out["chorus_max_acc"], out["authors_max_acc"])
    out["a_star"] = a_star
    sc2, sa2 = samples_to_reach(curves["chorus"], a_star), samples_to_reach(curves["authors"], a_star)
    out["chorus_samples_at_a_star"], out["authors_samples_at_a_star"] = sc2, sa2
    out["ratio_at_a_star"] = sc2 / sa2 if sc2 and sa2 else None
    return out


def fmt(x: float | None, nd: int = 2) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="replay files or packaged names (default: all packaged)")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--max-samples", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    files = args.files or [r.name for r in packaged_replays()]
    rows = []
    print(
        "| file | problems | Bo∞ | fixed N=100 | best acc chorus / authors | samples to Bo∞−0.001 chorus / authors "
        "| ratio | a* | samples at a* chorus / authors | ratio at a* | s chorus/authors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for f in files:
        r = run_file(f, args.trials, args.max_samples)
        rows.append(r)
        stem = Path(f).name.removesuffix(".gz").removesuffix(".jsonl").removeprefix("analysis_")
        name = stem if Path(f).is_file() else f
        print(
            f"| {name} | {r['problems']} | {r['bo_inf']:.3f} | {r['fixed_N_max']:.4f} | "
            f"{r['chorus_max_acc']:.4f} / {r['authors_max_acc']:.4f} | "
            f"{fmt(r['chorus_samples_at_target'])} / {fmt(r['authors_samples_at_target'])} | "
            f"{fmt(r['ratio_at_target'])} | {r['a_star']:.4f} | "
            f"{fmt(r['chorus_samples_at_a_star'])} / {fmt(r['authors_samples_at_a_star'])} | "
            f"{fmt(r['ratio_at_a_star'])} | {r['chorus_seconds']}/{r['authors_seconds']} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
