"""Per-problem votes and what a report needs of them, in memory that does not grow with the problems.

A `vote` run over many problems used to keep every problem's vote (with its answer list) until the
report; a `VoteTally` keeps counts, a histogram of samples per problem (at most max_samples + 1 keys)
and the first few rows for the UI's table, and tallies of chunks merge in input order.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field, replace


@dataclass
class ProblemVote:
    problem_id: str
    answer: str | None
    gold: str | None
    correct: bool | None
    samples: int
    score: float
    completion_tokens: int
    answers: list[str | None] = field(default_factory=list)


@dataclass
class VoteTally:
    """Counts over some problems' votes, and the first `len(rows)` of those votes without their answer lists."""

    problems: int = 0
    graded: int = 0
    correct: int = 0
    no_answer: int = 0
    completion_tokens: int = 0
    samples: Counter[int] = field(default_factory=Counter)  # samples per problem -> how many problems
    rows: list[ProblemVote] = field(default_factory=list)

    @classmethod
    def of(cls, votes: list[ProblemVote], keep_rows: int = 0) -> VoteTally:
        tally = cls()
        for v in votes:
            tally.problems += 1
            tally.graded += v.correct is not None
            tally.correct += bool(v.correct)
            tally.no_answer += v.answer is None
            tally.completion_tokens += v.completion_tokens
            tally.samples[v.samples] += 1
        tally.rows = [replace(v, answers=[]) for v in votes[: max(0, keep_rows)]]
        return tally

    def merge(self, later: VoteTally, keep_rows: int) -> VoteTally:
        """This tally followed by `later` (the problems after these), keeping the first `keep_rows` rows."""
        return VoteTally(
            self.problems + later.problems,
            self.graded + later.graded,
            self.correct + later.correct,
            self.no_answer + later.no_answer,
            self.completion_tokens + later.completion_tokens,
            self.samples + later.samples,
            (self.rows + later.rows)[:keep_rows],
        )

    @property
    def total_samples(self) -> int:
        return sum(n * count for n, count in self.samples.items())

    def median_samples(self) -> float:
        """statistics.median of the per-problem sample counts, from the histogram (0 for no problems)."""
        if not self.problems:
            return 0
        ordered = sorted(self.samples.items())

        def nth(k: int) -> int:  # the k-th smallest count, 0-based
            seen = 0
            for n, count in ordered:
                seen += count
                if k < seen:
                    return n
            raise IndexError(k)

        mid = self.problems // 2
        if self.problems % 2:
            return nth(mid)
        return statistics.median([nth(mid - 1), nth(mid)])

    def summary(self) -> dict[str, float | int | None]:
        return {
            "problems": self.problems,
            "graded": self.graded,
            "accuracy": round(self.correct / self.graded, 4) if self.graded else None,
            "no_answer": self.no_answer,
            "mean_samples": round(self.total_samples / self.problems, 3) if self.problems else 0,
            "median_samples": self.median_samples(),
            "completion_tokens": self.completion_tokens,
        }


def merge_tallies(tallies: list[VoteTally], keep_rows: int) -> VoteTally:
    """The tallies of consecutive chunks, in input order, as one (the first `keep_rows` rows kept)."""
    total = VoteTally()
    for t in tallies:
        total = total.merge(t, keep_rows)
    return total
