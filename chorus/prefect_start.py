"""Start Prefect's ephemeral API server under a lock, so that runs starting together do not race.

With no `PREFECT_API_URL`, every chorus process starts its own temporary Prefect server on the
database under `PREFECT_HOME`, and that server upgrades the database schema as it starts. Two
processes starting on a fresh `PREFECT_HOME` ran the same migration at once ("duplicate column name:
state_timestamp": 338 lines of traceback, exit 1 for one of three runs). Holding an exclusive file
lock until our server answers its health check means the second server finds the schema up to date.
Prefect reuses the started server for the flow run (it is a per-process singleton).

The temporary server shares our terminal, and when Prefect stops it at exit its background services
log their cancellation as ERROR tracebacks ("CancelledError" in task_run_recorder) on a run that
succeeded. Its log level is CRITICAL unless CHORUS_VERBOSE is set: what goes wrong in the server
reaches us as a failed API call anyway, which the client reports.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def start_ephemeral_api() -> None:
    """Start this process's ephemeral Prefect server now, one process at a time per PREFECT_HOME."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or os.environ.get("PREFECT_API_URL"):
        return  # a real Prefect server: it migrated once, when it started, and is not ours to stop
    from prefect.server.api.server import SubprocessASGIServer

    from tasks.backends.orphan_reaper import ensure_reaper

    ensure_reaper()  # if we are killed outright, the watchdog stops the server we are about to start

    if not os.environ.get("CHORUS_VERBOSE"):
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")  # read by the server subprocess

    home = Path(settings.home).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".chorus-ephemeral-start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
        SubprocessASGIServer().start()
