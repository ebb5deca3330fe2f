"""Overhead of the `sample` flow over a plain script, on one embedded llama.cpp server (issue 2 (b)).

    CHORUS_HOME=$(mktemp -d) .venv/bin/python bench/bench_overhead.py [--problems 20] [-n 2]
        [--max-tokens 32] [--concurrency 2] [--repeats 3]

One llama.cpp server (SmolLM2-135M, n_ctx 1024) serves both sides. A registry TOML points a
`smollm2` llamacpp model at its URL with `max_concurrency = 2`. Each repeat runs, in alternating
order:

* flow:  `flows.sample_flow.sample_flow` on a fresh SQLite DB (so every sample is generated);
* plain: an httpx script sending the same chat requests (same bodies, built by the same
  `OpenAIBackend._body`, same seeds from `storage.keys.derive_seed`) with an asyncio semaphore of the
  same concurrency, and nothing else (no cache, no Prefect, no retries).

The Prefect ephemeral API is started once, by an untimed warm-up flow run on a 1-problem dataset
(a `chorus sample` command pays that start-up once per invocation; it is reported separately).

At the end the flow runs once more on the first flow's DB, where every sample is cached: its wall
time is the flow's fixed cost per run (tasks, artifacts, cache open, endpoint check), no generation.

Goal: median(flow wall) / median(plain wall) ≤ 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from storage.keys import derive_seed  # noqa: E402
from tasks.algorithms.datasets import load_dataset  # noqa: E402
from tasks.backends.base import GenerationRequest  # noqa: E402
from tasks.backends.factory import create_backend, model_fingerprint  # noqa: E402
from tasks.backends.local_server import LocalLlamaServer, embedded_model_path  # noqa: E402
from tasks.backends.registry import load_registry, resolve  # noqa: E402
from tasks.services.sampling import SamplingJob  # noqa: E402

DATASET = ROOT / "examples" / "arithmetic.jsonl"


def plain_bodies(config: Path, dataset: Path, n: int, max_tokens: int) -> tuple[str, list[dict]]:
    """The exact request bodies the flow sends: one per (problem, sample), seeded from the cache key."""
    spec = resolve(load_registry(str(config)), "smollm2")
    job = SamplingJob(spec, model_fingerprint(spec), spec.sampling_params(max_tokens=max_tokens))
    backend = create_backend(spec)
    bodies = []
    for problem in load_dataset(str(dataset)):
        prompt, prompt_hash = job.prompt(problem)
        for i in range(n):
            seed = derive_seed(job.model_fp, prompt_hash, job.params_hash, i)
            request = GenerationRequest(problem.id, prompt, job.params, (i,), (seed,))
            bodies.append(backend._body(request, 1, seed))
    return backend._url(spec.endpoints[0]), bodies


async def run_plain(url: str, bodies: list[dict], concurrency: int) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)
    tokens = 0
    async with httpx.AsyncClient(timeout=300.0) as client:

        async def one(body: dict) -> None:
            nonlocal tokens
            async with sem:
                r = await client.post(url, json=body)
                r.raise_for_status()
                tokens += int(r.json()["usage"]["completion_tokens"])

        t0 = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return time.perf_counter() - t0, tokens


def run_flow(dataset: Path, config: Path, db: str, n: int, max_tokens: int) -> tuple[float, dict]:
    from flows.sample_flow import sample_flow

    t0 = time.perf_counter()
    summary = asyncio.run(
        sample_flow(dataset=str(dataset), model="smollm2", n=n, max_tokens=max_tokens, db=db, config=str(config))
    )
    return time.perf_counter() - t0, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("-n", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="chorus-overhead-"))
    os.environ.setdefault("CHORUS_HOME", str(tmp))
    lines = DATASET.read_text().splitlines()
    dataset = tmp / "ds.jsonl"
    dataset.write_text("\n".join(lines[: args.problems]) + "\n")
    warm_ds = tmp / "warm.jsonl"
    warm_ds.write_text(lines[-1] + "\n")

    server = LocalLlamaServer(embedded_model_path("smollm2"), n_ctx=1024)
    url = server.start()
    try:
        config = tmp / "chorus.toml"
        config.write_text(
            f'[models.smollm2]\nbackend = "llamacpp"\nmodel = "smollm2"\nendpoints = ["{url}"]\n'
            f"max_concurrency = {args.concurrency}\n"
            "sampling = { temperature = 0.7, max_tokens = 256 }\n"
        )
        chat_url, bodies = plain_bodies(config, dataset, args.n, args.max_tokens)
        warm_s, _ = run_flow(warm_ds, config, f"sqlite:///{tmp}/warm.db", 1, args.max_tokens)
        print(f"warm-up flow (starts the Prefect ephemeral API): {warm_s:.2f} s", flush=True)
        flow_s, plain_s, flow_cpu, plain_cpu, runs = [], [], [], [], []
        for rep in range(args.repeats):
            order = ("flow", "plain") if rep % 2 == 0 else ("plain", "flow")
            for side in order:
                cpu0 = time.process_time()
                if side == "flow":
                    wall, summary = run_flow(dataset, config, f"sqlite:///{tmp}/run{rep}.db", args.n, args.max_tokens)
                    assert summary["generated"] == len(bodies), summary
                    flow_s.append(wall)
                    tokens = summary.get("completion_tokens")
                else:
                    wall, tokens = asyncio.run(run_plain(chat_url, bodies, args.concurrency))
                    plain_s.append(wall)
                cpu = time.process_time() - cpu0
                (flow_cpu if side == "flow" else plain_cpu).append(cpu)
                load = os.getloadavg()[0]
                runs.append(
                    {
                        "repeat": rep,
                        "side": side,
                        "wall_s": round(wall, 3),
                        "client_cpu_s": round(cpu, 3),
                        "load1": round(load, 2),
                        "completion_tokens": tokens,
                    }
                )
                print(
                    f"repeat {rep} {side:5s}: {wall:6.2f} s  client CPU {cpu:5.2f} s  load {load:4.2f}  "
                    f"completion tokens {tokens}",
                    flush=True,
                )
        # The flow's fixed cost per run: the same flow again on a DB that already holds every sample.
        cached_s, summary = run_flow(dataset, config, f"sqlite:///{tmp}/run0.db", args.n, args.max_tokens)
        assert summary["generated"] == 0, summary
        print(f"flow rerun, all {len(bodies)} samples cached (fixed cost per flow run): {cached_s:.2f} s", flush=True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = statistics.median(flow_s) / statistics.median(plain_s)
    result = {
        "requests": len(bodies),
        "max_tokens": args.max_tokens,
        "concurrency": args.concurrency,
        "flow_median_s": round(statistics.median(flow_s), 3),
        "plain_median_s": round(statistics.median(plain_s), 3),
        "ratio_median": round(ratio, 4),
        "ratio_sum": round(sum(flow_s) / sum(plain_s), 4),
        "pair_ratios": [round(f / p, 3) for f, p in zip(flow_s, plain_s, strict=True)],
        "flow_client_cpu_median_s": round(statistics.median(flow_cpu), 3),
        "plain_client_cpu_median_s": round(statistics.median(plain_cpu), 3),
        "warmup_flow_s": round(warm_s, 3),
        "flow_fully_cached_rerun_s": round(cached_s, 3),
        "runs": runs,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
