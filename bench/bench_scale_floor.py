"""Where the 10k × 3 replay vote's time goes: the same run at four depths, alternating, in one process.

    .venv/bin/python bench/bench_scale_floor.py [--problems 10000] [--reps 3] [--no-stack]

- `loop`: bench_scale's in-process loop (the goal's denominator): the same draws, seeds, answer keys and
  stopping decisions, lock-step, no objects per request.
- `pipelines, null cache`: `vote_chunk`'s own body (one pipeline per problem, the in-flight budget,
  requests, rows, the write-behind) run straight from asyncio as the flow gathers it, no Prefect, with a
  cache whose writes store nothing (its reads still run, and find nothing).
- `pipelines, SQLite`: the same with the real SQLite cache (every generation written).
- `stack`: the full flow through Prefect (bench_scale's `full_stack`; a local Prefect server is started
  before the clock).

The difference between rows is what each layer costs. Issue 11's goal is stack ≤ 2× loop; the
`pipelines, null cache` row is what the design the issue asks for (§2: every problem its own pipeline,
a bound on requests in flight, writes behind in batches) costs before any cache or Prefect.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_scale import full_stack, in_process, write_synthetic


def pipelines(files: list[Path], dataset: Path, db: str, tmp: Path, max_samples: int, store: bool) -> float:
    """`vote`'s chunks as the flow runs them (the plan, chunks of 200, chunks in flight), no Prefect."""
    from storage.cache import GenerationCache
    from tasks.algorithms.datasets import chunked, load_dataset
    from tasks.services.concurrency import PIPELINED_PROBLEMS_PER_SLOT, bounded_gather, chunks_in_flight
    from tasks.setup_tasks import open_cache, plan_sampling, register_job, resolve_model
    from tasks.vote_tasks import plan_vote, vote_chunk

    cfg = tmp / "chorus.toml"
    cfg.write_text("".join(f'[models.m{i}]\nbackend = "replay"\npath = "{f}"\n' for i, f in enumerate(files)))
    real_write = GenerationCache.write
    if not store:  # a cache that stores nothing: every write reports its generations as new
        GenerationCache.write = lambda self, *, generations=(), **_: len(generations)  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        problems = load_dataset(str(dataset))
        jobs = [plan_sampling.fn(resolve_model.fn(f"m{i}", str(cfg)), None, None, None) for i in range(3)]
        schedule = (1, 1, 2, 4, 8)
        plan = plan_vote.fn(jobs, [1, 1, 1], str(dataset), None, "bayes", 10, max_samples, 0.3, "chorus", schedule)
        db_url = open_cache.fn(db)
        for job in jobs:
            register_job.fn(job, db_url)
        in_flight = chunks_in_flight(max(j.spec.max_concurrency for j in jobs), 200, PIPELINED_PROBLEMS_PER_SLOT)
        chunks = chunked(problems, 200)
        asyncio.run(bounded_gather((vote_chunk.fn(plan, c, db_url, 0, True, 0) for c in chunks), in_flight))
        return time.perf_counter() - started
    finally:
        GenerationCache.write = real_write  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=10_000)
    parser.add_argument("--max-samples", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-stack", action="store_true", help="skip the Prefect run (no server started)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="chorus-bench-floor-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    os.environ["CHORUS_HOME"] = str(tmp / "home")
    os.environ.pop("PREFECT_API_URL", None)
    from flows.run_policy import fewer_gc_passes

    if not args.no_stack:
        from chorus import prefect_runtime

        prefect_runtime.set_prefect_environment()
        os.environ["PREFECT_API_URL"] = prefect_runtime.start_server().api_url
        atexit.register(prefect_runtime.stop_server)
    files, dataset = write_synthetic(tmp, args.problems)
    db_n = iter(range(10_000))

    def db() -> str:  # a fresh SQLite file per run: every generation is new in every run
        return f"sqlite:///{tmp / f'floor{next(db_n)}.db'}"

    def loop() -> float:
        with fewer_gc_passes():
            return float(in_process(files, dataset, args.max_samples)["seconds"])

    def piped(store: bool) -> Callable[[], float]:
        def run() -> float:
            with fewer_gc_passes():  # as @chorus_flow runs the flow's body
                return pipelines(files, dataset, db(), tmp, args.max_samples, store)

        return run

    rows: dict[str, Callable[[], float]] = {
        "loop": loop,
        "pipelines, null cache": piped(False),
        "pipelines, SQLite": piped(True),
    }
    if not args.no_stack:
        rows["stack"] = lambda: float(full_stack(files, dataset, db(), tmp, args.max_samples)["seconds"])
    times: dict[str, list[float]] = {name: [] for name in rows}
    from tasks.backends.replay import _parsed

    for _ in range(args.reps):
        for name, run in rows.items():
            _parsed.cache_clear()  # every run parses the replay files once, as the loop and a new process do
            times[name].append(run())
    loop_median = statistics.median(times["loop"])
    load = os.getloadavg()[0]
    print(f"{args.problems} problems × 3 models, {args.reps} alternating reps, load {load:.2f} at the end")
    print(f"{'depth':<24} {'each run, s':<28} {'median, s':>9} {'÷ loop':>7}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<24} {', '.join(f'{t:.2f}' for t in ts):<28} {med:>9.2f} {med / loop_median:>6.2f}×")


if __name__ == "__main__":
    main()
