"""The serve path's merged cache traffic (tasks/services/sample_batcher.py): concurrent requests share
database round-trips, draw exactly the samples `chorus vote` draws, and fail only for their own faults."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from storage.cache import Generation, GenerationCache
from storage.engine import open_engine
from storage.errors import BadRequestError
from tasks.algorithms.datasets import Problem
from tasks.algorithms.stopping import make_rule
from tasks.backends.base import Completion, GenerationRequest
from tasks.backends.factory import create_backend, model_fingerprint
from tasks.backends.spec import ModelSpec
from tasks.services.request_vote import RequestVote, vote_request
from tasks.services.sample_batcher import SampleBatcher
from tasks.services.sampling import SamplingJob
from tasks.services.voting import VotePlan, vote_problems
from tests.conftest import SHARED_DATA

RULE = make_rule("bayes", 10, max_samples=32)
FILES = [SHARED_DATA / "analysis_math500_gpt-oss-20b.jsonl", SHARED_DATA / "analysis_math500_Qwen3-14B.jsonl"]
PROBLEMS = [Problem(str(i), str(i)) for i in range(0, 500, 17)]  # 30 MATH500 problems


def replay_job(path: Path) -> SamplingJob:
    spec = ModelSpec(path.stem, "replay", path=str(path))
    return SamplingJob(spec, model_fingerprint(spec), spec.sampling_params())


def fresh_cache(folder: Path, name: str) -> GenerationCache:
    return GenerationCache(open_engine(f"sqlite:///{folder / name}.db"))


def rows(cache: GenerationCache) -> set[tuple[object, ...]]:
    with cache.engine.connect() as conn:
        return set(
            conn.exec_driver_sql("SELECT model_fp, prompt_hash, params_hash, sample_index, seed, text FROM generations")
        )


def drawn(vote: RequestVote) -> list[tuple[int, int, str]]:
    return [(d.model, d.generation.seed, d.generation.text) for d in vote.drawn]


@pytest.mark.parametrize("weights", [(1.0,), (0.6, 0.4)], ids=["one-model", "ensemble"])
def test_merged_requests_draw_what_unmerged_requests_and_chorus_vote_draw(tmp_path: Path, weights) -> None:  # type: ignore[no-untyped-def]
    if not all(f.is_file() for f in FILES):
        pytest.skip("recorded answers not found")
    jobs = tuple(replay_job(f) for f in FILES[: len(weights)])
    backends = [create_backend(j.spec) for j in jobs]

    async def together(batcher: SampleBatcher) -> list[RequestVote]:
        return await asyncio.gather(
            *(vote_request(p, jobs, weights, backends, batcher, RULE, "math") for p in PROBLEMS)
        )

    async def one_at_a_time(batcher: SampleBatcher) -> list[RequestVote]:
        return [await vote_request(p, jobs, weights, backends, batcher, RULE, "math") for p in PROBLEMS]

    merged_cache, alone_cache, vote_cache = (fresh_cache(tmp_path, n) for n in ("merged", "alone", "vote"))
    merged = SampleBatcher(merged_cache)
    together_votes = asyncio.run(together(merged))
    alone = SampleBatcher(alone_cache)
    alone_votes = asyncio.run(one_at_a_time(alone))
    flow_votes, _ = asyncio.run(vote_problems(VotePlan(jobs, weights, "math", RULE), PROBLEMS, vote_cache, backends))

    # Merging happened: 30 requests in flight share each round-trip (one at a time, a cycle serves one
    # request's draws: one per model).
    assert merged.members / merged.cycles > 5
    assert alone.members / alone.cycles <= len(weights)
    assert [drawn(v) for v in together_votes] == [drawn(v) for v in alone_votes]
    assert [(v.answer, v.score, v.stats) for v in together_votes] == [(v.answer, v.score, v.stats) for v in alone_votes]
    # The same samples, answers and counts as `chorus vote`, under the same cache keys.
    assert [(v.answer, len(v.drawn)) for v in together_votes] == [(v.answer, v.samples) for v in flow_votes]
    assert [[d.answer for d in v.drawn] for v in together_votes] == [v.answers for v in flow_votes]
    assert rows(merged_cache) == rows(vote_cache) == rows(alone_cache)
    assert len(rows(merged_cache)) == sum(len(v.drawn) for v in together_votes)
    # Recorded under the model's name (`chorus cache stats`), as the flows' register-job step does.
    per_model = {m["model"]: m["generations"] for m in merged_cache.stats().per_model}
    assert per_model == {
        j.spec.name: sum(d.model == i for v in together_votes for d in v.drawn) for i, j in enumerate(jobs)
    }

    again = asyncio.run(together(SampleBatcher(merged_cache)))  # a repeat is answered from the cache
    assert [drawn(v) for v in again] == [drawn(v) for v in together_votes]
    assert sum(v.stats.generated for v in again) == 0


class FakeBackend:
    """Deterministic answers by seed; problem "fails" is rejected, problem "bad-row" answers a text with
    a lone surrogate (valid JSON from a server, but no database can store it)."""

    kind = "fake"
    supports_n = True
    max_concurrency = 64

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        if request.problem_id == "fails":
            raise BadRequestError("model fake: rejected")
        text = "\ud800" if request.problem_id == "bad-row" else None
        return [Completion(text or f"\\boxed{{{s % 3}}}", 3, 5, "stop", 0.0) for s in request.seeds]


class RecordingCache(GenerationCache):
    def __init__(self, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kw)
        self.writes: list[int] = []  # prompts per write transaction attempted

    def write(self, *, prompts: Sequence[tuple[str, str]] = (), **kw) -> int:  # type: ignore[no-untyped-def, override]
        self.writes.append(len(prompts))
        return super().write(prompts=prompts, **kw)


def test_a_failing_batch_mate_fails_only_itself(tmp_path: Path) -> None:
    spec = ModelSpec("fake", "replay", path="unused")
    job = SamplingJob(spec, "fp-fake", spec.sampling_params())
    good = [Problem(f"q{i}", f"q{i}") for i in range(6)]
    rule = make_rule("fixed", 4, 4)

    async def run(cache: GenerationCache, problems: list[Problem]) -> list[RequestVote | BaseException]:
        batcher = SampleBatcher(cache)
        votes = (vote_request(p, (job,), (1.0,), [FakeBackend()], batcher, rule, "math") for p in problems)  # type: ignore[list-item]
        return await asyncio.gather(*votes, return_exceptions=True)

    cache = RecordingCache(open_engine(f"sqlite:///{tmp_path / 'mixed.db'}"))
    mixed = asyncio.run(run(cache, [*good[:3], Problem("fails", "fails"), Problem("bad-row", "bad-row"), *good[3:]]))
    clean = asyncio.run(run(fresh_cache(tmp_path, "clean"), good))

    assert isinstance(mixed[3], BadRequestError)
    assert isinstance(mixed[4], UnicodeEncodeError)
    ok = [v for v in mixed if isinstance(v, RequestVote)]
    assert [drawn(v) for v in ok] == [drawn(v) for v in clean]  # type: ignore[arg-type]
    # The bad row was in a merged write that failed; the batch-mates were then written one by one.
    assert cache.writes[0] == len(good) + 1 and cache.writes[1 : 1 + len(good) + 1] == [1] * (len(good) + 1)
    assert len(_cached(cache, job, good)) == len(good) * 4


def _cached(cache: GenerationCache, job: SamplingJob, problems: list[Problem]) -> list[Generation]:
    hashes = [job.prompt(p)[1] for p in problems]
    return [g for found in cache.get(job.model_fp, job.params_hash, hashes, 99).values() for g in found.values()]
