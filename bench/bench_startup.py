"""CLI start-up, before and after the background Prefect server, measured side by side.

Run: python bench/bench_startup.py [--before DIR] [--reps 3]
`--before DIR`: a checkout of the code to compare with (e.g. `git archive e548ce2 | tar -x -C DIR`).
Commands: `chorus --help`, `chorus models --no-check`, `chorus simulate` on a 2-problem file
(MATH500 gpt-oss-20b, its first two problems), and `chorus cache stats` on a cache made before the runs
(every command that opens the cache pays what this one does before its work). Each repetition runs
every command once per version, interleaved, so both see the same load; the 1-minute load average is
read before each run. Wall and CPU (user+sys of the command and the children it waits for: "before"
includes its temporary server, "after" not the background server's share) are reported as medians.
"after" uses the default set-up: the first command starts the background server (reported on its
own), later ones reuse it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "boinf" / "analysis_math500_gpt-oss-20b.jsonl"


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """(wall s, CPU s, load average before) of one run; fails loudly if the command fails."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # cwd: `python -m` puts it first on sys.path, ahead of PYTHONPATH, so it picks the version run.
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:  # reported, not fatal: the old temporary server sometimes never comes up
        print(f"FAILED ({wall:.0f} s, load {load:.1f}): {' '.join(cmd[3:])}: {proc.stderr.strip()[-200:]}")
        return float("nan"), float("nan"), load
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="Checkout of the code to compare with.")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chorus-bench-startup-"))
    two = work / "two.jsonl"
    two.write_text("".join(DATA.read_text().splitlines(keepends=True)[:2]))
    commands = {
        "chorus --help": ["--help"],
        "chorus models --no-check": ["models", "--no-check"],
        "chorus simulate (2 problems)": ["simulate", "--replay", str(two)],
        "chorus cache stats": ["cache", "stats", "--db", f"sqlite:///{work / 'cache.db'}"],
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CHORUS_"))}
    versions = {"after": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    envs = {name: {**base, "PYTHONPATH": str(path), "CHORUS_HOME": str(work / name)} for name, path in versions.items()}
    if "before" in envs:  # its temporary server's database would otherwise go to ~/.prefect
        envs["before"]["PREFECT_HOME"] = str(work / "before" / "prefect")
        # Its default (90 s) to bring up the temporary server is not always enough under load.
        envs["before"]["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "300"
    runs: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    make_cache = [sys.executable, "-m", "chorus.cli", "db", "upgrade", "--db", f"sqlite:///{work / 'cache.db'}"]
    subprocess.run(make_cache, env=envs["after"], cwd=ROOT, check=True, capture_output=True)
    simulate = [sys.executable, "-m", "chorus.cli", *commands["chorus simulate (2 problems)"]]
    first = timed(simulate, envs["after"], versions["after"])
    if "before" in versions:  # its first run creates Prefect's database (or starts its server): not steady
        warm = timed(simulate, envs["before"], versions["before"])
        print(f"before, first simulate (creates its Prefect database): {warm[0]:.1f} s wall, load {warm[2]:.1f}")
    try:
        for _ in range(args.reps):
            for label, argv in commands.items():
                for name in versions:
                    runs.setdefault((label, name), []).append(
                        timed([sys.executable, "-m", "chorus.cli", *argv], envs[name], versions[name])
                    )
    finally:  # each version's background server, if it has one (older versions used a temporary one)
        for name, path in versions.items():
            stop = [sys.executable, "-m", "chorus.cli", "server", "--stop"]
            subprocess.run(stop, env=envs[name], cwd=path, check=False, capture_output=True)
    wall, cpu, load = first
    print(f"after, first simulate (starts the server): {wall:.1f} s wall, {cpu:.1f} s CPU, load {load:.1f}")
    print("| command | version | wall s (median) | CPU s (median) | load avg (min-max) |")
    print("|---|---|---|---|---|")
    for (label, name), rs in runs.items():
        ok = [r for r in rs if r[0] == r[0]]  # drop failed runs (NaN), counted below
        walls, cpus, loads = zip(*(ok or [(float("nan"),) * 3]), strict=True)
        failed = f" ({len(rs) - len(ok)} of {len(rs)} failed)" if len(ok) < len(rs) else ""
        print(
            f"| `{label}` | {name}{failed} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | "
            f"{min(loads):.1f}-{max(loads):.1f} |"
        )


if __name__ == "__main__":
    main()
