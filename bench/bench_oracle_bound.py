"""How few samples *any* stopping rule can need to reach the frontier target (issue 9): two lower bounds.

    .venv/bin/python bench/bench_oracle_bound.py --frontier /tmp/frontier9b.json [FILES...] [--json OUT]

The simulator draws each problem's samples with replacement from its recorded answers, so a problem is a
known categorical distribution: p_g (the gold answer), p_w (the most frequent wrong answer) and the rest
(other wrong answers, and blanks in chorus's accounting, where a blank is a paid sample without a vote).

(A) Clairvoyant bound. A rule that *knows* (p_g, p_w, rest) of every problem and stops optimally for
    "maximise Σ P(correct) − λ Σ samples", by backward induction over the counts (g, w) at every n ≤ N_max,
    with two optimistic simplifications (a tie between gold and the top wrong answer counts as right; the
    rest never wins a plurality). For every λ no rule — whatever it observes (votes, lengths, other
    problems) — has Σ accuracy − λ·samples above the clairvoyant's: samples are i.i.d., so nothing observed
    says more about the future draws than the distribution does. Hence the least mean samples at which any
    rule reaches accuracy T is at least the clairvoyant frontier's (convex hull, interpolated) at T.
(B) One-sample bound, for rules that see only the votes (every rule in chorus and the authors'). After the
    first sample every problem is in the same state (one vote), so such a rule continues on the same
    fraction f of problems whatever they are; to lift accuracy from the single-sample accuracy acc₁ to T
    it needs f ≥ (T − acc₁)/(a_max − acc₁), a_max = the clairvoyant's accuracy at λ → 0 (≥ any rule's),
    so mean samples ≥ 1 + f. Stated in the authors' accounting (blanks dropped: every sample is a vote).

T = the target of the frontier run (a* − 0.005). Ratios are bound / authors' samples at T: a ratio above
0.75 means no rule can meet issue 9's goal on that file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from oracle_population import population_frontier, population_tables  # noqa: E402

from tasks.algorithms.replay_files import load_replay, packaged_replays  # noqa: E402
from tasks.algorithms.simulation_table import build_table, default_key  # noqa: E402

LAMBDAS = np.concatenate([[0.0], np.geomspace(1e-5, 0.5, 30)])
BOUNDS = ("B_noblank", "C_noblank", "C_chorus")


def problem_shares(path: str, drop_blanks: bool) -> np.ndarray:
    """(P, 3): p_gold, p_top_wrong, p_rest of each problem's recorded pool."""
    table, _ = build_table([load_replay(path)], np.ones(1), default_key, authors=drop_blanks)
    out = np.zeros((table.ans.shape[0], 3))
    for q in range(table.ans.shape[0]):
        pool = table.ans[q, : table.length[0, q]]
        gold = table.gold[q]
        p_g = float(np.mean(pool == gold)) if gold >= 0 else 0.0
        wrong = pool[(pool >= 0) & (pool != gold)]
        p_w = np.bincount(wrong).max() / pool.size if wrong.size else 0.0
        out[q] = p_g, p_w, max(0.0, 1.0 - p_g - p_w)
    return out


def clairvoyant(shares: np.ndarray, lam: float, n_max: int) -> tuple[float, float]:
    """(mean accuracy, mean samples) of the optimal known-distribution rule at price λ per sample."""
    pg, pw, pr = (shares[:, i][:, None, None] for i in range(3))
    # layer n: arrays (P, n+1, n+1) over (g, w), g + w ≤ n (other cells unused)
    g = np.arange(n_max + 1)
    right = ((g[:, None] >= g[None, :]) & (g[:, None] > 0)).astype(float)  # optimistic: ties are right
    value = np.broadcast_to(right, (shares.shape[0], n_max + 1, n_max + 1)).copy()
    acc, used = value.copy(), np.zeros_like(value)
    for n in range(n_max - 1, -1, -1):
        s = slice(0, n + 1)
        nxt = [(a[:, 1 : n + 2, s], a[:, s, 1 : n + 2], a[:, s, s]) for a in (value, acc, used)]
        cont_v = -lam + pg * nxt[0][0] + pw * nxt[0][1] + pr * nxt[0][2]
        cont_a = pg * nxt[1][0] + pw * nxt[1][1] + pr * nxt[1][2]
        cont_n = 1.0 + pg * nxt[2][0] + pw * nxt[2][1] + pr * nxt[2][2]
        stop_v = np.broadcast_to(right[s, s], cont_v.shape)
        go = (cont_v > stop_v) | (n == 0)  # at least one sample
        value = np.where(go, cont_v, stop_v)
        acc = np.where(go, cont_a, stop_v)
        used = np.where(go, cont_n, 0.0)
    return float(acc[:, 0, 0].mean()), float(used[:, 0, 0].mean())


def least_cost(curve: list[tuple[float, float]], target: float) -> float | None:
    """Least samples at which the (accuracy, samples) frontier reaches target, interpolated on the hull."""
    pts = sorted(curve, key=lambda p: p[1])
    best = None
    for a, c in pts:
        if a >= target:
            if best is None:
                return c
            f = (target - best[0]) / (a - best[0])
            return best[1] + f * (c - best[1])
        if best is None or a > best[0]:
            best = (a, c)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--frontier", type=Path, required=True, help="bench_frontier.py --json output (targets)")
    ap.add_argument("--max-samples", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    runs = {r["file"]: r for r in json.loads(args.frontier.read_text())}
    files = args.files or [r.name for r in packaged_replays()]
    head = ["file", "target", "authors samples", *BOUNDS, "ratios to authors (same order)"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    rows = []
    for f in files:
        label = f.replace("/", "_")
        if label not in runs:
            continue
        run = runs[label]
        target, authors = run["target"], run["rules"]["authors"]["samples"][0]
        res = {"file": label, "target": target, "authors": authors}
        for acct, drop in (("chorus", False), ("noblank", True)):
            shares = problem_shares(f, drop)
            tables = population_tables(shares, args.max_samples)
            pop = [population_frontier(tables, lam) for lam in LAMBDAS]
            res[f"C_{acct}"] = least_cost(pop, target)
            res[f"curve_{acct}"] = pop
            if drop:  # a_max: the clairvoyant's accuracy at λ = 0, above any rule's
                acc1, a_max = float(shares[:, 0].mean()), clairvoyant(shares, 0.0, args.max_samples)[0]
                f_min = max(0.0, (target - acc1) / (a_max - acc1)) if a_max > acc1 else 0.0
                res["B_noblank"] = 1.0 + min(f_min, 1.0)
        rows.append(res)
        cells = [label, f"{target:.4f}", f"{authors:.2f}"]
        cells += ["—" if res[k] is None else f"{res[k]:.2f}" for k in BOUNDS]
        ratios = ["—" if res[k] is None else f"{res[k] / authors:.2f}" for k in BOUNDS]
        print("| " + " | ".join([*cells, " / ".join(ratios)]) + " |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    for k in BOUNDS:
        over = [r["file"] for r in rows if r[k] is None or r[k] > 0.75 * r["authors"]]
        print(f"bound {k} > 0.75 × authors on {len(over)}/{len(rows)} files: {', '.join(over)}")


if __name__ == "__main__":
    main()
