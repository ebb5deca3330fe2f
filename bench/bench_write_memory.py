"""RSS of a process writing generations through GenerationCache.put in batches of varying size.

    .venv/bin/python bench/bench_write_memory.py [--batches 300] [--sizes random|fixed]

A prepared statement per distinct SQL text stays in sqlite3's per-connection cache (up to 128): a
multi-row insert per batch size grew the process by ~50 MB. Prints RSS before, every 50 batches, after.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from storage.cache import Generation, GenerationCache
from storage.engine import open_engine


def rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return -1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--sizes", choices=["random", "fixed"], default="random")
    args = parser.parse_args()
    cache = GenerationCache(open_engine(f"sqlite:///{tempfile.mkdtemp()}/write-memory.db"))
    rng = random.Random(0)
    written = 0
    print(f"start: {rss_mb()} MB")
    for b in range(args.batches):
        n = rng.randint(1, 500) if args.sizes == "random" else 250
        rows = [
            Generation(
                "m" * 64,
                f"{(written + j) // 6:064d}",
                "p" * 64,
                (written + j) % 6,
                "\\boxed{3}",
                None,
                0,
                100,
                "stop",
                0.0,
                1,
            )
            for j in range(n)
        ]
        written += cache.put(rows)
        if b % 50 == 0:
            print(f"batch {b}: {written} rows, {rss_mb()} MB")
    print(f"end: {written} rows, {rss_mb()} MB")


if __name__ == "__main__":
    main()
