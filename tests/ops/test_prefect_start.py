"""Runs that start together on a fresh PREFECT_HOME: each starts its own ephemeral Prefect server, and
the servers' schema migrations must not race (before the lock, one run in three failed with 338 lines
of "duplicate column name" traceback). A race is a matter of timing, so this can only fail sometimes
when the lock is gone; it never fails while the lock is there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUNS = 3


def test_three_runs_on_a_fresh_prefect_home_all_succeed_quietly(tmp_path: Path) -> None:
    home = tmp_path / "prefect-home"  # fresh: no database yet
    env = {"PREFECT_HOME": str(home), "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "storage")}
    args = [sys.executable, "-m", "chorus.cli", "simulate", "--replay", "math500/gpt-oss-20b", "--trials", "2"]
    args += ["--thresholds", "10", "--fixed", "1", "--json", "-"]
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        for _ in range(RUNS)
    ]
    results = [(p, *p.communicate(timeout=600)) for p in procs]
    for proc, out, err in results:
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "Error" not in err, err[-3000:]
        assert '"n_problems": 500' in out
