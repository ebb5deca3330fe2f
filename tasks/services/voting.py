"""Adaptive voting on live models through the cache (Best-of-∞ `vote`).

Per problem: draw a batch, extract and canonicalise the answers, update the counts, ask the stopping
rule; repeat until it says stop or max_samples is reached. Every problem is its own pipeline: its next
batch goes out as soon as its last one lands, so no problem waits for another's slowest generation
(reasoning traces differ in length by 10x) and the server's slots never idle behind stragglers.
With several models, each draw picks model i with probability w_i (the paper's mixture); the choice
is a hash of (problem, draw index), so a rerun makes the same choices and finds every sample in the
cache.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import itertools
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from storage.cache import Generation, GenerationCache, RangeRead
from tasks.algorithms.answers import AnswerKind, answer_key, answers_match
from tasks.algorithms.datasets import Problem
from tasks.algorithms.stopping import StoppingRule, VoteState, plurality
from tasks.algorithms.vote_tally import ProblemVote
from tasks.backends.base import Backend, GenerationRequest, Prompt
from tasks.backends.spec import ModelSpec
from tasks.services import progress_events
from tasks.services.concurrency import SequenceBudget, endpoint_budget, generation_slot
from tasks.services.sampling import SampleStats, SamplingJob, WriteBehind, generations, requests_for


@dataclass(frozen=True)
class VotePlan:
    """What a vote run does: models with weights, the answer kind, the rule and the batch schedule."""

    jobs: tuple[SamplingJob, ...]
    weights: tuple[float, ...]
    kind: AnswerKind
    rule: StoppingRule
    schedule: tuple[int, ...] = (1, 1, 2, 4, 8)

    def with_specs(self, specs: list[ModelSpec]) -> VotePlan:
        return replace(self, jobs=tuple(j.with_spec(s) for j, s in zip(self.jobs, specs, strict=True)))

    def batch(self, round_: int) -> int:
        return self.schedule[min(round_, len(self.schedule) - 1)]


def draw_model(problem_id: str, draw: int, weights: tuple[float, ...]) -> int:
    """Model of draw `draw` of a problem: a deterministic draw with probabilities `weights`."""
    if len(weights) == 1:
        return 0
    digest = hashlib.sha256(f"{problem_id}|{draw}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return min(bisect.bisect_right(_cumulative(weights), u), len(weights) - 1)


@lru_cache(maxsize=256)
def _cumulative(weights: tuple[float, ...]) -> tuple[float, ...]:
    """Running sums of the normalised weights, added left to right as numpy's cumsum does (the model
    choices, and so the cache keys of earlier runs, stay the same). numpy per draw was 10 % of a
    10,000-problem replay vote."""
    total = sum(weights)
    return tuple(itertools.accumulate(w / total for w in weights))


@lru_cache(maxsize=65_536)
def decide_by_counts(rule: StoppingRule, ranked_counts: tuple[int, ...], n: int) -> tuple[bool, float]:
    """(stop, score) of a deterministic count-based rule for one problem, remembered per count vector.

    Such a rule's decision depends only on the answer counts (it sorts them itself) and n, and one row
    is evaluated exactly as it would be alone, so a remembered decision is the one a fresh call gives,
    bit for bit. Per-problem pipelines evaluate one row at a time (no batch across problems, which would
    make a row's float result depend on its neighbours), and among thousands of problems at n ≤ 100
    only a few hundred count vectors occur: this was the largest cost of a 10k-problem replay vote."""
    counts = np.array([ranked_counts or (0,)], dtype=np.int64)
    stop, score = rule.should_stop(VoteState(counts, np.array([n], dtype=np.int64)))
    return bool(stop[0]), float(score[0])


class _ProblemPipeline:
    """One problem's vote: its next batch goes out the moment the previous one lands and the rule says
    continue, independently of every other problem (no round barrier). Its cached generations were read
    once for the whole chunk (its prompts are registered with the chunk's first write); what it draws
    stays in memory."""

    def __init__(self, run: _ChunkRun, problem: Problem) -> None:
        self.run, self.problem = run, problem
        self.answers: list[str | None] = []
        self.per_model = [0] * len(run.plan.jobs)
        self.tokens = 0
        self.chain_tokens = 0  # how long its chain of sequential batches has run: per batch, the longest trace
        self.score = 0.0
        self._rng: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:
        """Only the authors' Monte Carlo rule draws from it; per problem, so completion order cannot matter.
        Made on first use: seeding a generator per problem was 5 % of a 10k-problem replay vote."""
        if self._rng is None:
            digest = hashlib.sha256(self.problem.id.encode()).digest()
            self._rng = np.random.default_rng([self.run.seed, int.from_bytes(digest[:8], "big")])
        return self._rng

    async def vote(self) -> ProblemVote:
        plan, round_ = self.run.plan, 0
        while len(self.answers) < plan.rule.max_samples:
            k = min(plan.batch(round_), plan.rule.max_samples - len(self.answers))
            models = [draw_model(self.problem.id, len(self.answers) + t, plan.weights) for t in range(k)]
            wanted = {m: models.count(m) for m in sorted(set(models))}
            if len(wanted) == 1:  # the common case: no gather, whose task per awaitable cost ~10 % of a replay vote
                got = [await self._draw(*next(iter(wanted.items())))]
            else:
                got = await asyncio.gather(*(self._draw(m, c) for m, c in wanted.items()))
            fetched = {m: list(gens) for m, gens in zip(wanted, got, strict=True)}
            self.chain_tokens += max(g.completion_tokens for gens in got for g in gens)
            for m in models:  # in draw order, so the votes are exactly those of the lock-step loop
                gen = fetched[m].pop(0)
                self.answers.append(answer_key(gen.text, plan.kind))
                self.tokens += gen.completion_tokens
                self.run.stats.truncated += gen.finish_reason == "length"
            stop, self.score = self._decide()
            if stop:
                break
            round_ += 1
        answer = plurality(self.answers)
        gold = self.problem.answer
        correct = None if gold is None else answers_match(answer, gold, plan.kind)
        if self.run.report_progress:
            progress_events.report(1, len(self.answers), None if correct is None else int(correct))
        return ProblemVote(
            self.problem.id, answer, gold, correct, len(self.answers), self.score, self.tokens, self.answers
        )

    def _decide(self) -> tuple[bool, float]:
        """The rule's (stop, score) for this problem's answers so far."""
        rule = self.run.plan.rule
        if rule.count_based and not (rule.name == "bayes" and rule.compat == "authors"):
            ranked = sorted(Counter(a for a in self.answers if a).values(), reverse=True)
            return decide_by_counts(rule, tuple(ranked), len(self.answers))
        state = VoteState.from_sequences([self.answers], window=rule.window)
        stop, score = rule.should_stop(state, self.rng)
        return bool(stop[0]), float(score[0])

    async def _draw(self, m: int, count: int) -> list[Generation]:
        """Samples per_model[m] .. +count of model m: from the chunk's cache read, else generated."""
        run, job, backend = self.run, self.run.plan.jobs[m], self.run.backends[m]
        prompt, prompt_hash = run.prompts[m][self.problem.id]
        have = run.found[m][prompt_hash]
        indices = list(range(self.per_model[m], self.per_model[m] + count))
        self.per_model[m] += count
        missing = [i for i in indices if i not in have]
        # Every fresh problem's first sample, then the longest chains first (SequenceBudget).
        priority = self.chain_tokens if self.answers else None

        async def one(request: GenerationRequest) -> None:
            async with run.budgets[m].hold(len(request.indices), priority), generation_slot(job.spec.global_limit):
                completions = await backend.generate(request)
            fresh = generations(job, prompt_hash, request, completions)
            await run.writer.add(fresh)
            for g in fresh:
                have[g.sample_index] = g
            run.stats.generated += len(fresh)

        requests = requests_for(job, backend, self.problem, prompt, prompt_hash, missing)
        if len(requests) == 1:
            await one(requests[0])
        elif requests:
            await asyncio.gather(*(one(r) for r in requests))
        return [have[i] for i in indices]


@dataclass
class _ChunkRun:
    plan: VotePlan
    backends: list[Backend]
    seed: int
    report_progress: bool
    writer: WriteBehind
    prompts: list[dict[str, tuple[Prompt, str]]] = field(default_factory=list)
    found: list[dict[str, dict[int, Generation]]] = field(default_factory=list)
    budgets: list[SequenceBudget] = field(default_factory=list)
    stats: SampleStats = field(default_factory=SampleStats)


async def vote_problems(
    plan: VotePlan,
    problems: list[Problem],
    cache: GenerationCache,
    backends: list[Backend],
    seed: int = 0,
    report_progress: bool = True,
) -> tuple[list[ProblemVote], SampleStats]:
    """Adaptive voting for a chunk of problems, each its own pipeline; one ProblemVote per problem, in order.

    In flight per model endpoint group: at most `max_concurrency` sequences (SequenceBudget), shared with
    every other chunk of the run, so the server's queue stays full but not flooded. Each problem, as it
    finishes, is reported to `progress_events` (off for the fixed-N baseline).
    """
    run = _ChunkRun(plan, backends, seed, report_progress, WriteBehind(cache))
    reads = []
    for job, backend in zip(plan.jobs, backends, strict=True):
        prompts, keys = job.prompts_for(problems)
        run.prompts.append(prompts)
        run.writer.register(keys)
        hashes = tuple(h for _, h in prompts.values())
        reads.append(RangeRead(job.model_fp, job.params_hash, hashes, 0, plan.rule.max_samples))
        run.budgets.append(endpoint_budget(job.endpoint_group, backend.max_concurrency))
    run.found = await asyncio.to_thread(cache.get_ranges, reads)  # every model's, on one connection
    try:
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(_ProblemPipeline(run, p).vote()) for p in problems]
    except ExceptionGroup as eg:
        raise eg.exceptions[0] from None  # the first failure decides retry; the others were cancelled
    finally:
        await run.writer.close()  # what did finish is kept, so a retry only makes what is missing
    votes = [t.result() for t in running]
    stats = run.stats
    stats.problems = len(problems)
    stats.requested = sum(v.samples for v in votes)
    stats.completion_tokens = sum(v.completion_tokens for v in votes)
    stats.cached = stats.requested - stats.generated
    return votes, stats
