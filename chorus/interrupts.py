"""Ctrl-C, SIGTERM and SIGHUP: stop within seconds, keep what finished, say in one line how to resume.

Every generation is committed to the cache as it arrives, so nothing finished is lost by stopping at
once: the handler prints one line, silences the rest (Prefect and its server would otherwise print
hundreds of lines of shutdown tracebacks), stops the processes chorus started (the embedded llama.cpp
server, the ephemeral Prefect server) and exits 128 + the signal number (130 for SIGINT, 143 for
SIGTERM). A second signal exits at once. The flow run is left as Prefect last saw it (Running); a
rerun is a new flow run that finds the finished samples in the cache.

The handler runs in the main thread, so it also answers a SIGINT sent to this process alone (not only
the terminal's Ctrl-C to the whole process group), and asyncio.run does not replace it. Prefect's flow
engine would replace the SIGTERM handler with its own (which raises inside the event loop, far from
where Prefect catches it: a 58-line traceback and exit 1). That bridge exists for a Prefect runner
cancelling a flow run it supervises; a CLI run has no runner, so in this process only, while our
handler is installed, the engine's `capture_sigterm` is made a no-op (patched when Prefect's flow
engine is first imported). Workers and other processes keep Prefect's behaviour.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import shlex
import signal
import sys
from types import FrameType, ModuleType
from typing import Any

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
    if "prefect.flow_engine" in sys.modules:
        _keep_our_sigterm(sys.modules["prefect.flow_engine"])
    elif not any(isinstance(f, _FlowEngineHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _FlowEngineHook())


def _keep_our_sigterm(flow_engine: ModuleType) -> None:
    original = getattr(flow_engine, "capture_sigterm", None)
    if original is None or getattr(original, "_chorus_wrapped", False):
        return

    def capture_sigterm() -> Any:
        ours = signal.getsignal(signal.SIGTERM) is _on_signal
        return contextlib.nullcontext() if ours else original()

    capture_sigterm._chorus_wrapped = True  # type: ignore[attr-defined]
    flow_engine.capture_sigterm = capture_sigterm  # type: ignore[attr-defined]


class _FlowEngineHook(importlib.abc.MetaPathFinder):
    """Patches `prefect.flow_engine` right after it is imported (importing it up front costs a second)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "prefect.flow_engine":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            _keep_our_sigterm(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
