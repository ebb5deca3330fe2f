"""Where the SQLite insert time goes: the cache's `put` as shipped vs two one-line changes (issue 2 (a)).

    CHORUS_HOME=$(mktemp -d) .venv/bin/python bench/bench_cache_variants.py [--rows 100000]

Variants, each on a fresh SQLite file, 1000 rows per `put` (one transaction each):
  shipped      storage.cache.GenerationCache.put as is (dataclasses.asdict per row; NullPool engine:
               a new connection, three PRAGMAs and a WAL checkpoint on close for every put);
  shallow      `asdict` replaced by a shallow field copy (Generation holds only scalars);
  shallow+pool also keep one pooled connection (SQLAlchemy's default QueuePool for the file).
Nothing outside bench/ is changed: the variants monkeypatch this process only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, event

import storage.cache as cache_mod
from storage.cache import Generation, GenerationCache
from storage.engine import _sqlite_pragmas, open_engine

FIELDS = [f.name for f in fields(Generation)]


def shallow_asdict(g: Generation) -> dict:
    return {name: getattr(g, name) for name in FIELDS}


def rows_for(n: int) -> list[Generation]:
    return [
        Generation("fp" * 16, f"{i // 10:064x}", "pp" * 32, i % 10, "The answer is \\boxed{42}." * 4,
                   None, 40, 60, "stop", 0.5, i)
        for i in range(n)
    ]  # fmt: skip


def rate(cache: GenerationCache, gens: list[Generation], batch: int = 1000) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(gens), batch):
        cache.put(gens[start : start + batch])
    return len(gens) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    gens = rows_for(args.rows)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        out["shipped"] = rate(GenerationCache(open_engine(f"sqlite:///{tmp}/a.db")), gens)
        original = cache_mod.asdict
        cache_mod.asdict = shallow_asdict
        try:
            out["shallow"] = rate(GenerationCache(open_engine(f"sqlite:///{tmp}/b.db")), gens)
            open_engine(f"sqlite:///{tmp}/c.db")  # creates the schema
            pooled = create_engine(f"sqlite:///{tmp}/c.db", connect_args={"timeout": 60})
            event.listen(pooled, "connect", _sqlite_pragmas)
            out["shallow+pool"] = rate(GenerationCache(pooled), gens)
        finally:
            cache_mod.asdict = original
    print(json.dumps({k: round(v) for k, v in out.items()}, indent=2))


if __name__ == "__main__":
    main()
