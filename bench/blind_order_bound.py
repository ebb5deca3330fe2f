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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chorus.replay_server.gpu_model import GpuParams, SequenceRecord, problem_chains  # noqa: E402


def blind_bound(work: Path) -> dict[str, object]:
    order = [json.loads(line)["id"] for line in (work / "math500_replay.jsonl").open()]
    log = json.loads((work / "timeline-0.json").read_text())
    params = GpuParams(log["params"]["slots"], log["params"]["decode_tps"], log["params"]["prefill_tps"])
    records = [SequenceRecord(**r) for r in log["sequences"]]
    first: dict[str, SequenceRecord] = {}  # each problem's first sequence
    for r in records:
        if r.problem not in first or r.arrival < first[r.problem].arrival:
            first[r.problem] = r
    chain = problem_chains(records, params)
    hardest = max(chain, key=chain.__getitem__)
    row = order.index(hardest)
    ahead_work = sum(
        first[k].tokens / params.decode_tps + first[k].prompt_tokens / params.prefill_tps
        for k in order[:row]
        if k in first
    )
    ahead = ahead_work / params.slots
    wall = max(r.end for r in records) - min(r.arrival for r in records)
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
