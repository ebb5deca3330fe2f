"""In-process progress for the terminal: tasks report work done, the CLI's display subscribes.

Two channels, both no-ops when nobody listens (a deployment run on a worker):
- `report(problems, samples, correct=None)`: work finished since the last report. Voting calls it once
  per finished problem with that problem's samples and, where the problem has a gold answer,
  `correct` = 1 or 0 (None: no gold, so no running accuracy).
- `say(message)`: what is starting and how long it usually takes ("starting the embedded model
  server ..."), so a slow start never looks like a hang.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[int, int, int | None], None]  # (problems done now, samples done now, correct among them)
MessageListener = Callable[[str], None]
_listeners: list[Listener] = []
_message_listeners: list[MessageListener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def report(problems: int, samples: int, correct: int | None = None) -> None:
    for listener in list(_listeners):
        listener(problems, samples, correct)


def subscribe_messages(listener: MessageListener) -> Callable[[], None]:
    _message_listeners.append(listener)
    return lambda: _message_listeners.remove(listener)


def say(message: str) -> None:
    for listener in list(_message_listeners):
        listener(message)
