"""Scale: `vote` over 10,000 replay problems × 3 models through the full stack (Prefect, cache, flows),
on SQLite (and PostgreSQL with --db), against the same computation in-process without Prefect or cache.

    .venv/bin/python bench/bench_scale.py [--problems 10000] [--db postgresql+psycopg://...]
        [--prefect background|ephemeral] [--mode both|stack|inproc]

Goal (issue 6): full stack ≤ 2× the in-process time on replay; memory flat in the number of problems.
`--prefect background` (default, as the CLI): a local Prefect server started before the clock starts
(chorus's background server, in the run's own CHORUS_HOME, stopped at the end); `ephemeral`: Prefect's
temporary server, started inside the timed call (~15 s fixed cost). Peak RSS is this process's (the
Prefect server is another process either way): run `--mode stack` for the full stack's own.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def write_synthetic(
    tmp: Path, problems: int, models: int = 3, answers: int = 40, seed: int = 0
) -> tuple[list[Path], Path]:
    rng = np.random.default_rng(seed)
    files = [tmp / f"model{m}.jsonl" for m in range(models)]
    handles = [f.open("w") for f in files]
    with (tmp / "dataset.jsonl").open("w") as ds:
        for q in range(problems):
            p = rng.dirichlet(np.ones(4) * 0.5)
            ds.write(json.dumps({"id": q, "question": f"synthetic problem {q}", "answer": "0"}) + "\n")
            for h in handles:
                drawn = rng.choice(4, size=answers, p=rng.dirichlet(p * 8 + 0.1))
                h.write(
                    json.dumps({"problem_num": q, "gold_answer": "0", "all_answers": [[str(a), 100] for a in drawn]})
                    + "\n"
                )
    for h in handles:
        h.close()
    return files, tmp / "dataset.jsonl"


def in_process(files: list[Path], dataset: Path, max_samples: int) -> dict[str, float]:
    """The same draws and stopping decisions, straight from the replay files: no Prefect, no cache."""
    import random

    from storage.keys import derive_seed
    from tasks.algorithms.answers import answer_key
    from tasks.algorithms.datasets import load_dataset
    from tasks.algorithms.replay_files import load_replay
    from tasks.algorithms.stopping import VoteState, make_rule, plurality
    from tasks.services.voting import draw_model

    t0, c0 = time.perf_counter(), time.process_time()
    models = [{p.problem_id: p for p in load_replay(f)} for f in files]
    problems = load_dataset(dataset)
    rule = make_rule("bayes", 10, max_samples)
    weights = (1 / 3, 1 / 3, 1 / 3)
    correct = samples = 0
    for start in range(0, len(problems), 200):
        chunk = problems[start : start + 200]
        seqs: dict[str, list[str | None]] = {p.id: [] for p in chunk}
        active = [p.id for p in chunk]
        round_ = 0
        while active:
            for pid in active:
                # The flow's default batch schedule 1, 1, 2, 4, 8, ...
                for _ in range(min((1, 1, 2, 4, 8)[min(round_, 4)], max_samples - len(seqs[pid]))):
                    m = draw_model(pid, len(seqs[pid]), weights)
                    rec = models[m][pid]
                    seed = derive_seed(f"m{m}", pid, "params", len(seqs[pid]))
                    i = random.Random(seed).randrange(len(rec.answers))
                    seqs[pid].append(answer_key(f"\\boxed{{{rec.answers[i]}}}", "math"))
            round_ += 1
            stop, _ = rule.should_stop(VoteState.from_sequences([seqs[pid] for pid in active]))
            active = [pid for pid, s in zip(active, stop, strict=True) if not s]
        for p in chunk:
            correct += plurality(seqs[p.id]) == "0"
            samples += len(seqs[p.id])
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "accuracy": correct / len(problems),
        "mean_samples": samples / len(problems),
    }


def full_stack(files: list[Path], dataset: Path, db: str, tmp: Path, max_samples: int) -> dict[str, float]:
    import asyncio

    from flows.vote_flow import vote_flow

    cfg = tmp / "chorus.toml"
    cfg.write_text("".join(f'[models.m{i}]\nbackend = "replay"\npath = "{f}"\n' for i, f in enumerate(files)))
    t0, c0 = time.perf_counter(), time.process_time()
    summary = asyncio.run(  # as `chorus vote` runs it (the flow holds one Prefect client, fewer GC passes)
        vote_flow(
            dataset=str(dataset),
            models=["m0", "m1", "m2"],
            rule="bayes",
            threshold=10,
            max_samples=max_samples,
            baseline=False,
            db=db,
            config=str(cfg),
            chunk_size=200,
        )
    )
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,  # this process, all threads (the Prefect server is another)
        "accuracy": summary["accuracy"],
        "mean_samples": summary["mean_samples"],
        "generated": summary["generated"],
        "flow_wall_s": summary["wall_s"],  # inside the flow: without creating and finishing the flow run
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=10_000)
    parser.add_argument("--max-samples", type=int, default=16)
    parser.add_argument("--db", default=None)
    parser.add_argument("--mode", choices=["both", "stack", "inproc"], default="both")
    parser.add_argument("--prefect", choices=["background", "ephemeral"], default="background")
    args = parser.parse_args()
    # Not a `with TemporaryDirectory()`: it would go before the exit handlers run, taking the server's
    # record with it, and the server would outlive the bench. Exit handlers run last-registered first:
    # prefect's own (last logs and events), then the server's stop, then this removal.
    tmp = Path(tempfile.mkdtemp(prefix="chorus-bench-scale-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    os.environ["CHORUS_HOME"] = str(tmp / "home")
    os.environ.pop("PREFECT_API_URL", None)
    if args.mode != "inproc":
        from chorus import prefect_runtime

        prefect_runtime.set_prefect_environment()
        if args.prefect == "background":
            os.environ["PREFECT_API_URL"] = prefect_runtime.start_server().api_url
            atexit.register(prefect_runtime.stop_server)
    run(args, tmp)


def run(args: argparse.Namespace, tmp: Path) -> None:
    files, dataset = write_synthetic(tmp, args.problems)
    result: dict[str, object] = {"problems": args.problems, "models": 3, "max_samples": args.max_samples}
    if args.mode in ("both", "inproc"):
        from flows.run_policy import fewer_gc_passes

        with fewer_gc_passes():  # the loop gets the flow's garbage collection too (it gains ~0.1 s)
            result["in_process"] = in_process(files, dataset, args.max_samples)
    if args.mode in ("both", "stack"):
        db = args.db or f"sqlite:///{tmp / 'scale.db'}"
        result["full_stack"] = full_stack(files, dataset, db, tmp, args.max_samples)
        result["db"] = db.split(":")[0]
        result["prefect"] = args.prefect
    if "in_process" in result and "full_stack" in result:
        result["ratio"] = result["full_stack"]["seconds"] / result["in_process"]["seconds"]  # type: ignore[index]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["load_avg_1min_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
