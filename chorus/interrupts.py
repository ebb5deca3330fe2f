"""Ctrl-C, SIGTERM and SIGHUP: stop within seconds, keep what finished, say in one line how to resume.

Every generation is committed to the cache as it arrives, so nothing finished is lost by stopping at
once: the handler prints one line, silences the rest (Prefect and its server would otherwise print
hundreds of lines of shutdown tracebacks), stops the processes chorus started (the embedded llama.cpp
server, the ephemeral Prefect server) and exits 128 + the signal number (130 for SIGINT, 143 for
SIGTERM). A second signal exits at once. The flow run is left as Prefect last saw it (Running); a
rerun is a new flow run that finds the finished samples in the cache.

The handler runs in the main thread, so it also answers a SIGINT sent to this process alone (not only
the terminal's Ctrl-C to the whole process group), and asyncio.run does not replace it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from types import FrameType

from tasks.backends.orphan_reaper import descendants, stop_processes

_stopping = False
_NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


def resume_line(argv: list[str], signum: int) -> str:
    """The one line printed on a signal (argv is already free of passwords: see chorus.cli_secrets)."""
    command = shlex.join(["chorus", *argv])
    return f"{_NAMES.get(signum, 'stopped')}: finished work is kept in the cache; to resume, run again: {command}\n"


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    global _stopping
    code = 128 + signum
    if _stopping:
        os._exit(code)
    _stopping = True
    with contextlib.suppress(OSError):
        os.write(2, resume_line(sys.argv[1:], signum).encode("utf-8", "replace"))
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    if sys.platform.startswith("linux"):
        stop_processes(descendants(os.getpid()), grace_s=3.0)
    os._exit(code)


def install_signal_handlers() -> None:
    """Take over SIGINT, SIGTERM and SIGHUP for this process (call first thing in the CLI's main)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
