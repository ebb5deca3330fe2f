"""Which Prefect API a `chorus` command talks to, decided before anything imports prefect.

Prefect's default for a process with no API is a temporary server per command (~20 s of start-up and
~2 s of shut-down each time). chorus instead starts one local Prefect server in the background the
first time it is needed and reuses it: its URL and pid live in `$CHORUS_HOME/prefect-server.json`,
its database and logs under `$CHORUS_HOME/prefect`, so CLI runs never land in an unrelated
`~/.prefect`. `chorus server --stop` stops it.

`CHORUS_PREFECT` chooses: `auto` (default: `$PREFECT_API_URL` if set, else the background server),
`ephemeral` (Prefect's temporary server per command; the test suite uses it so that no test leaves a
server behind).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from storage.errors import ChorusError
from storage.settings import chorus_home

STATE_FILE = "prefect-server.json"
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ServerState:
    url: str  # the server's root (UI); the API is url + "/api"
    pid: int

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


def prefect_home() -> Path:
    return chorus_home() / "prefect"


def state_path() -> Path:
    return chorus_home() / STATE_FILE


def set_prefect_environment() -> None:
    """Prefect's own files under CHORUS_HOME (unless the user chose PREFECT_HOME), no telemetry.

    Prefect reads these at import, so this runs before anything imports prefect."""
    os.environ.setdefault("PREFECT_HOME", str(prefect_home()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state() -> ServerState | None:
    try:
        raw = json.loads(state_path().read_text(encoding="utf-8"))
        return ServerState(url=str(raw["url"]), pid=int(raw["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_server() -> ServerState | None:
    """The background server, if its process is alive and its API answers."""
    state = read_state()
    if state and pid_alive(state.pid) and healthy(state.url):
        return state
    return None


@contextmanager
def _start_lock() -> Iterator[None]:
    """One starter at a time: two commands launched together share one server."""
    import fcntl

    chorus_home().mkdir(parents=True, exist_ok=True)
    with open(chorus_home() / "prefect-server.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def start_server(
    host: str = "127.0.0.1", port: int | None = None, database: str | None = None, say: TextIO | None = None
) -> ServerState:
    """Start the background server (or return the one already running) and wait until it answers."""
    with _start_lock():
        state = running_server()
        if state:
            return state
        stop_server()  # a stale record (dead, or alive but not answering): clear it first
        if port is None:
            port = 4200 if _port_free(host, 4200) else _free_port(host)
        url = f"http://{host}:{port}"
        home = prefect_home()
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        if database:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
        if say:
            print(f"starting Prefect: a local server at {url}, once (usually 20-40 s) ...", file=say, flush=True)
        with open(home / "server.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not killed by the terminal's Ctrl-C to the command that started it
            )
        state = ServerState(url=url, pid=proc.pid)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ChorusError(f"the Prefect server exited at start (code {proc.returncode}); see {home}/server.log")
            if healthy(url, timeout=1.0):
                state_path().write_text(json.dumps({"url": url, "pid": proc.pid}), encoding="utf-8")
                return state
            time.sleep(0.25)
        _kill_group(proc.pid)
        raise ChorusError(f"the Prefect server did not answer within {START_TIMEOUT_S:.0f} s; see {home}/server.log")


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    for _ in range(40):
        if not pid_alive(pid):
            return
        time.sleep(0.25)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def stop_server() -> ServerState | None:
    """Stop the background server chorus started (if any) and forget it; returns what was stopped."""
    state = read_state()
    if state and pid_alive(state.pid):
        _kill_group(state.pid)
    state_path().unlink(missing_ok=True)
    return state


_adopted_api_url: str | None = None  # set by adopt_recorded_server: ours, not the user's choice


def adopt_recorded_server() -> None:
    """Point Prefect at the background server now, if its record names a live process.

    Prefect reads its API URL once, when it is first imported, and commands import it (to check their
    options against the flow's parameters) before `use_prefect`; changing the URL afterwards rebuilds
    Prefect's settings (~0.1 s). Reading the record and signalling the pid costs microseconds and
    starts nothing; `use_prefect` still checks that the server answers."""
    global _adopted_api_url
    if os.environ.get("PREFECT_API_URL") or os.environ.get("CHORUS_PREFECT", "auto") != "auto":
        return
    state = read_state()
    if state and pid_alive(state.pid):
        os.environ["PREFECT_API_URL"] = _adopted_api_url = state.api_url


def use_prefect(say: TextIO | None = sys.stderr) -> str:
    """Point this process at a Prefect API before prefect is imported; returns a word for what it chose."""
    set_prefect_environment()
    mode = os.environ.get("CHORUS_PREFECT", "auto")
    if mode not in ("auto", "ephemeral"):
        raise ChorusError(f"CHORUS_PREFECT={mode}: choose auto or ephemeral")
    current = os.environ.get("PREFECT_API_URL")
    if current and current != _adopted_api_url:
        return "api"
    if mode == "ephemeral":
        return "ephemeral"
    state = running_server() or start_server(say=say)
    if state.api_url != current:
        os.environ["PREFECT_API_URL"] = state.api_url
        _refresh_imported_settings(state.api_url)
    return "background"


def _refresh_imported_settings(api_url: str) -> None:
    """Prefect freezes its settings when it is first imported; the CLI may have imported it already to
    validate a flow's parameters, so the API URL is also entered as the current settings context."""
    if "prefect.settings" not in sys.modules:
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    temporary_settings(updates={PREFECT_API_URL: api_url}).__enter__()  # for the rest of this process


@contextmanager
def without_flow_heartbeat() -> Iterator[None]:
    """Prefect's settings with no flow-run heartbeat thread: a run of seconds needs none, and joining it
    at exit costs up to 1 s. A copy of the current settings with that one field changed, not Prefect's
    `temporary_settings`, which re-reads and re-validates every setting (~0.1 s); no other setting is
    derived from this one, so the copy is what validation would give."""
    from prefect.context import SettingsContext, get_settings_context

    context = get_settings_context()
    current = context.settings
    flows = current.flows.model_copy(update={"heartbeat_frequency": None})
    with SettingsContext(profile=context.profile, settings=current.model_copy(update={"flows": flows})):
        yield
