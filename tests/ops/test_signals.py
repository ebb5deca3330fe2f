"""Signals against a real `chorus sample` process and the processes it starts (Prefect's ephemeral API
server; with the embedded model, the llama.cpp server): SIGKILL leaves no process behind; SIGINT (to the
process alone, or to its group as Ctrl-C does) and SIGTERM stop it within seconds with one line and exit
128 + signal; a rerun resumes from the cache.

Two upstreams: the embedded model (a real llama.cpp child; marked llama) and a slow OpenAI-compatible
harness (so a run lasts long enough to be interrupted on any machine)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.backends.orphan_reaper import descendants
from tests.conftest import EXAMPLES
from tests.fixtures.helpers import alive, cmdline, count
from tests.fixtures.servers import wait_for
from tests.fixtures.slow_openai import SlowOpenAI

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

LIMIT, N = 12, 2


@pytest.fixture(params=["slow-openai", pytest.param("embedded-llama", marks=pytest.mark.llama)])
def upstream(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[list[str], str]]:
    """(registry arguments, the child process expected besides Prefect's server)."""
    if request.param == "embedded-llama":
        yield [], "llama_cpp.server"
        return
    with SlowOpenAI(delay_s=1.0) as server:
        cfg = tmp_path / "chorus.toml"
        cfg.write_text(server.registry())
        yield ["--config", str(cfg), "--model", "slow"], "uvicorn"


def sample_args(db_file: Path, registry: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "chorus.cli",
        "sample",
        "--dataset",
        str(EXAMPLES / "arithmetic.jsonl"),
        "--limit",
        str(LIMIT),
        "-n",
        str(N),
        "--max-tokens",
        "24",
        "--chunk-size",
        "1",
        "--db",
        f"sqlite:///{db_file}",
        "--json",
        *registry,
    ]


def start_and_wait_for_work(db_file: Path, upstream: tuple[list[str], str]) -> tuple[subprocess.Popen[str], dict]:
    """Start `chorus sample` as its own process group (as a shell does) and wait until generations land."""
    registry, child = upstream
    proc = subprocess.Popen(
        sample_args(db_file, registry),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert wait_for(lambda: count(db_file) >= 2 or proc.poll() is not None, timeout=400), "no generation landed"
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    children = descendants(proc.pid, same_session=False)
    lines = [cmdline(pid) for pid in children]
    assert any(child in c for c in lines), lines  # the process that must not outlive chorus
    return proc, children


def rerun_resumes(db_file: Path, upstream: tuple[list[str], str], kept: int) -> None:
    proc = subprocess.run(sample_args(db_file, upstream[0]), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["cached"] >= kept and summary["generated"] + summary["cached"] == LIMIT * N
    assert count(db_file) == LIMIT * N


def test_sigkill_leaves_no_process_behind_and_a_rerun_resumes(tmp_path: Path, upstream) -> None:  # type: ignore[no-untyped-def]
    db_file = tmp_path / "c.db"
    proc, children = start_and_wait_for_work(db_file, upstream)
    proc.kill()
    proc.wait(timeout=10)
    assert wait_for(lambda: not alive(children), timeout=15), alive(children)
    rerun_resumes(db_file, upstream, count(db_file))


@pytest.mark.parametrize(
    ("sig", "to_group", "code"),
    [(signal.SIGINT, False, 130), (signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)],
    ids=["sigint-process", "ctrl-c-group", "sigterm"],
)
def test_a_signal_stops_quickly_with_one_line(tmp_path: Path, upstream, sig: int, to_group: bool, code: int) -> None:  # type: ignore[no-untyped-def]
    db_file = tmp_path / "c.db"
    proc, children = start_and_wait_for_work(db_file, upstream)
    started = time.monotonic()
    if to_group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - started
    assert proc.returncode == code, err[-2000:]
    assert took < 10, took
    # What was said before the signal ("starting the embedded llama.cpp model server ...") is progress;
    # the signal itself adds exactly one line.
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("starting ")]
    assert len(lines) == 1 and "resume" in lines[0] and "chorus sample" in lines[0], err[-2000:]
    assert "Traceback" not in err
    assert wait_for(lambda: not alive(children), timeout=10), alive(children)
    if to_group:  # resuming is the cache's doing, the same after any of the three; once per upstream saves CI time
        rerun_resumes(db_file, upstream, count(db_file))
