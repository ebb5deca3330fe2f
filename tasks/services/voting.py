"""Adaptive voting on live models through the cache (Best-of-∞ `vote`).

Per problem: draw a batch, extract and canonicalise the answers, update the counts, ask the stopping
rule; repeat until it says stop or max_samples is reached. All unfinished problems of a chunk draw
their batch at once, so the server always has work. With several models, each draw picks model i
with probability w_i (the paper's mixture); the choice is a hash of (problem, draw index), so a rerun
makes the same choices and finds every sample in the cache.
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass, field, replace

import numpy as np

from storage.cache import GenerationCache
from tasks.algorithms.answers import AnswerKind, answer_key, answers_match
from tasks.algorithms.datasets import Problem
from tasks.algorithms.stopping import StoppingRule, VoteState, plurality
from tasks.backends.base import Backend
from tasks.backends.spec import ModelSpec
from tasks.services import progress_events
from tasks.services.sampling import SampleStats, SamplingJob, sample_problems


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


def draw_model(problem_id: str, draw: int, weights: tuple[float, ...]) -> int:
    """Model of draw `draw` of a problem: a deterministic draw with probabilities `weights`."""
    if len(weights) == 1:
        return 0
    digest = hashlib.sha256(f"{problem_id}|{draw}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = np.cumsum(np.asarray(weights) / sum(weights))
    return int(min(np.searchsorted(cumulative, u, side="right"), len(weights) - 1))


@dataclass
class _Progress:
    problem: Problem
    answers: list[str | None] = field(default_factory=list)
    per_model: list[int] = field(default_factory=list)
    tokens: int = 0
    score: float = 0.0


async def vote_problems(
    plan: VotePlan,
    problems: list[Problem],
    cache: GenerationCache,
    backends: list[Backend],
    seed: int = 0,
    report_progress: bool = True,
) -> tuple[list[ProblemVote], SampleStats]:
    """Run adaptive voting for a chunk of problems; returns one ProblemVote per problem, in order.

    Each problem, as it finishes, is reported to `progress_events` (off for the fixed-N baseline)."""
    state = {p.id: _Progress(p, per_model=[0] * len(plan.jobs)) for p in problems}
    active = [p.id for p in problems]
    stats = SampleStats(problems=len(problems))
    rng = np.random.default_rng(seed)  # only the authors' Monte Carlo rule uses it
    round_ = 0
    while active:
        draws: dict[str, list[int]] = {}
        for pid in active:
            st = state[pid]
            k = min(plan.batch(round_), plan.rule.max_samples - len(st.answers))
            draws[pid] = [draw_model(pid, len(st.answers) + t, plan.weights) for t in range(k)]
        targets: list[dict[str, int]] = [{} for _ in plan.jobs]
        for pid, models in draws.items():
            for m in range(len(plan.jobs)):
                extra = models.count(m)
                if extra:
                    targets[m][pid] = state[pid].per_model[m] + extra
        fetched: list[dict[str, list]] = []
        for m, job in enumerate(plan.jobs):
            chunk = [state[pid].problem for pid in targets[m]]
            samples, s = await sample_problems(job, chunk, targets[m], cache, backends[m]) if chunk else ([], None)
            if s is not None:
                stats.generated += s.generated
                stats.truncated += s.truncated
            fetched.append({ps.problem_id: ps.generations for ps in samples})
        for pid, models in draws.items():
            st = state[pid]
            for m in models:
                gen = fetched[m][pid][st.per_model[m]]
                st.per_model[m] += 1
                st.answers.append(answer_key(gen.text, plan.kind))
                st.tokens += gen.completion_tokens
        vote_state = VoteState.from_sequences([state[pid].answers for pid in active], window=plan.rule.window)
        stop, score = plan.rule.should_stop(vote_state, rng)
        for pid, s_ in zip(active, score, strict=True):
            state[pid].score = float(s_)
        if report_progress:
            for pid in (pid for pid, done in zip(active, stop, strict=True) if done):
                _report_finished(state[pid], plan.kind)
        active = [pid for pid, done in zip(active, stop, strict=True) if not done]
        round_ += 1
    out = []
    for p in problems:
        st = state[p.id]
        answer = plurality(st.answers)
        correct = None if p.answer is None else answers_match(answer, p.answer, plan.kind)
        out.append(ProblemVote(p.id, answer, p.answer, correct, len(st.answers), st.score, st.tokens, st.answers))
        stats.requested += len(st.answers)
        stats.completion_tokens += st.tokens
    stats.cached = stats.requested - stats.generated
    return out, stats


def _report_finished(st: _Progress, kind: AnswerKind) -> None:
    gold = st.problem.answer
    correct = None if gold is None else int(answers_match(plurality(st.answers), gold, kind))
    progress_events.report(1, len(st.answers), correct)


def summarise_votes(votes: list[ProblemVote]) -> dict[str, float | int | None]:
    graded = [v for v in votes if v.correct is not None]
    samples = [v.samples for v in votes]
    return {
        "problems": len(votes),
        "graded": len(graded),
        "accuracy": round(sum(bool(v.correct) for v in graded) / len(graded), 4) if graded else None,
        "no_answer": sum(v.answer is None for v in votes),
        "mean_samples": round(statistics.fmean(samples), 3) if samples else 0,
        "median_samples": statistics.median(samples) if samples else 0,
        "completion_tokens": sum(v.completion_tokens for v in votes),
    }
