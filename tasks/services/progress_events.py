"""In-process progress listeners: the CLI's progress bar subscribes; tasks report problems done."""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[int, int], None]  # (problems done now, samples done now)
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def report(problems: int, samples: int) -> None:
    for listener in list(_listeners):
        listener(problems, samples)
