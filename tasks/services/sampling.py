"""Sampling through the cache: serve what exists, generate only the missing sample indices.

Each finished request is written at once (insert-or-ignore), so a killed run loses at most the
requests that were in flight, and a rerun generates exactly the samples that are still missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from storage.cache import Generation, GenerationCache
from storage.keys import canonical_json, content_hash, derive_seed, json_hash
from tasks.algorithms.datasets import Problem
from tasks.backends.base import Backend, Completion, GenerationRequest, Prompt, SamplingParams
from tasks.backends.spec import ModelSpec
from tasks.services.concurrency import endpoint_limiter, generation_slot

# Backends that take n in one request share the prompt prefix; cap a request so one slow prompt
# cannot hold a huge batch hostage.
MAX_SAMPLES_PER_REQUEST = 64


@dataclass
class SampleStats:
    """What a chunk asked for and where it came from."""

    problems: int = 0
    requested: int = 0
    generated: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: int = 0

    def count_outputs(self, gens: list[Generation]) -> None:
        """Add the tokens and truncations of samples handed back (cached or generated)."""
        self.prompt_tokens += sum(g.prompt_tokens for g in gens)
        self.completion_tokens += sum(g.completion_tokens for g in gens)
        self.truncated += sum(g.finish_reason == "length" for g in gens)

    def add(self, other: SampleStats) -> SampleStats:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


class WriteBehind:
    """Finished generations wait at most `max_wait_s` (or until `max_rows` are pending) and are then
    written in one transaction. Instant backends (replay, a warm cache) write hundreds of rows per
    transaction instead of one each; a slow live backend still has every sample on disk within
    `max_wait_s` of its arrival, which bounds what a SIGKILL can lose.

    Prompts to register wait with them and go in the same transaction as the first generations, before
    them: a chunk's pipelines start on the cache read alone instead of a write of their prompts first."""

    def __init__(self, cache: GenerationCache, max_rows: int = 500, max_wait_s: float = 0.25) -> None:
        self.cache, self.max_rows, self.max_wait_s = cache, max_rows, max_wait_s
        self._pending: list[Generation] = []
        self._prompts: list[tuple[str, str]] = []
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def register(self, prompts: list[tuple[str, str]]) -> None:
        """Record these prompts (hash, canonical JSON) with the next write, or at close."""
        self._prompts.extend(prompts)

    async def add(self, rows: list[Generation]) -> None:
        self._pending.extend(rows)
        if len(self._pending) >= self.max_rows:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.max_wait_s)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            rows, self._pending = self._pending, []
            prompts, self._prompts = self._prompts, []
            if rows or prompts:
                await asyncio.to_thread(self.cache.write, prompts=prompts, generations=rows)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.flush()


@dataclass
class ProblemSamples:
    problem_id: str
    prompt_hash: str
    generations: list[Generation] = field(default_factory=list)


@dataclass(frozen=True)
class SamplingJob:
    """Everything that fixes the cache keys of a run: model, its fingerprint, parameters."""

    spec: ModelSpec
    model_fp: str
    params: SamplingParams

    @cached_property  # once per job, not per generation (it was 3 % of a 10k-problem replay vote)
    def params_hash(self) -> str:
        return content_hash(self.params.as_key())

    @property
    def endpoint_group(self) -> str:
        """The key of the in-flight bound this job's requests share with every job on the same servers."""
        return self.model_fp + ",".join(self.spec.endpoints)

    def with_spec(self, spec: ModelSpec) -> SamplingJob:
        """The same job served at `spec`'s endpoints (the fingerprint, and so the keys, stay)."""
        return replace(self, spec=spec)

    def prompt(self, problem: Problem) -> tuple[Prompt, str]:
        prompt, prompt_hash, _ = self.prompt_record(problem)
        return prompt, prompt_hash

    def prompt_record(self, problem: Problem) -> tuple[Prompt, str, str]:
        """The prompt, its hash and the canonical JSON the hash is of (what the cache registers), the JSON
        made once."""
        if problem.messages is not None:
            prompt = self.spec.build_messages_prompt(problem.messages)
        else:
            prompt = self.spec.build_prompt(problem.question)
        body = canonical_json(prompt.as_key())
        return prompt, json_hash(body), body

    def prompts_for(self, problems: list[Problem]) -> tuple[dict[str, tuple[Prompt, str]], list[tuple[str, str]]]:
        """Each problem's (prompt, hash) by id, and the (hash, canonical JSON) rows the cache registers."""
        records = [self.prompt_record(p) for p in problems]
        prompts = {p.id: (prompt, h) for p, (prompt, h, _) in zip(problems, records, strict=True)}
        return prompts, [(h, body) for _, h, body in records]


def generations(
    job: SamplingJob, prompt_hash: str, request: GenerationRequest, completions: list[Completion]
) -> list[Generation]:
    """Cache rows for the completions of one request, keyed by its sample indices."""
    return [
        Generation(
            job.model_fp,
            prompt_hash,
            job.params_hash,
            i,
            c.text,
            None,
            c.prompt_tokens,
            c.completion_tokens,
            c.finish_reason,
            c.latency_s,
            seed,
        )
        for i, seed, c in zip(request.indices, request.seeds, completions, strict=True)
    ]


def requests_for(
    job: SamplingJob, backend: Backend, problem: Problem, prompt: Prompt, prompt_hash: str, missing: list[int]
) -> list[GenerationRequest]:
    # llama.cpp ignores n: one request per sample, each with its own derived seed.
    per_request = MAX_SAMPLES_PER_REQUEST if backend.supports_n else 1
    out = []
    for start in range(0, len(missing), per_request):
        idx = tuple(missing[start : start + per_request])
        seeds = tuple(derive_seed(job.model_fp, prompt_hash, job.params_hash, i) for i in idx)
        out.append(GenerationRequest(problem.id, prompt, job.params, idx, seeds))
    return out


async def sample_problems(
    job: SamplingJob,
    problems: list[Problem],
    n: int | Mapping[str, int],
    cache: GenerationCache,
    backend: Backend,
    *,
    on_problem_done: Callable[[int], None] | None = None,
) -> tuple[list[ProblemSamples], SampleStats]:
    """Samples 0..n-1 of every problem (n per problem id when a mapping), from the cache where
    present, generated otherwise."""
    targets = {p.id: (n if isinstance(n, int) else n[p.id]) for p in problems}
    prompts, keys = job.prompts_for(problems)
    hashes = [h for _, h in prompts.values()]
    found = await asyncio.to_thread(cache.get, job.model_fp, job.params_hash, hashes, max(targets.values(), default=0))
    limiter = endpoint_limiter(job.endpoint_group, backend.max_concurrency)
    stats = SampleStats(problems=len(problems), requested=sum(targets.values()))
    writer = WriteBehind(cache)
    writer.register(keys)

    async def one(problem: Problem) -> ProblemSamples:
        n = targets[problem.id]
        prompt, prompt_hash = prompts[problem.id]
        have = {i: g for i, g in found[prompt_hash].items() if i < n}
        missing = [i for i in range(n) if i not in have]

        async def send(request: GenerationRequest) -> None:
            async with limiter, generation_slot(job.spec.global_limit):
                completions = await backend.generate(request)
            fresh = generations(job, prompt_hash, request, completions)
            await writer.add(fresh)
            for g in fresh:
                have[g.sample_index] = g
            stats.generated += len(fresh)

        # A problem's requests (one per sample where the server ignores n) queue together, so the server
        # gets one prompt's samples back to back: llama.cpp reuses the previous request's KV prefix and
        # skips that prompt's prefill. Sent one after another they interleaved with every other problem's.
        await asyncio.gather(*(send(r) for r in requests_for(job, backend, problem, prompt, prompt_hash, missing)))
        stats.cached += n - len(missing)
        gens = [have[i] for i in range(n)]
        stats.count_outputs(gens)
        if on_problem_done:
            on_problem_done(n)
        return ProblemSamples(problem.id, prompt_hash, gens)

    try:
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(one(p)) for p in problems]
    except ExceptionGroup as eg:
        # The first failure is the one to report and to judge retryable; the rest were cancelled.
        raise eg.exceptions[0] from None
    finally:
        await writer.close()  # what did finish is kept, so a retry only makes what is missing
    return [t.result() for t in running], stats
