"""Recorded answers as a backend: sample i is a seeded draw with replacement, as in the paper.

Runs every flow offline at scale. The text is the recorded answer in `\\boxed{}` so the normal
answer extraction applies; token counts are the recorded ones.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

from storage.errors import BadRequestError
from tasks.algorithms.replay_files import ReplayProblem, load_replay
from tasks.backends.base import Completion, GenerationRequest, Health


@functools.lru_cache(maxsize=32)
def _parsed(ref: str, _mtime_ns: int, _size: int) -> dict[str, ReplayProblem]:
    """One parse per file version per process: every chunk task builds its own backend."""
    return {p.problem_id: p for p in load_replay(ref)}


class ReplayBackend:
    kind = "replay"
    supports_n = True  # draws are independent: any number of indices per request

    def __init__(self, name: str, *, path: str, max_concurrency: int = 1024) -> None:
        self.name = name
        self.path = Path(path)
        self.max_concurrency = max_concurrency
        self._problems: dict[str, ReplayProblem] | None = None

    def problems(self) -> dict[str, ReplayProblem]:
        if self._problems is None:
            if self.path.is_file():
                stat = self.path.stat()
                self._problems = _parsed(str(self.path.resolve()), stat.st_mtime_ns, stat.st_size)
            else:  # a data set shipped in the package (math500/gpt-oss-20b): it never changes
                self._problems = _parsed(str(self.path), 0, 0)
        return self._problems

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        problem = self.problems().get(request.problem_id)
        if problem is None:
            raise BadRequestError(f"model {self.name}: {self.path.name} has no problem {request.problem_id!r}")
        out = []
        for seed in request.seeds:
            i = random.Random(seed).randrange(len(problem.answers))
            answer = problem.answers[i]
            text = f"\\boxed{{{answer}}}" if answer else ""
            out.append(Completion(text, 0, problem.tokens[i], "stop", 0.0))
        return out

    async def score(self, texts: list[str]) -> list[float]:
        raise BadRequestError(f"model {self.name}: recorded answers have no reward scores")

    async def health(self) -> Health:
        n = len(self.problems())
        return Health(True, f"{n} recorded problems in {self.path.name}")

    async def aclose(self) -> None:
        return None
