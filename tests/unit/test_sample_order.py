"""`sample` sends one prompt's samples back to back where the server takes one sample per request."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from storage.cache import GenerationCache
from storage.engine import open_engine
from tasks.algorithms.datasets import Problem
from tasks.backends.base import Completion, GenerationRequest, SamplingParams
from tasks.backends.spec import ModelSpec
from tasks.services.sampling import SamplingJob, sample_problems


class OneAtATime:
    """Like llama.cpp's server: ignores n (one sample per request) and reuses the KV cache of the previous
    prompt. Records the order in which it starts samples."""

    kind = "scripted"
    supports_n = False
    max_concurrency = 1

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        self.calls += [(request.problem_id, i) for i in request.indices]
        await asyncio.sleep(0.001)  # while it decodes, every other problem's requests queue
        return [Completion("\\boxed{7}", 10, 5, "stop", 0.0) for _ in request.indices]


def test_a_problems_samples_reach_the_server_back_to_back(tmp_path: Path) -> None:
    spec = ModelSpec("m", "llamacpp", model="m", endpoints=("http://127.0.0.1:1",), chat=False, max_concurrency=1)
    job = SamplingJob(spec, "fp-m", SamplingParams(max_tokens=16))
    problems = [Problem(f"p{i}", f"q {i}") for i in range(4)]
    backend = OneAtATime()
    cache = GenerationCache(open_engine(f"sqlite:///{tmp_path / 'c.db'}"))

    samples, stats = asyncio.run(sample_problems(job, problems, 3, cache, backend))

    assert stats.generated == 12 and [len(s.generations) for s in samples] == [3, 3, 3, 3]
    # One run per problem: the server's prompt changes 3 times, not 11 (one sample of each problem in turn,
    # as when a problem's requests were sent one after another, costs a prefill per sample).
    runs = [problem for problem, _ in itertools.groupby(p for p, _ in backend.calls)]
    assert runs == ["p0", "p1", "p2", "p3"]
