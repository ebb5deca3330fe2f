"""Sample- and token-efficiency frontier of every stopping rule vs the authors' rule (issues 3 and 9).

    CHORUS_HOME=$(mktemp -d) .venv/bin/python bench/bench_frontier.py [--trials 300] [--max-samples 100]
        [--rules authors,bayes,gain] [--json OUT] [--plots DIR] [FILES...]

For every recorded-answers file (default: every data set shipped in the package, raw keys as the paper), each
rule runs its curve over a dense threshold grid (same seed, N_max 100). "authors" is the authors'
published rule with their loader (``compat="authors"``, blanks dropped: the corrected mode of issue 9).

* a* = the highest accuracy that every compared rule's curve reaches; target = a* − 0.005 (so that
  Monte Carlo noise does not decide).
* samples(rule) / tokens(rule) = the least mean samples / mean tokens per problem at which the rule's
  accuracy envelope (running maximum over the curve sorted by cost) reaches the target, by linear
  interpolation between grid points; its s.e. is interpolated from the two points' s.e.
* ratio = samples(rule) / samples(authors), and the same for tokens. Goal (issue 9): ≤ 0.75 for samples
  and tokens on ≥ 20 of 24 files, > 1.0 on none.
* --plots DIR: accuracy vs mean tokens per file, every rule.
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
from tasks.algorithms.simulation import CurvePoint, simulate  # noqa: E402

BAYES = [1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 100, 200, 300, 1000, 3000, 10_000, 100_000, 1_000_000]
GAIN = [2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 1000, 3000, 10_000, 100_000]
RATE = [3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 100_000, 1e6, 1e7]
RULES = {  # label: (rule name, compat, thresholds, blanks dropped as the authors' loader does)
    "authors": ("bayes", "authors", BAYES, True),
    "bayes": ("bayes", "chorus", BAYES, False),
    "gain": ("gain", "chorus", GAIN, False),
    "gain-noblank": ("gain", "chorus", GAIN, True),  # same accounting as "authors": blanks cost nothing
    "rate": ("rate", "chorus", RATE, False),
    "rate-noblank": ("rate", "chorus", RATE, True),
}


def cost_to_reach(points: list[CurvePoint], target: float, cost: str) -> tuple[float, float] | None:
    """(least mean cost, its s.e.) at which the accuracy envelope reaches target; None if never."""
    pts = sorted(points, key=lambda p: getattr(p, f"mean_{cost}"))
    best: CurvePoint | None = None
    for p in pts:
        c, se = getattr(p, f"mean_{cost}"), getattr(p, f"mean_{cost}_se")
        if p.accuracy >= target:
            if best is None:
                return c, se
            c0, se0 = getattr(best, f"mean_{cost}"), getattr(best, f"mean_{cost}_se")
            f = (target - best.accuracy) / (p.accuracy - best.accuracy)
            return c0 + f * (c - c0), se0 + f * (se - se0)
        if best is None or p.accuracy > best.accuracy:
            best = p
    return None


def run_file(path: str, rules: list[str], trials: int, max_samples: int) -> dict:
    problems = load_replay(str(path))
    label = Path(path).stem.removeprefix("analysis_") if Path(path).is_file() else str(path).replace("/", "_")
    out: dict = {"file": label, "problems": len(problems), "rules": {}}
    curves: dict[str, list[CurvePoint]] = {}
    for label in rules:
        name, compat, grid, drop = RULES[label]
        t0 = time.perf_counter()
        kw = {"trials": trials, "max_samples": max_samples, "seed": 0, "compat": compat, "drop_blanks": drop}
        res = simulate(problems, rule=name, thresholds=grid, fixed=[], **kw)
        curves[label] = res.adaptive
        out["bo_inf"] = res.bo_inf_accuracy
        curve = [p.__dict__ for p in res.adaptive]
        out["rules"][label] = {"seconds": round(time.perf_counter() - t0, 1), "curve": curve}
    a_star = min(max(p.accuracy for p in c) for c in curves.values())
    out["a_star"], out["target"] = a_star, a_star - 0.005
    for label, c in curves.items():
        for cost in ("samples", "tokens"):
            out["rules"][label][cost] = cost_to_reach(c, out["target"], cost)
    base = out["rules"].get("authors")
    for label in rules:
        r = out["rules"][label]
        for cost in ("samples", "tokens"):
            ok = base and base[cost] and r[cost]
            r[f"{cost}_ratio"] = r[cost][0] / base[cost][0] if ok else None
    return out


def plot_file(res: dict, directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    for label, r in res["rules"].items():
        pts = sorted(r["curve"], key=lambda p: p["mean_tokens"])
        ax.plot([p["mean_tokens"] for p in pts], [p["accuracy"] for p in pts], marker=".", label=label)
    ax.axhline(res["target"], color="gray", ls=":", lw=1, label=f"target a*−0.005 = {res['target']:.4f}")
    ax.axhline(res["bo_inf"], color="k", ls="--", lw=1, label=f"Bo∞ = {res['bo_inf']:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("mean completion tokens per problem")
    ax.set_ylabel("accuracy")
    ax.set_title(res["file"], fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    directory.mkdir(parents=True, exist_ok=True)
    fig.savefig(directory / f"frontier_{res['file']}.png")
    plt.close(fig)


def fmt(v: tuple[float, float] | None, nd: int = 2) -> str:
    return "—" if v is None else f"{v[0]:.{nd}f} ± {v[1]:.{nd}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--max-samples", type=int, default=100)
    ap.add_argument("--rules", default="authors,bayes,gain")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plots", type=Path)
    args = ap.parse_args()
    rules = args.rules.split(",")
    files = args.files or [r.name for r in packaged_replays()]  # every shipped set (`chorus data list`)
    others = [r for r in rules if r != "authors"]
    head = ["file", "Bo∞", "a*", *[f"{r} samples" for r in rules], *[f"{r} tokens (k)" for r in rules]]
    head += [f"{r} ratio s / t" for r in others]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    rows = []
    for f in files:
        r = run_file(f, rules, args.trials, args.max_samples)
        rows.append(r)
        if args.plots:
            plot_file(r, args.plots)
        cells = [r["file"], f"{r['bo_inf']:.3f}", f"{r['a_star']:.4f}"]
        cells += [fmt(r["rules"][x]["samples"]) for x in rules]
        tok = [r["rules"][x]["tokens"] for x in rules]
        cells += [fmt(None if t is None else (t[0] / 1e3, t[1] / 1e3), 1) for t in tok]
        for x in others:
            sr, tr = r["rules"][x]["samples_ratio"], r["rules"][x]["tokens_ratio"]
            cells.append("—" if sr is None else f"{sr:.2f} / {tr:.2f}")
        print("| " + " | ".join(cells) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    for x in others:
        sr = [r["rules"][x]["samples_ratio"] for r in rows]
        tr = [r["rules"][x]["tokens_ratio"] for r in rows]
        met = sum(1 for s, t in zip(sr, tr, strict=True) if s is not None and s <= 0.75 and t <= 0.75)
        over = sum(1 for s, t in zip(sr, tr, strict=True) if s is None or s > 1 or t > 1)
        print(f"{x}: ratio ≤ 0.75 (samples and tokens) on {met}/{len(rows)} files; > 1.0 (or none) on {over}")


if __name__ == "__main__":
    main()
