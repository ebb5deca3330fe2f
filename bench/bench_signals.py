"""How fast `chorus sample` stops on SIGINT / SIGTERM mid-run, and what it prints (issue 13).

    PYTHONPATH=$PWD .venv/bin/python bench/bench_signals.py

A slow OpenAI-compatible harness (1 s per request, tests/fixtures/slow_openai.py) keeps the run busy;
the signal goes to the chorus process alone once two generations are cached.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.backends.orphan_reaper import descendants  # noqa: E402
from tests.fixtures.helpers import count  # noqa: E402
from tests.fixtures.slow_openai import SlowOpenAI  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="chorus-bench-signals-"))
    with SlowOpenAI(1.0) as server:
        (tmp / "r.toml").write_text(server.registry())
        for sig in (signal.SIGINT, signal.SIGTERM):
            db = tmp / f"c{sig}.db"
            args = [sys.executable, "-m", "chorus.cli", "sample", "--dataset", str(ROOT / "examples/arithmetic.jsonl")]
            args += ["--limit", "12", "-n", "2", "--chunk-size", "1", "--db", f"sqlite:///{db}", "--json"]
            args += ["--config", str(tmp / "r.toml"), "--model", "slow"]
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
            while count(db) < 2:
                time.sleep(0.1)
            children = descendants(proc.pid, same_session=False)
            started = time.monotonic()
            proc.send_signal(sig)
            _, err = proc.communicate()
            took = time.monotonic() - started
            print(
                f"{signal.Signals(sig).name}: exit {proc.returncode} after {took:.2f} s, "
                f"{len(err.splitlines())} stderr line(s), {len(children)} child process(es) stopped; "
                f"load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
