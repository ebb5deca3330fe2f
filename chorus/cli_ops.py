"""`chorus server` and `chorus deploy`: the local Prefect server and the project's deployments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from chorus import prefect_runtime
from chorus.cli_common import app, err, out
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
    stop: Annotated[bool, typer.Option("--stop", help="Stop the background server chorus started.")] = False,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Run in this terminal until Ctrl-C (for a service manager).")
    ] = False,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Default: 4200 if free, else any free port.")
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    database: Annotated[
        str | None, typer.Option("--database", help="Prefect's own database, e.g. postgresql+asyncpg://...")
    ] = None,
) -> None:
    """The local Prefect server (UI, schedules, triggers) that chorus commands use; started once, in the background."""
    if stop:
        stopped = prefect_runtime.stop_server()
        out.print(f"stopped the Prefect server at {stopped.url}" if stopped else "no background Prefect server to stop")
        return
    if foreground:
        _serve_in_foreground(host, port or 4200, database)
        return
    state = prefect_runtime.running_server() or prefect_runtime.start_server(host, port, database, say=sys.stderr)
    out.print(f"Prefect server: {state.url} (UI); chorus commands use it by themselves.", soft_wrap=True)
    out.print(f"For prefect's own commands: export PREFECT_API_URL={state.api_url}", soft_wrap=True)
    out.print("Stop it with: chorus server --stop", soft_wrap=True)


def _serve_in_foreground(host: str, port: int, database: str | None) -> None:
    """`prefect server start`, minus its banner (it suggests `prefect config set ...`, a second instruction)."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    if database:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
    url = f"http://{host}:{port}"
    out.print(f"Prefect server: {url} (Ctrl-C stops it). Elsewhere: export PREFECT_API_URL={url}/api", soft_wrap=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    in_banner = True
    try:
        for line in proc.stdout:
            if in_banner:
                in_banner = "Check out the dashboard" not in line
                continue
            if line.strip():
                sys.stdout.write(line)
                sys.stdout.flush()
    except KeyboardInterrupt:
        proc.terminate()
    sys.exit(proc.wait())


@app.command()
def deploy(
    name: Annotated[list[str] | None, typer.Option("--name", help="Only these deployments (default: all).")] = None,
    pools: Annotated[
        bool, typer.Option("--pools/--no-pools", help="Create the cpu and gpu process work pools.")
    ] = True,
) -> None:
    """Register the deployments of deployments/prefect.yaml with the Prefect API (the background server by default)."""
    prefect_runtime.use_prefect()
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        raise ChorusError("CHORUS_PREFECT=ephemeral: deploying needs a server: set PREFECT_API_URL")
    err.print(f"registering deployments with {api} (each step starts prefect's CLI: usually 30-60 s in all) ...")
    if pools:
        for pool in ("cpu", "gpu"):
            if _prefect("work-pool", "inspect", pool, check=False).returncode != 0:
                _prefect("work-pool", "create", pool, "--type", "process")
    selection = [arg for n in (name or []) for arg in ("--name", n)] or ["--all"]
    env = {"CHORUS_PROJECT_DIR": str(PROJECT_ROOT)}
    _prefect("--no-prompt", "deploy", "--prefect-file", str(PREFECT_FILE), *selection, env=env)
    out.print(f"deployed from {PREFECT_FILE}", soft_wrap=True)
    out.print(
        f"Start a worker (with .venv activated): PREFECT_API_URL={api} prefect worker start --pool cpu",
        soft_wrap=True,
    )
