"""Quality through `chorus serve` (issue 12): `bo-inf/MODEL` vs one sample vs a fixed majority at the
same mean budget, on a dataset with gold answers, all through the OpenAI endpoint.

    CHORUS_HOME=$(mktemp -d) .venv/bin/python bench/bench_serve_quality.py \
        [--dataset examples/arithmetic.jsonl] [--limit 20] [--model smollm2] [--max-samples 16] [--max-tokens 128]

Starts `chorus serve --model MODEL` (the embedded llama.cpp model by default), then per problem:
`bo-inf/MODEL` (Bayes factor ≥ 10, at most --max-samples), `MODEL` (one sample: cache index 0, which
the vote drew too), and `vote-N/MODEL` with N = the vote's mean samples rounded (indices 0..N-1, most
of them cached). Same prompt (the question as one user message), same parameters, no seed. Accuracy
uses `answers_match` on the `chorus.answer` of each response.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.algorithms.answers import answers_match  # noqa: E402
from tasks.algorithms.datasets import load_dataset  # noqa: E402


def ask(client: httpx.Client, model: str, question: str, max_tokens: int, chorus: dict | None = None) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens}
    if chorus:
        body["chorus"] = chorus
    r = client.post("/v1/chat/completions", json=body)
    r.raise_for_status()
    return r.json()["chorus"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default=str(ROOT / "examples" / "arithmetic.jsonl"))
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--max-samples", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--port", type=int, default=8792)
    args = ap.parse_args()
    problems = load_dataset(args.dataset, args.limit)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "chorus.cli", "serve", "--model", args.model, "--port", str(args.port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    began = time.perf_counter()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=1200) as client:
            for _ in range(600):
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            votes = [
                ask(client, f"bo-inf/{args.model}", p.question, args.max_tokens, {"max_samples": args.max_samples})
                for p in problems
            ]
            mean = statistics.fmean(v["samples"] for v in votes)
            n_fixed = max(1, round(mean))
            singles = [ask(client, args.model, p.question, args.max_tokens) for p in problems]
            fixed = [ask(client, f"vote-{n_fixed}/{args.model}", p.question, args.max_tokens) for p in problems]
    finally:
        proc.terminate()
        proc.wait()

    def accuracy(results: list[dict]) -> float:
        return round(
            sum(answers_match(r["answer"], p.answer, "math") for r, p in zip(results, problems, strict=True))
            / len(problems),
            3,
        )

    print(
        json.dumps(
            {
                "dataset": Path(args.dataset).name,
                "problems": len(problems),
                "model": args.model,
                "bo_inf": {
                    "accuracy": accuracy(votes),
                    "mean_samples": round(mean, 2),
                    "max_samples": args.max_samples,
                },
                "one_sample": {"accuracy": accuracy(singles)},
                f"fixed_majority_{n_fixed}": {"accuracy": accuracy(fixed)},
                "generated": sum(r["generated"] for r in votes + singles + fixed),
                "wall_s": round(time.perf_counter() - began, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
