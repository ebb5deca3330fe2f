"""Cache benchmark: insert and read 100k generations; a fully cached rerun of 10k samples.

    .venv/bin/python bench/bench_cache.py [--db URL] [--rows 100000]

Goals (issue 2): ≥ 20k rows/s insert on SQLite; a fully cached `sample` rerun of 10k samples ≤ 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from storage.cache import Generation, GenerationCache
from storage.engine import open_engine


def insert_and_read(url: str, rows: int, batch: int = 1000) -> dict[str, float]:
    cache = GenerationCache(open_engine(url))
    prompts = [f"{i:064x}" for i in range(rows // 10)]
    gens = [
        Generation(
            "fp" * 16,
            prompts[i // 10],
            "pp" * 32,
            i % 10,
            "The answer is \\boxed{42}." * 4,
            None,
            40,
            60,
            "stop",
            0.5,
            i,
        )
        for i in range(rows)
    ]
    t0 = time.perf_counter()
    for start in range(0, rows, batch):
        cache.put(gens[start : start + batch])
    insert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = cache.get("fp" * 16, "pp" * 32, prompts, 10)
    read_s = time.perf_counter() - t0
    assert sum(len(v) for v in found.values()) == rows
    t0 = time.perf_counter()
    again = cache.put(gens[:10_000])
    ignore_s = time.perf_counter() - t0
    assert again == 0
    return {
        "rows": rows,
        "insert_rows_per_s": rows / insert_s,
        "read_rows_per_s": rows / read_s,
        "reinsert_10k_s": ignore_s,
    }


def cached_rerun(url: str, tmp: Path) -> dict[str, float]:
    """`sample` flow over 1000 replay problems x 10 samples, then the same run fully cached."""
    from flows.sample_flow import sample_flow

    replay = tmp / "replay.jsonl"
    dataset = tmp / "ds.jsonl"
    with replay.open("w") as r, dataset.open("w") as d:
        for i in range(1000):
            r.write(
                json.dumps({"problem_num": i, "gold_answer": "1", "all_answers": [[str(i % 7), 100], ["1", 90]]}) + "\n"
            )
            d.write(json.dumps({"id": i, "question": f"q{i}"}) + "\n")
    cfg = tmp / "chorus.toml"
    cfg.write_text(f'[models.rep]\nbackend = "replay"\npath = "{replay}"\n')
    kw = dict(dataset=str(dataset), model="rep", n=10, db=url, config=str(cfg), chunk_size=100)
    t0 = time.perf_counter()
    first = asyncio.run(sample_flow(**kw))
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = asyncio.run(sample_flow(**kw))
    second_s = time.perf_counter() - t0
    assert first["generated"] == 10_000 and second["cached"] == 10_000 and second["generated"] == 0
    return {"first_run_10k_s": first_s, "cached_rerun_10k_s": second_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        os.environ.setdefault("CHORUS_HOME", tmp)
        result = insert_and_read(url, args.rows)
        url2 = args.db or f"sqlite:///{tmp}/rerun.db"
        result |= cached_rerun(url2, Path(tmp))
    print(json.dumps({k: round(v, 3) for k, v in result.items()}, indent=2))


if __name__ == "__main__":
    main()
