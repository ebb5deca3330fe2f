"""What long commands show while they work: a live line for `vote`, and what is starting and for how long.

Fed by `tasks.services.progress_events` (in-process: the CLI runs the flow in its own process). On a
terminal the line redraws in place; otherwise (a log file, CI) a plain line is printed at most every
`PLAIN_EVERY_S` seconds and once at the end, so a long run still shows it is alive.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console

from tasks.services import progress_events

PLAIN_EVERY_S = 10.0


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class VoteTally:
    """Running totals of finished problems: the numbers the display shows."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.problems = 0
        self.samples = 0
        self.graded = 0
        self.correct = 0
        self.started = time.monotonic()
        # The rate comes from finished problems only: start-up (Prefect, a model server) is not work.
        self.first_at: float | None = None
        self.first_problems = 0

    def add(self, problems: int, samples: int, correct: int | None, now: float | None = None) -> None:
        if self.first_at is None:
            self.first_at = now if now is not None else time.monotonic()
            self.first_problems = problems
        self.problems += problems
        self.samples += samples
        if correct is not None:
            self.graded += problems
            self.correct += correct

    def line(self, now: float | None = None) -> str:
        elapsed = (now if now is not None else time.monotonic()) - self.started
        parts = [f"{self.problems}/{self.total} problems", f"{self.samples} samples"]
        if self.problems:
            parts.append(f"mean {self.samples / self.problems:.2f}/problem")
        if self.graded:
            parts.append(f"accuracy {100 * self.correct / self.graded:.1f}% of {self.graded}")
        eta = self.eta(now if now is not None else time.monotonic())
        if eta is not None:
            parts.append(f"ETA {format_duration(eta)}")
        parts.append(f"elapsed {format_duration(elapsed)}")
        return ", ".join(parts)

    def eta(self, now: float) -> float | None:
        """Seconds left at the rate problems finished since the first one did (None until two reports)."""
        done_since = self.problems - self.first_problems
        if self.first_at is None or done_since <= 0 or self.problems >= self.total or now <= self.first_at:
            return None
        return (now - self.first_at) / done_since * (self.total - self.problems)


class VoteProgress:
    """Subscribes for the duration of a `vote` run; quiet (no progress line) with --json."""

    def __init__(self, console: Console, total: int, quiet: bool) -> None:
        self.console = console
        self.tally = VoteTally(total)
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self._status = None
        self._last_plain = time.monotonic()
        self._unsubscribe = lambda: None

    def _on_report(self, problems: int, samples: int, correct: int | None) -> None:
        self.tally.add(problems, samples, correct)
        if self._status is not None:
            self._status.update(f"vote: {self.tally.line()}")
        elif not self.quiet and time.monotonic() - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            self.console.print(f"vote: {self.tally.line()}", highlight=False, soft_wrap=True)

    def __enter__(self) -> VoteProgress:
        if self.live:
            self._status = self.console.status(f"vote: {self.tally.line()}")
            self._status.start()
        self._unsubscribe = progress_events.subscribe(self._on_report)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._unsubscribe()
        if self._status is not None:
            self._status.stop()
        if not self.quiet and self.tally.problems:
            self.console.print(f"vote: {self.tally.line()}", highlight=False, soft_wrap=True)


class Announcements:
    """Prints what is starting ("starting the embedded model server ...") as it starts."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._unsubscribe = lambda: None

    def _on_message(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)

    def __enter__(self) -> Announcements:
        self._unsubscribe = progress_events.subscribe_messages(self._on_message)
        return self

    def __exit__(self, *_: object) -> None:
        self._unsubscribe()
