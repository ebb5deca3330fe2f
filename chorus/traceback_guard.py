"""A run that printed a traceback did not succeed: it must not exit 0.

Prefect and libraries log some failures as tracebacks and carry on (a background thread, a shutdown
hook). chorus removes the sources it knows of; this guard catches the rest: it watches what this
process writes to stderr and turns an otherwise successful exit into exit 1 with one line.
"""

from __future__ import annotations

import sys
from typing import TextIO

MARKER = "Traceback (most recent call last)"


class _Watched:
    """sys.stderr, passed through unchanged, remembering whether a traceback went by."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.seen = False

    def write(self, text: str) -> int:
        if MARKER in text:
            self.seen = True
        return self._stream.write(text)

    def __getattr__(self, name: str) -> object:  # flush, isatty, fileno, encoding ...
        return getattr(self._stream, name)


_watch: _Watched | None = None


def watch_stderr() -> None:
    """Install the watch; call before anything (Prefect's log handlers) takes a reference to stderr."""
    global _watch
    if _watch is None:
        _watch = _Watched(sys.stderr)
        sys.stderr = _watch  # type: ignore[assignment]


def traceback_printed() -> bool:
    return bool(_watch and _watch.seen)
