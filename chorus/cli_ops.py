"""`chorus server` and `chorus deploy`: the local Prefect server and the project's deployments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from chorus.cli_common import app, out
from storage.errors import ChorusError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PREFECT_FILE = PROJECT_ROOT / "deployments" / "prefect.yaml"


def _prefect(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=PROJECT_ROOT,
    )
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ChorusError(f"prefect {' '.join(args[:3])}: {tail[0]}")
    return proc


@app.command()
def server(
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 4200,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    database: Annotated[
        str | None, typer.Option("--database", help="Prefect's own database, e.g. postgresql+asyncpg://...")
    ] = None,
) -> None:
    """Run a Prefect server in the foreground (schedules and triggers need one; the UI is at its URL)."""
    env = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if database:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
    out.print(f"Prefect server on http://{host}:{port} — export PREFECT_API_URL=http://{host}:{port}/api")
    os.execve(
        sys.executable,
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        {**os.environ, **env},
    )


@app.command()
def deploy(
    name: Annotated[list[str] | None, typer.Option("--name", help="Only these deployments (default: all).")] = None,
    pools: Annotated[
        bool, typer.Option("--pools/--no-pools", help="Create the cpu and gpu process work pools.")
    ] = True,
) -> None:
    """Register the deployments of deployments/prefect.yaml with the Prefect API in $PREFECT_API_URL."""
    if not os.environ.get("PREFECT_API_URL"):
        raise ChorusError("PREFECT_API_URL is not set: start `chorus server` and export the URL it prints")
    if pools:
        for pool in ("cpu", "gpu"):
            if _prefect("work-pool", "inspect", pool, check=False).returncode != 0:
                _prefect("work-pool", "create", pool, "--type", "process")
    selection = [arg for n in (name or []) for arg in ("--name", n)] or ["--all"]
    env = {"CHORUS_PROJECT_DIR": str(PROJECT_ROOT)}
    _prefect("--no-prompt", "deploy", "--prefect-file", str(PREFECT_FILE), *selection, env=env)
    out.print(f"deployed from {PREFECT_FILE}; start workers with `prefect worker start --pool cpu` (and gpu)")
