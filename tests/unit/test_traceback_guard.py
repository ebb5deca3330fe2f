"""A run that printed a traceback exits non-zero even when the command itself returned normally."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging, sys
from chorus import cli
from chorus.cli_common import app

@app.command("logs-a-traceback")
def logs_a_traceback() -> None:
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("background").exception("a background thread failed")

@app.command("quiet")
def quiet() -> None:
    print("fine")

sys.argv = ["chorus", sys.argv[1]]
cli.main()
"""


def run(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, command], capture_output=True, text=True, timeout=60)


def test_a_logged_traceback_fails_the_run() -> None:
    proc = run("logs-a-traceback")
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "error: a traceback was printed above, so this run counts as failed"


def test_a_clean_run_still_exits_zero() -> None:
    proc = run("quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "fine" and proc.stderr == ""
