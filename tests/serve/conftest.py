"""A real `chorus serve` process per fixture, backed by recorded answers (the replay stand-in) or the
embedded llama.cpp model; clients are the official `openai` package."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, SHARED_DATA

MATH_A = SHARED_DATA / "analysis_math500_gpt-oss-20b.jsonl"
MATH_B = SHARED_DATA / "analysis_math500_Qwen3-14B.jsonl"


@dataclass
class Served:
    url: str  # .../v1
    home: Path  # CHORUS_HOME of the server (its SQLite cache)
    proc: subprocess.Popen[bytes]

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.home / 'cache.db'}"

    def client(self, key: str = "none", **kw: object):  # type: ignore[no-untyped-def]
        import openai

        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=60, **kw)


def replay_config(folder: Path, extra: str = "") -> Path:
    if not MATH_A.is_file() or not MATH_B.is_file():
        pytest.skip(f"shared replay data not found under {SHARED_DATA}")
    path = folder / "chorus.toml"
    path.write_text(
        f'[models.math]\nbackend = "replay"\npath = "{MATH_A}"\n\n'
        f'[models.math-b]\nbackend = "replay"\npath = "{MATH_B}"\n' + extra,
        encoding="utf-8",
    )
    return path


def serve_command(port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "chorus.cli", "serve", "--port", str(port), *args]


def serve_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CHORUS_DATABASE_URL", "CHORUS_CONFIG")}
    return {**env, "CHORUS_HOME": str(home), "PYTHONPATH": str(REPO), **extra}


def launch(home: Path, *args: str, env: dict[str, str] | None = None, ready_s: float = 60) -> Served:
    """Start `chorus serve` with CHORUS_HOME=home on a free port; returns once /health answers."""
    from tasks.backends.local_server import free_port

    port = free_port()
    proc = subprocess.Popen(
        serve_command(port, *args),
        env=serve_env(home, **(env or {})),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"chorus serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return Served(f"{base}/v1", home, proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise AssertionError("chorus serve did not become ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user stops it (uvicorn shuts down, embedded model servers are stopped)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for a module: models `math` and `math-b` (recorded MATH500 answers of two models)."""
    folder = tmp_path_factory.mktemp("serve-replay")
    served = launch(folder / "home", "--config", str(replay_config(folder)))
    yield served
    stop(served.proc)
