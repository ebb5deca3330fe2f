"""No process outlives chorus by accident: a watchdog stops our children when we die, even by SIGKILL.

`ensure_reaper()` starts (once per process) a tiny watchdog, this file run as a script with the
standard library only. It holds the read end of a pipe whose write end only we hold: the kernel
closes it when we die, however we die, and the watchdog reads end-of-file. Meanwhile it notes our
descendants every half second; on end-of-file it sends SIGTERM to those still alive (same pid and
start time, so a reused pid is never hit), then SIGKILL after a grace period.

Only descendants in our own session are stopped: a process meant to outlive chorus (a background
Prefect server reused across commands) must be started with `start_new_session=True`.

Linux only (it reads /proc); elsewhere `ensure_reaper` does nothing.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

_started_for: int | None = None  # the pid that owns the running watchdog (a fork needs its own)
_pipe_write: int | None = None
POLL_S = 0.5
GRACE_S = 5.0


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent pid, session id, start time) of `pid`, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    if fields[0] == "Z":
        return None  # a zombie has already exited
    return int(fields[1]), int(fields[3]), int(fields[19])


def descendants(root: int, *, same_session: bool = True) -> dict[int, int]:
    """{pid: start time} of every live descendant of `root` (in `root`'s session when `same_session`)."""
    root_stat = _stat(root)
    if root_stat is None:
        return {}
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                stats[int(entry)] = st
                children.setdefault(st[0], []).append(int(entry))
    found: dict[int, int] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in found or pid not in stats:
            continue
        if not same_session or stats[pid][1] == root_stat[1]:
            found[pid] = stats[pid][2]
        stack.extend(children.get(pid, []))
    return found


def stop_processes(procs: dict[int, int], grace_s: float = GRACE_S) -> None:
    """SIGTERM each (pid, start time) still alive, then SIGKILL what is left after `grace_s`."""

    def alive() -> list[int]:
        out = []
        for pid, started in procs.items():
            st = _stat(pid)
            if st is not None and st[2] == started:
                out.append(pid)
        return out

    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 1.0)):
        pids = alive()
        for pid in pids:
            with contextlib.suppress(OSError):  # gone meanwhile
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = alive()
        if not pids:
            return


def ensure_reaper() -> None:
    """Start the watchdog for this process, once (Linux only)."""
    global _started_for, _pipe_write
    if not sys.platform.startswith("linux") or _started_for == os.getpid():
        return
    read_end, write_end = os.pipe()  # both non-inheritable: children we start later never hold the write end
    subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid())],
        stdin=read_end,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not hit by the terminal's Ctrl-C, and not a descendant we would stop
    )
    os.close(read_end)
    _started_for, _pipe_write = os.getpid(), write_end


def _watch(parent: int) -> None:
    # The last snapshot taken while the parent lived: once it dies, its children belong to init.
    seen: dict[int, int] = {}
    while True:
        ready, _, _ = select.select([0], [], [], POLL_S)
        if ready and not os.read(0, 1):
            break  # end of file: the parent is gone (or exec'd)
        current = descendants(parent)
        if not current and _stat(parent) is None:
            break
        current.pop(os.getpid(), None)
        seen = current
    stop_processes(seen)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch(int(sys.argv[1]))
