"""The best wall any vote order blind to difficulty could reach, from a `bench_serve_replay.py` run.

    .venv/bin/python bench/blind_order_bound.py WORK_DIR [WORK_DIR ...]   # the runs' "work_dir"

A scheduler cannot tell a hard problem from an easy one before its first sample. Take the run's longest
chain (one problem's sequential requests, model seconds: per request its longest trace plus prefill),
at row i of the dataset. Before that problem's first sample is drawn, the first samples of the rows
ahead of it must have been drawn (a blind order cannot skip them), which takes at least their decode
time over the slots. So no blind order ends before that time plus the chain. Printed per run, with the
run's own wall for comparison. Reads the stand-in's timeline kept in WORK_DIR (timeline-0.json) and the
dataset written there; one stand-in only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def blind_bound(work: Path) -> dict[str, object]:
    order = [json.loads(line)["id"] for line in (work / "math500_replay.jsonl").open()]
    log = json.loads((work / "timeline-0.json").read_text())
    params = log["params"]
    decode, prefill, slots = params["decode_tps"], params["prefill_tps"], params["slots"]
    first: dict[str, tuple[float, float]] = {}  # problem -> (arrival, duration) of its first sequence
    requests: dict[int, tuple[str, float, float]] = {}  # request -> (problem, longest trace, prefill)
    for r in log["sequences"]:
        duration = r["tokens"] / decode
        problem, longest, pre = requests.get(r["request_id"], (r["problem"], 0.0, r["prompt_tokens"] / prefill))
        requests[r["request_id"]] = (problem, max(longest, duration), pre)
        if problem not in first or r["arrival"] < first[problem][0]:
            first[problem] = (r["arrival"], duration + r["prompt_tokens"] / prefill)
    chain: dict[str, float] = {}
    for problem, longest, pre in requests.values():
        chain[problem] = chain.get(problem, 0.0) + longest + pre
    hardest = max(chain, key=chain.__getitem__)
    row = order.index(hardest)
    ahead = sum(first[k][1] for k in order[:row] if k in first) / slots
    wall = max(r["end"] for r in log["sequences"]) - min(r["arrival"] for r in log["sequences"])
    return {
        "work_dir": str(work),
        "hardest": hardest,
        "row": row,
        "chain_model_s": round(chain[hardest], 1),
        "first_samples_ahead_over_slots_model_s": round(ahead, 1),
        "blind_bound_model_s": round(ahead + chain[hardest], 1),
        "blind_bound_over_chain": round((ahead + chain[hardest]) / chain[hardest], 3),
        "run_wall_model_s": round(wall, 1),
    }


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(blind_bound(Path(arg))))
