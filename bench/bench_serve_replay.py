"""`vote` at GPU scale on CPU: 2,500 MATH500 problems (5 models' recorded answers) through the CLI,
Prefect and a SQLite cache, over HTTP to `chorus serve-replay` stand-ins (64 slots each), measured from the
stand-ins' sequence logs.

    .venv/bin/python bench/bench_serve_replay.py --label barrier-free            # this tree's vote
    .venv/bin/python bench/bench_serve_replay.py --label lock-step --client-code /tmp/old-tree
    .venv/bin/python bench/bench_serve_replay.py --label router --stand-ins 2     # sglang-router in front

`--client-code DIR` runs `chorus vote` from another checkout (e.g. `git archive <commit> | tar -x -C DIR`
of the commit before barrier-free voting) against the same stand-ins, so the baseline is today's code.
Per run it prints one JSON line: server utilisation while at least `slots` sequences remain
(per stand-in), server wall (first arrival to last completion) against the ideal makespan (the larger
of total slot work / all slots and the longest chain of one problem's requests), the CLI's own wall
(Prefect start-up included), accuracy and mean samples against `simulate` (same rule, batch 1, 200
trials, canonical keys) with standard errors, and the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import sqlalchemy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chorus.replay_server.catalog import ReplayCatalog  # noqa: E402
from chorus.replay_server.gpu_model import (  # noqa: E402
    GpuParams,
    SequenceRecord,
    makespan_bounds,
    problem_chains,
    utilisation_while_backlogged,
)
from tasks.algorithms.options import ANSWER_KEYS  # noqa: E402
from tasks.algorithms.replay_files import load_replay  # noqa: E402
from tasks.algorithms.simulation import simulate  # noqa: E402
from tests.fixtures.replay_stack import sglang_router, stand_in  # noqa: E402
from tests.fixtures.servers import postgres_server  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "boinf"
MODELS = [
    "gpt-oss-20b",
    "Phi-4-reasoning",
    "NVIDIA-Nemotron-Nano-9B-v2",
    "EXAONE-Deep-32B",
    "Qwen3-30B-A3B-Thinking-2507",
]
FILES = [DATA / f"analysis_math500_{m}.jsonl" for m in MODELS]


def load1() -> float:
    return os.getloadavg()[0]


def schedule_check_points(schedule: str, max_samples: int) -> list[int]:
    """The sample counts after which `vote --batch-schedule` asks the rule (the last batch repeats)."""
    batches = [int(b) for b in schedule.split(",")]
    points, n, i = [], 0, 0
    while n < max_samples:
        n = min(max_samples, n + batches[min(i, len(batches) - 1)])
        points.append(n)
        i += 1
    return points


def simulate_expectation(files: list[Path], threshold: float, max_samples: int, schedule: str) -> dict[str, float]:
    """Per-file simulate (bayes, asked after each batch of the schedule), pooled by problem count."""
    acc, acc_var, samples, samples_var, total = 0.0, 0.0, 0.0, 0.0, 0
    parts = []
    for f in files:
        problems = load_replay(f)
        r = simulate(
            problems,
            rule="bayes",
            thresholds=[threshold],
            fixed=[1],
            trials=200,
            max_samples=max_samples,
            seed=0,
            key=ANSWER_KEYS["canonical"],
            check_points=schedule_check_points(schedule, max_samples),
        ).adaptive[0]
        parts.append((len(problems), r))
        total += len(problems)
    for n, r in parts:
        w = n / total
        acc += w * r.accuracy
        acc_var += (w * r.accuracy_se) ** 2
        samples += w * r.mean_samples
        samples_var += (w * r.mean_samples_se) ** 2
    return {
        "accuracy": acc,
        "accuracy_se": math.sqrt(acc_var),
        "mean_samples": samples,
        "mean_samples_se": math.sqrt(samples_var),
    }


def per_problem_samples(db_url: str) -> list[int]:
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = sqlalchemy.text("SELECT COUNT(*) FROM generations GROUP BY prompt_hash")
            return [int(n) for (n,) in conn.execute(query)]
    finally:
        engine.dispose()


def chain_diagnosis(records: list[SequenceRecord], params: GpuParams) -> dict[str, float]:
    """Where the wall went: the longest chain's ideal length, when its first request arrived and how long
    it took (first arrival to last end), and the mean queueing of a sequence (start - arrival)."""
    t0 = min(r.arrival for r in records)
    chain = problem_chains(records, params)
    hardest = max(chain, key=chain.__getitem__)
    mine = [r for r in records if r.problem == hardest]
    first = min(r.arrival for r in mine) - t0
    return {
        "longest_chain_model_s": round(chain[hardest], 1),
        "its_first_arrival_model_s": round(first, 1),
        "its_span_model_s": round(max(r.end for r in mine) - t0 - first, 1),
        "mean_queue_wait_model_s": round(sum(r.start - r.arrival for r in records) / len(records), 1),
    }


def command_args(args: argparse.Namespace, dataset: Path) -> list[str]:
    """The chorus command under test: `vote` (adaptive), `sample` (n each) or `fuse` (n candidates, then
    the same model as fusor, Best-of-N by majority, no judge)."""
    if args.command == "sample":
        return ["sample", "--dataset", str(dataset), "--model", "replay64", "-n", str(args.n)]
    if args.command == "fuse":
        common = ["--dataset", str(dataset), "--model", "replay64", "-n", str(args.n), "--fusor", "replay64"]
        return [
            "fuse",
            *common,
            "--select",
            "majority",
            "--no-compare",
            "--answer-kind",
            "math",
            "--fusor-context",
            "65536",
        ]
    return [
        "vote",
        "--dataset",
        str(dataset),
        "--model",
        "replay64",
        "--rule",
        "bayes",
        "--threshold",
        str(args.threshold),
        "--max-samples",
        str(args.max_samples),
        "--batch-schedule",
        args.batch_schedule,
        "--no-baseline",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    ap.add_argument("--command", choices=["vote", "sample", "fuse"], default="vote")
    ap.add_argument("-n", type=int, default=4, help="sample/fuse: samples (candidates) per problem")
    ap.add_argument("--stand-ins", type=int, default=1)
    ap.add_argument("--client-code", type=Path, default=REPO)
    ap.add_argument("--slots", type=int, default=64)
    ap.add_argument("--decode-tps", type=float, default=60.0)
    ap.add_argument("--speedup", type=float, default=120.0)
    ap.add_argument("--max-concurrency", type=int, default=128)
    ap.add_argument("--threshold", type=float, default=10.0)
    ap.add_argument("--max-samples", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32768)
    ap.add_argument("--batch-schedule", default="1")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-serve-replay-"))
    catalog = ReplayCatalog.from_files(FILES)
    rows = catalog.dataset_rows()
    random.Random(0).shuffle(rows)  # matched by id, never by position
    rows = rows[: args.limit] if args.limit else rows
    dataset = work / "math500_replay.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gpu = ("--slots", str(args.slots), "--decode-tps", str(args.decode_tps), "--speedup", str(args.speedup))

    with ExitStack() as stack:
        servers = [stack.enter_context(stand_in(FILES, *gpu))[0] for _ in range(args.stand_ins)]
        url = stack.enter_context(sglang_router(servers)) if args.stand_ins > 1 else servers[0]
        cfg = work / "chorus.toml"
        cfg.write_text(
            f'[models.replay64]\nbackend = "sglang"\nmodel = "replay/stand-in"\nendpoints = ["{url}"]\nchat = false\n'
            f"max_concurrency = {args.max_concurrency}\n"
            f"sampling = {{ temperature = 0.6, max_tokens = {args.max_tokens} }}\n"
        )
        db_url = f"sqlite:///{work / 'cache.db'}"
        if args.db == "postgres":
            db_url = stack.enter_context(postgres_server())
        cmd = [sys.executable, "-m", "chorus.cli", *command_args(args, dataset), "--json", "--db", db_url]
        cmd += ["--config", str(cfg)]
        env = {**os.environ, "PYTHONPATH": str(args.client_code), "CHORUS_HOME": str(work / "home")}
        env.pop("PREFECT_API_URL", None)
        load_before = load1()
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=args.client_code)
        cli_wall = time.perf_counter() - started
        load_after = load1()
        if proc.returncode != 0:
            sys.exit(f"vote failed ({proc.returncode}): {proc.stderr[-3000:]}")
        summary = json.loads(proc.stdout[proc.stdout.index("{") :])
        logs = [httpx.get(f"{s}/chorus/timeline", timeout=60).json() for s in servers]
        samples = per_problem_samples(db_url)
        for i, log in enumerate(logs):  # kept for later questions (where did the time go?)
            (work / f"timeline-{i}.json").write_text(json.dumps(log))

    params = GpuParams(args.slots, args.decode_tps, logs[0]["params"]["prefill_tps"], args.speedup)
    everything: list[SequenceRecord] = []
    utilisation = []
    for i, log in enumerate(logs):
        records = [SequenceRecord(**r) for r in log["sequences"]]
        utilisation.append(round(utilisation_while_backlogged(records, args.slots, args.slots)[0], 4))
        shift = (log["t0_unix"] - logs[0]["t0_unix"]) * args.speedup  # onto the first stand-in's clock
        everything += [
            SequenceRecord(
                r.request_id + 10**9 * i,
                r.problem,
                r.arrival + shift,
                r.start + shift,
                r.end + shift,
                r.tokens,
                r.prompt_tokens,
            )
            for r in records
        ]
    server_wall = max(r.end for r in everything) - min(r.arrival for r in everything)
    bounds = makespan_bounds(everything, GpuParams(args.slots * len(logs), params.decode_tps, params.prefill_tps))
    ideal = max(bounds)
    n = len(samples)
    mean = sum(samples) / n
    vote = args.command == "vote"
    sim = None
    if vote and not args.limit:
        sim = simulate_expectation(FILES, args.threshold, args.max_samples, args.batch_schedule)
    acc = float(summary["accuracy"]) if vote else float("nan")
    out = {
        "label": args.label,
        "command": args.command,
        "stand_ins": args.stand_ins,
        "db": args.db,
        "batch_schedule": args.batch_schedule,
        "max_concurrency": args.max_concurrency,
        "problems": summary.get("problems", len(rows)),
        "sequences": len(everything),
        "utilisation_while_backlogged": utilisation,
        "server_wall_model_s": round(server_wall, 1),
        "server_wall_real_s": round(server_wall / args.speedup, 2),
        "ideal_makespan_model_s": round(ideal, 1),
        "work_over_slots_and_longest_chain_model_s": [round(b, 1) for b in bounds],
        "wall_over_ideal": round(server_wall / ideal, 3),
        "chains": chain_diagnosis(everything, params),
        "cli_wall_s": round(cli_wall, 1),
        "accuracy": acc,
        "accuracy_se": round(math.sqrt(acc * (1 - acc) / n), 4),
        "mean_samples": round(mean, 3),
        "mean_samples_se": round(math.sqrt(sum((s - mean) ** 2 for s in samples) / (n - 1) / n), 4),
        "simulate": {k: round(v, 4) for k, v in sim.items()} if sim else None,
        "load_1min_before_after": [round(load_before, 2), round(load_after, 2)],
        "work_dir": str(work),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
