"""The barrier-free vote's scheduling, through a real SQLite cache with a scripted in-process model:
every problem's first sample goes out before any second one, then the longest chain goes first, so
a hard problem late in the input is found early and runs ahead of the easy ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage.cache import GenerationCache
from storage.engine import open_engine
from tasks.algorithms.datasets import Problem
from tasks.algorithms.stopping import make_rule
from tasks.backends.base import Completion, GenerationRequest, SamplingParams
from tasks.backends.spec import ModelSpec
from tasks.services.sampling import SamplingJob
from tasks.services.voting import VotePlan, vote_problems


class Disagreeing:
    """Problem `hard` gets a different answer every sample (its chain runs to max_samples) in a 50-token
    trace; every other problem always gets 7 (it stops once the rule is sure) in 5 tokens. Records the
    order of samples generated."""

    kind = "scripted"
    supports_n = False

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self.calls: list[tuple[str, int]] = []

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        await asyncio.sleep(0.001)  # a sample takes time; the others queue meanwhile
        out = []
        for i in request.indices:
            self.calls.append((request.problem_id, i))
            hard = request.problem_id == "hard"
            out.append(Completion(f"so \\boxed{{{i if hard else 7}}}", 10, 50 if hard else 5, "stop", 0.0))
        return out


def test_first_samples_first_then_the_longest_chain(tmp_path: Path) -> None:
    spec = ModelSpec("m", "openai", model="m", endpoints=("http://127.0.0.1:1",), chat=False, max_concurrency=2)
    job = SamplingJob(spec, "fp-m", SamplingParams(max_tokens=64))
    plan = VotePlan((job,), (1.0,), "math", make_rule("bayes", 10, 6), schedule=(1,))
    problems = [Problem(f"easy{i}", f"q {i}") for i in range(12)]
    problems.insert(8, Problem("hard", "q hard"))  # late in the input, as the bench's hardest problem was
    backend = Disagreeing(max_concurrency=2)
    cache = GenerationCache(open_engine(f"sqlite:///{tmp_path / 'c.db'}"))

    votes, stats = asyncio.run(vote_problems(plan, problems, cache, [backend], report_progress=False))

    order = backend.calls
    assert votes[8].samples == 6 and stats.generated == len(order)
    firsts = [i for i, (_, k) in enumerate(order) if k == 0]
    # Depth first (a started problem's next batch before any fresh one) would draw easy0's second sample
    # before easy11's first: here every problem has its first sample before any problem its second.
    assert len(firsts) == 13 and max(firsts) < min(i for i, (_, k) in enumerate(order) if k > 0)
    # First come, first served would then draw the easy problems' second samples (they landed first);
    # the longest chain goes first: hard (50-token traces) draws its next samples before them.
    assert order.index(("hard", 1)) < order.index(("easy0", 1))
    assert order.index(("hard", 3)) < order.index(("easy5", 1))
