"""Fusion-of-N and Best-of-N through the generation cache: fuse, select and compare (no prefect here).

Every model call is a cached generation, so reruns are free and a killed run resumes:

* a fused answer is sample 0 of the fusor on the fusion prompt. The prompt hash covers the question
  and the candidate set, so its key (fusor fingerprint, prompt hash, params hash, 0) is exactly
  "fusor, candidates and parameters";
* a judge score or pairwise verdict is sample 0 of the judge on the judge prompt; a reply that does
  not parse is asked once more as sample 1 (its own derived seed, so a different draw), then missing;
* a reward score is one row of the reward model whose text is the score; a reward model only scores,
  so its parameters are a fixed marker (``REWARD_PARAMS``).

Per-problem failures (a request the server rejects, an endpoint that stays down) are captured per
problem and reported, so one bad prompt cannot sink a chunk; nothing is ever written half-done.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from storage.cache import Generation, GenerationCache
from storage.errors import ChorusError
from storage.keys import canonical_json, content_hash
from tasks.algorithms.answers import AnswerKind, answer_key, answers_match
from tasks.algorithms.datasets import Problem
from tasks.algorithms.fusion_prompts import FusionPrompt, build_fusion_prompt
from tasks.algorithms.judging import Outcome, build_pairwise_prompt, build_score_prompt, combine_swapped, parse_score
from tasks.algorithms.judging import parse_verdict as _parse_verdict
from tasks.algorithms.special_tokens import neutralise
from tasks.backends.base import Backend, Prompt, SamplingParams
from tasks.backends.spec import ModelSpec
from tasks.services.sampling import SampleStats, SamplingJob, sample_problems

T = TypeVar("T")
Messages = tuple[tuple[str, str], ...]
SELECT_MODES = ("judge", "reward", "majority")
# What a reward-model row's parameters are: it scores, it does not sample.
REWARD_PARAMS = SamplingParams(max_tokens=1, temperature=0.0, top_p=1.0)
REWARD_BATCH = 64
# Compared with the judge, both orders each: fusion against each baseline.
PAIRS = (("fusion", "best_of_n"), ("fusion", "single"))
_FIELD = re.compile(r"\{(question|answer)\}")


def as_messages(messages: Sequence[Mapping[str, str]]) -> Messages:
    return tuple((m["role"], m["content"]) for m in messages)


def reward_text(template: str, question: str, answer: str) -> str:
    """The reward model's input: its chat template with {question} and {answer} filled in one pass
    (so an answer that contains "{question}" is inserted literally). The template holds the reward
    model's own control tokens; the question and the answer are untrusted and have theirs broken."""
    question, answer = neutralise(question), neutralise(answer)
    return _FIELD.sub(lambda m: question if m.group(1) == "question" else answer, template)


def majority_scores(candidates: Sequence[str], kind: AnswerKind) -> list[int | None]:
    """Each candidate's vote count (how many candidates share its answer); None when it states none.

    ``select_best`` on these counts is the plurality vote with ties to the earliest-seen answer.
    """
    keys = [answer_key(c, kind) for c in candidates]
    return [None if k is None else keys.count(k) for k in keys]


@dataclass(frozen=True)
class FusionPlan:
    """Everything that fixes the cache keys and the decisions of a fuse or distill run."""

    samplers: tuple[SamplingJob, ...]  # fuse: one model, n samples; distill: one sample per teacher
    n: int
    fusor: SamplingJob
    context_tokens: int
    chars_per_token: float
    select: str  # judge | reward | majority
    judge: SamplingJob | None = None
    reward: SamplingJob | None = None
    kind: AnswerKind = "math"
    compare: bool = False

    def jobs(self) -> list[SamplingJob]:
        return [*self.samplers, self.fusor, *(j for j in (self.judge, self.reward) if j is not None)]

    def specs(self) -> list[ModelSpec]:
        """One spec per model name: a model that samples, fuses and judges runs one server."""
        return list({j.spec.name: j.spec for j in self.jobs()}.values())

    def with_specs(self, ready: Sequence[ModelSpec]) -> FusionPlan:
        by_name = {s.name: s for s in ready}

        def move(job: SamplingJob | None) -> SamplingJob | None:
            return None if job is None else job.with_spec(by_name[job.spec.name])

        return replace(
            self,
            samplers=tuple(j.with_spec(by_name[j.spec.name]) for j in self.samplers),
            fusor=self.fusor.with_spec(by_name[self.fusor.spec.name]),
            judge=move(self.judge),
            reward=move(self.reward),
        )

    def reserve_tokens(self) -> int:
        # The fused answer plus the chat template's own tokens must fit after the prompt.
        return self.fusor.params.max_tokens + 64

    def fusion_prompt(self, question: str, candidates: Sequence[str]) -> FusionPrompt:
        return build_fusion_prompt(
            question,
            candidates,
            context_tokens=self.context_tokens,
            reserve_tokens=self.reserve_tokens(),
            chars_per_token=self.chars_per_token,
        )


def check_fusion_fits(plan: FusionPlan, questions: Sequence[str], n_candidates: int) -> None:
    """ChorusError (one line) when even short candidates cannot fit the fusor's context for some question.

    Candidates are unknown before sampling, so each gets the floor the prompt builder keeps anyway.
    """
    if n_candidates < 2:
        raise ChorusError(f"fusion needs at least 2 candidates per prompt, got {n_candidates}")
    longest = max(questions, key=len)
    plan.fusion_prompt(longest, ["x" * 128] * n_candidates)


@dataclass
class Fused:
    text: str | None
    truncated: list[int]  # characters cut from each candidate to fit the fusor's context
    finish_reason: str | None = None
    error: str | None = None


@dataclass
class Tally:
    """Sampling statistics per role (candidates, fusion, judge, reward, compare)."""

    roles: dict[str, SampleStats] = field(default_factory=dict)

    def add(self, role: str, stats: SampleStats) -> None:
        self.roles.setdefault(role, SampleStats()).add(stats)


async def sample_each(
    job: SamplingJob, problems: Sequence[Problem], n: int | Mapping[str, int], cache: GenerationCache, backend: Backend
) -> tuple[dict[str, list[Generation]], dict[str, str], SampleStats]:
    """Samples of every problem, in one batch when all succeed; else problem by problem, so a failing
    problem is reported (id → reason) and the others still come back. Cached samples are never redone."""
    if not problems:
        return {}, {}, SampleStats()
    try:
        samples, stats = await sample_problems(job, list(problems), n, cache, backend)
        return {s.problem_id: s.generations for s in samples}, {}, stats
    except ChorusError as exc:
        if len(problems) == 1:
            return {}, {problems[0].id: f"{job.spec.name}: {exc}"}, SampleStats()
    got: dict[str, list[Generation]] = {}
    failed: dict[str, str] = {}
    total = SampleStats()
    results = await asyncio.gather(
        *(sample_problems(job, [p], n, cache, backend) for p in problems), return_exceptions=True
    )
    for problem, result in zip(problems, results, strict=True):
        if isinstance(result, ChorusError):
            failed[problem.id] = f"{job.spec.name}: {result}"
        elif isinstance(result, BaseException):
            raise result
        else:
            samples, stats = result
            got[problem.id] = samples[0].generations
            total.add(stats)
    return got, failed, total


async def ask(
    job: SamplingJob,
    prompts: Sequence[Messages],
    parse: Callable[[str], T | None],
    cache: GenerationCache,
    backend: Backend,
) -> tuple[list[T | None], SampleStats]:
    """Ask `job` each chat prompt; parse sample 0, and sample 1 when 0 does not parse; None if neither.

    Identical prompts are asked once. A prompt the server rejects counts as missing.
    """
    unique = list(dict.fromkeys(prompts))
    problems = [Problem(f"ask-{i}", "", messages=m) for i, m in enumerate(unique)]
    got, _, stats = await sample_each(job, problems, 1, cache, backend)
    values: dict[str, T | None] = {p.id: parse(got[p.id][0].text) if p.id in got else None for p in problems}
    again = [p for p in problems if p.id in got and values[p.id] is None]
    if again:
        second, _, more = await sample_each(job, again, 2, cache, backend)
        stats.add(more)
        for p in again:
            if p.id in second:
                values[p.id] = parse(second[p.id][1].text)
    index = {m: values[p.id] for m, p in zip(unique, problems, strict=True)}
    return [index[m] for m in prompts], stats


async def fuse(
    plan: FusionPlan, items: Sequence[tuple[Problem, list[str]]], cache: GenerationCache, backend: Backend
) -> tuple[dict[str, Fused], SampleStats]:
    """Fused answer per problem: sample 0 of the fusor on its fusion prompt (cached)."""
    out: dict[str, Fused] = {}
    asks: list[Problem] = []
    truncated: dict[str, list[int]] = {}
    for problem, candidates in items:
        try:
            prompt = plan.fusion_prompt(problem.question, candidates)
        except ChorusError as exc:
            out[problem.id] = Fused(None, [], error=str(exc))
            continue
        truncated[problem.id] = prompt.truncated
        asks.append(Problem(problem.id, problem.question, problem.answer, as_messages(prompt.messages)))
    got, failed, stats = await sample_each(plan.fusor, asks, 1, cache, backend)
    for p in asks:
        if p.id in got:
            gen = got[p.id][0]
            out[p.id] = Fused(gen.text, truncated[p.id], gen.finish_reason)
        else:
            out[p.id] = Fused(None, truncated[p.id], error=failed[p.id])
    return out, stats


async def judge_scores(
    job: SamplingJob, items: Sequence[tuple[str, str]], cache: GenerationCache, backend: Backend
) -> tuple[list[int | None], SampleStats]:
    """1..10 judge score of each (question, candidate); None when two replies gave no parsable score."""
    prompts = [as_messages(build_score_prompt(q, c)) for q, c in items]
    return await ask(job, prompts, parse_score, cache, backend)


def parse_reward(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


async def reward_scores(
    job: SamplingJob, texts: Sequence[str], cache: GenerationCache, backend: Backend
) -> tuple[list[float | None], SampleStats]:
    """Reward of each templated conversation via SGLang's `/classify`, through the cache, in batches."""
    hashes = [content_hash(Prompt(text=t).as_key()) for t in texts]
    body = dict(zip(hashes, texts, strict=True))
    await asyncio.to_thread(
        cache.register, prompts=[(h, canonical_json(Prompt(text=t).as_key())) for h, t in body.items()]
    )
    found = await asyncio.to_thread(cache.get, job.model_fp, job.params_hash, list(body), 1)
    missing = [h for h in body if 0 not in found[h]]
    stats = SampleStats(problems=len(body), requested=len(body), cached=len(body) - len(missing))
    for start in range(0, len(missing), REWARD_BATCH):
        batch = missing[start : start + REWARD_BATCH]
        began = time.perf_counter()
        scores = await backend.score([body[h] for h in batch])
        latency = (time.perf_counter() - began) / len(batch)
        rows = [
            Generation(job.model_fp, h, job.params_hash, 0, repr(s), None, 0, 0, "score", latency, 0)
            for h, s in zip(batch, scores, strict=True)
        ]
        await asyncio.to_thread(cache.put, rows)
        for row in rows:
            found[row.prompt_hash][0] = row
        stats.generated += len(rows)
    return [parse_reward(found[h][0].text) for h in hashes], stats


async def compare(
    job: SamplingJob, items: Sequence[tuple[str, str | None, str | None]], cache: GenerationCache, backend: Backend
) -> tuple[list[Outcome | None], SampleStats]:
    """Outcome of x against y for each (question, x, y): judged in both orders, combined (win/tie/loss).

    A missing answer gives None; identical answers are a tie without asking.
    """
    asked = [(q, x, y) for q, x, y in items if x is not None and y is not None and x != y]
    ab = [as_messages(build_pairwise_prompt(q, x, y)) for q, x, y in asked]
    ba = [as_messages(build_pairwise_prompt(q, y, x)) for q, x, y in asked]
    verdicts, stats = await ask(job, ab + ba, _parse_verdict, cache, backend)
    half = len(asked)
    combined = iter([combine_swapped(v1, v2) for v1, v2 in zip(verdicts[:half], verdicts[half:], strict=True)])
    out: list[Outcome | None] = []
    for _, x, y in items:
        out.append(None if x is None or y is None else "tie" if x == y else next(combined))
    return out, stats


def correctness(text: str | None, gold: str | None, kind: AnswerKind) -> tuple[str | None, bool | None]:
    """(answer key, correct) of an answer; correct is None without gold and False without an answer."""
    key = None if text is None else answer_key(text, kind)
    return key, None if gold is None else answers_match(key, gold, kind)
