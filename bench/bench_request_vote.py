"""One `bo-inf` vote at a time, in-process, no HTTP (issue 12): what the serve path's vote loop and its
cache traffic cost a lone request, where the batcher finds no batch-mates to merge with.

    .venv/bin/python bench/bench_request_vote.py [--problems 150]

MATH500 problems 0..N-1 of the recorded gpt-oss-20b answers (replay backend), Bayes factor ≥ 10, at
most 32 samples, a fresh SQLite cache: each vote once fresh (generated), then again (all cached).
Reports the median per vote, skipping the first 10 (warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.cache import GenerationCache  # noqa: E402
from storage.engine import open_engine  # noqa: E402
from tasks.algorithms.datasets import Problem  # noqa: E402
from tasks.algorithms.stopping import make_rule  # noqa: E402
from tasks.backends.factory import create_backend, model_fingerprint  # noqa: E402
from tasks.backends.spec import ModelSpec  # noqa: E402
from tasks.services.request_vote import vote_request  # noqa: E402
from tasks.services.sample_batcher import SampleBatcher  # noqa: E402
from tasks.services.sampling import SamplingJob  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "boinf" / "analysis_math500_gpt-oss-20b.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=150)
    args = ap.parse_args()
    spec = ModelSpec("math", "replay", path=str(DATA))
    job = SamplingJob(spec, model_fingerprint(spec), spec.sampling_params())
    backend, rule = create_backend(spec), make_rule("bayes", 10, max_samples=32)
    cache = GenerationCache(open_engine(f"sqlite:///{tempfile.mkdtemp()}/cache.db"))

    async def one_at_a_time() -> list[float]:
        batcher, out = SampleBatcher(cache), []
        for i in range(args.problems):
            began = time.perf_counter()
            await vote_request(Problem(str(i), str(i)), (job,), (1.0,), [backend], batcher, rule, "math")
            out.append(time.perf_counter() - began)
        return out

    fresh, cached = asyncio.run(one_at_a_time()), asyncio.run(one_at_a_time())
    report = {
        "problems": args.problems,
        "loadavg": os.getloadavg(),
        "fresh_p50_ms": round(1000 * statistics.median(fresh[10:]), 2),
        "cached_p50_ms": round(1000 * statistics.median(cached[10:]), 2),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
