"""Load on `chorus serve` (issue 12): C concurrent clients × R requests of `bo-inf/…` against a server
backed by recorded answers (the replay stand-in: no model time, so what is measured is chorus itself),
then the same votes through `chorus vote`.

    .venv/bin/python bench/bench_serve_load.py [--clients 200] [--requests 5] [--max-samples 32] [--client raw|httpx]

Votes: request k (k = 0..C·R-1, shuffled over clients with a fixed seed) asks problem k mod 500 of
MATH500 from model `math` (gpt-oss-20b's recorded answers) when k < 500, else from `math-b`
(Qwen3-14B's): C·R = 1000 distinct votes, each on a fresh SQLite cache. `chorus vote` then runs the
same votes (`--model math`, then `--model math-b`, same rule, max samples and batch schedule) on its
own fresh cache. Both sides key the cache identically (the prompt is the bare question), so both draw
exactly the same samples: mean samples and completion tokens must agree, and are checked.

Reported: errors; client-side latency p50/p99 under load; serve wall; the vote flows' own wall
(`wall_s`, Prefect start excluded) and the whole `chorus vote` commands' wall; then the server's
overhead per request measured one request at a time (p50/p99), fresh (seed 1: generated now) and cached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "boinf"
FILES = {"math": DATA / "analysis_math500_gpt-oss-20b.jsonl", "math-b": DATA / "analysis_math500_Qwen3-14B.jsonl"}
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def setup(folder: Path) -> tuple[Path, list[str]]:
    config = folder / "chorus.toml"
    config.write_text("".join(f'[models.{m}]\nbackend = "replay"\npath = "{p}"\n\n' for m, p in FILES.items()))
    rows = [json.loads(line) for line in FILES["math"].read_text().splitlines() if line.strip()]
    ids = [str(r["problem_num"]) for r in rows]
    with open(folder / "math500.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps({"id": str(r["problem_num"]), "question": str(r["problem_num"])}) + "\n")
    return config, ids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc), to see who used the CPU under load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(config: Path, home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHORUS_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chorus.cli", "serve", "--config", str(config), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(home.parent / "serve.log", "wb"),  # noqa: SIM115 - the child process holds it
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("server did not start")


class RawConnection:
    """One client's keep-alive HTTP/1.1 connection on bare asyncio streams. The load generator shares
    the server's cores, so its CPU is taken from the server: httpx's connection pool cost ~10 ms of CPU
    per request with 200 connections (twice the server's own), this costs well under 1 ms."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        raw = json.dumps(body).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
        writer.write(f"{head}Content-Length: {len(raw)}\r\n\r\n".encode() + raw)
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        length = int(next(v for k, v in headers.items() if k.lower() == "content-length"))
        return int(lines[0].split()[1]), await reader.readexactly(length)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


async def load(
    url: str, plan: list[list[tuple[str, str]]], max_samples: int, client_kind: str
) -> tuple[list[float], list, int]:
    latencies: list[float] = []
    results: list[tuple[str, str, dict]] = []
    errors = 0
    limits = httpx.Limits(max_connections=len(plan) + 10, max_keepalive_connections=len(plan) + 10)
    host, port = url.removeprefix("http://").split(":")
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:

        async def one_client(requests: list[tuple[str, str]]) -> None:
            nonlocal errors
            raw = RawConnection(host, int(port))
            for model, question in requests:
                body = {
                    "model": f"bo-inf/{model}",
                    "messages": [{"role": "user", "content": question}],
                    "chorus": {"max_samples": max_samples},
                }
                began = time.perf_counter()
                try:
                    if client_kind == "raw":
                        status, content = await raw.post("/v1/chat/completions", body)
                    else:
                        r = await client.post(f"{url}/v1/chat/completions", json=body)
                        status, content = r.status_code, r.content
                except (httpx.HTTPError, OSError, asyncio.IncompleteReadError) as exc:
                    errors += 1
                    print(f"transport error: {type(exc).__name__}: {exc}", file=sys.stderr)
                    raw.close()
                    raw = RawConnection(host, int(port))
                    continue
                latencies.append(time.perf_counter() - began)
                if status != 200:
                    errors += 1
                    print(f"HTTP {status}: {content[:200]!r}", file=sys.stderr)
                    continue
                results.append((model, question, json.loads(content)))
            raw.close()

        await asyncio.gather(*(one_client(reqs) for reqs in plan))
    return latencies, results, errors


def sequential(url: str, questions: list[str], seed: int | None, max_samples: int) -> list[float]:
    out = []
    with httpx.Client(timeout=60) as client:
        for q in questions:
            body = {
                "model": "bo-inf/math",
                "messages": [{"role": "user", "content": q}],
                "chorus": {"max_samples": max_samples},
                "seed": seed,
            }
            began = time.perf_counter()
            client.post(f"{url}/v1/chat/completions", json=body).raise_for_status()
            out.append(time.perf_counter() - began)
    return out


def chorus_vote(folder: Path, config: Path, model: str, home: Path, max_samples: int) -> tuple[dict, float, float]:
    env = {**os.environ, "CHORUS_HOME": str(home), "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "chorus.cli",
        "vote",
        "--dataset",
        str(folder / "math500.jsonl"),
        "--model",
        model,
        "--config",
        str(config),
        "--max-samples",
        str(max_samples),
        "--no-baseline",
        "--json",
    ]
    began, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout), time.perf_counter() - began, _children_cpu() - cpu


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--max-samples", type=int, default=32)
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--no-vote", action="store_true", help="Skip the `chorus vote` side (quick iterations).")
    ap.add_argument("--client", choices=["raw", "httpx"], default="raw", help="Load clients' HTTP library.")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    config, ids = setup(folder)
    total = args.clients * args.requests
    votes = [("math" if k < len(ids) else "math-b", ids[k % len(ids)]) for k in range(total)]
    random.Random(0).shuffle(votes)
    plan = [votes[i * args.requests : (i + 1) * args.requests] for i in range(args.clients)]

    proc = start_server(config, folder / "serve-home", args.port)
    url = f"http://127.0.0.1:{args.port}"
    try:
        load_before = os.getloadavg()
        server_cpu, client_cpu = cpu_seconds(proc.pid), time.process_time()
        began = time.perf_counter()
        latencies, results, errors = asyncio.run(load(url, plan, args.max_samples, args.client))
        serve_wall = time.perf_counter() - began
        server_cpu, client_cpu = cpu_seconds(proc.pid) - server_cpu, time.process_time() - client_cpu
        load_after = os.getloadavg()
        fresh = sequential(url, ids[:100], 1, args.max_samples)
        cached = sequential(url, ids[:100], 1, args.max_samples)
    finally:
        proc.terminate()
        proc.wait()

    vote_flow_wall, vote_cmd_wall, vote_cmd_cpu, vote_samples, vote_tokens = 0.0, 0.0, 0.0, 0, 0
    for model in [] if args.no_vote else FILES:
        summary, cmd_wall, cmd_cpu = chorus_vote(folder, config, model, folder / "vote-home", args.max_samples)
        vote_cmd_cpu += cmd_cpu
        vote_flow_wall += summary["wall_s"]
        vote_cmd_wall += cmd_wall
        vote_samples += round(summary["mean_samples"] * summary["problems"])
        vote_tokens += summary["completion_tokens"]
    serve_samples = sum(d["chorus"]["samples"] for _, _, d in results)
    serve_tokens = sum(d["usage"]["completion_tokens"] for _, _, d in results)
    report = {
        "clients": args.clients,
        "requests_per_client": args.requests,
        "requests": total,
        "errors": errors,
        "load_client": args.client,
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "serve_wall_s": round(serve_wall, 2),
        "cpu_s_during_load": {"server": round(server_cpu, 2), "load_clients": round(client_cpu, 2)},
        "latency_under_load_s": {"p50": round(pct(latencies, 0.5), 3), "p99": round(pct(latencies, 0.99), 3)},
        "vote_flow_wall_s": round(vote_flow_wall, 2),
        "vote_command_wall_s": round(vote_cmd_wall, 2),
        "vote_command_cpu_s": round(vote_cmd_cpu, 2),
        "ratio_serve_vs_vote_flow": round(serve_wall / vote_flow_wall, 3) if vote_flow_wall else None,
        "ratio_serve_vs_vote_command": round(serve_wall / vote_cmd_wall, 3) if vote_cmd_wall else None,
        "same_votes": {
            "serve_samples": serve_samples,
            "vote_samples": vote_samples,
            "serve_tokens": serve_tokens,
            "vote_tokens": vote_tokens,
        },
        "overhead_one_at_a_time_ms": {
            "fresh_p50": round(1000 * statistics.median(fresh), 1),
            "fresh_p99": round(1000 * pct(fresh, 0.99), 1),
            "cached_p50": round(1000 * statistics.median(cached), 1),
            "cached_p99": round(1000 * pct(cached, 0.99), 1),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
