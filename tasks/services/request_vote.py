"""Adaptive voting for one request (`chorus serve`): draw a batch, count answers, ask the stopping rule.

A per-request loop on purpose: the batch `vote` service draws for a whole chunk of problems at once,
while a request is one problem and must answer as soon as its own rule says stop. Every sample still
goes through the generation cache, with the keys of `sample_problems`; the cache reads and writes of
concurrent requests are merged by a `SampleBatcher`, their generations are not.
With several models (an ensemble), draw k picks model i with probability w_i by a hash of
(prompt, k): a repeated request makes the same choices and finds every sample cached.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from storage.cache import Generation
from tasks.algorithms.answers import AnswerKind, answer_key
from tasks.algorithms.datasets import Problem
from tasks.algorithms.stopping import StoppingRule, VoteState, plurality
from tasks.backends.base import Backend
from tasks.services.sample_batcher import SampleBatcher
from tasks.services.sampling import SampleStats, SamplingJob
from tasks.services.voting import decide_by_counts

DEFAULT_SCHEDULE = (1, 1, 2, 4, 8)


@dataclass
class Drawn:
    """One sample of the vote, in draw order: which model, the cached row and its extracted answer."""

    model: int
    generation: Generation
    answer: str | None


@dataclass
class RequestVote:
    answer: str | None
    score: float
    drawn: list[Drawn] = field(default_factory=list)
    stats: SampleStats = field(default_factory=SampleStats)

    @property
    def counts(self) -> dict[str, int]:
        """Votes per answer, in first-appearance order (the tie rule's order)."""
        return dict(Counter(d.answer for d in self.drawn if d.answer))

    def winning_sample(self) -> Drawn | None:
        """The first sample whose answer won (its text is what the client reads); else the first sample."""
        for d in self.drawn:
            if d.answer == self.answer:
                return d
        return self.drawn[0] if self.drawn else None


def pick_model(key: str, draw: int, weights: tuple[float, ...]) -> int:
    """Model of draw `draw`: a deterministic draw with probabilities `weights` (hash of key and draw)."""
    if len(weights) == 1:
        return 0
    digest = hashlib.sha256(f"{key}|{draw}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = np.cumsum(np.asarray(weights, dtype=float) / sum(weights))
    return int(min(np.searchsorted(cumulative, u, side="right"), len(weights) - 1))


def _decide(rule: StoppingRule, answers: list[str | None], rng: np.random.Generator) -> tuple[bool, float]:
    """(stop, score) of one request's answers so far; remembered per count vector where the rule depends
    only on the counts (the same memo as the vote flow's)."""
    if rule.count_based and rule.compat == "chorus":
        ranked = tuple(sorted(Counter(a for a in answers if a).values(), reverse=True))
        return decide_by_counts(rule, ranked, len(answers))
    stop, score = rule.should_stop(VoteState.from_sequences([answers], window=rule.window), rng)
    return bool(stop[0]), float(score[0])


async def vote_request(
    problem: Problem,
    jobs: tuple[SamplingJob, ...],
    weights: tuple[float, ...],
    backends: list[Backend],
    batcher: SampleBatcher,
    rule: StoppingRule,
    kind: AnswerKind,
    schedule: tuple[int, ...] = DEFAULT_SCHEDULE,
) -> RequestVote:
    """Draw until `rule` stops; sample j of model i is always cache index j of that model's job."""
    result = RequestVote(None, 0.0)
    per_model = [0] * len(jobs)
    rng = np.random.default_rng(0)  # only the authors' Monte Carlo rule draws from it
    round_ = 0
    while True:
        k = min(schedule[min(round_, len(schedule) - 1)], rule.max_samples - len(result.drawn))
        if rule.name == "fixed":  # a majority of N is N samples, whatever the batch schedule
            k = min(k, max(1, int(rule.threshold) - len(result.drawn)))
        models = [pick_model(problem.id, len(result.drawn) + t, weights) for t in range(k)]
        wanted = sorted(set(models))
        draws = await asyncio.gather(
            *(batcher.draw(jobs[m], problem, per_model[m], per_model[m] + models.count(m), backends[m]) for m in wanted)
        )
        fetched: dict[int, list[Generation]] = {}
        for m, (gens, stats) in zip(wanted, draws, strict=True):
            fetched[m] = gens
            result.stats.generated += stats.generated
            result.stats.prompt_tokens += stats.prompt_tokens
        for m in models:  # in draw order
            gen = fetched[m].pop(0)
            per_model[m] += 1
            result.drawn.append(Drawn(m, gen, answer_key(gen.text, kind)))
        stop, result.score = _decide(rule, [d.answer for d in result.drawn], rng)
        round_ += 1
        if stop:
            break
    result.answer = plurality([d.answer for d in result.drawn])
    stats = result.stats
    stats.problems = 1
    stats.requested = len(result.drawn)
    stats.cached = stats.requested - stats.generated
    stats.completion_tokens = sum(d.generation.completion_tokens for d in result.drawn)
    stats.truncated = sum(d.generation.finish_reason == "length" for d in result.drawn)
    return result
