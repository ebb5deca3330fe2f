"""`bo-inf/MODEL` (adaptive Best-of-∞ vote) and `vote-N/MODEL` (fixed majority of N), and the shared
vote answer that `ensemble/NAME` also returns."""

from __future__ import annotations

from dataclasses import dataclass

from chorus.serve.context import DEFAULT_ANSWER_KIND, DEFAULT_MAX_SAMPLES, Ask, ServeContext
from chorus.serve.errors import bad_request
from chorus.serve.strategies.base import Outcome, only_one_choice, usage_of
from storage.errors import ChorusError
from tasks.algorithms.stopping import StoppingRule, make_rule
from tasks.services.request_vote import RequestVote, vote_request


def rule_for(ask: Ask, *, fixed: int | None = None) -> StoppingRule:
    """`bayes` (threshold 10) up to 32 samples unless the request's chorus object says otherwise;
    `vote-N` is the fixed rule with N samples and refuses settings that would contradict it."""
    s = ask.settings
    try:
        if fixed is not None:
            if s.rule not in (None, "fixed") or s.threshold is not None or s.max_samples is not None:
                raise bad_request(
                    f"vote-{fixed}/...: a fixed majority of {fixed} takes no rule, threshold or "
                    "max_samples (use bo-inf/... for adaptive voting)"
                )
            return make_rule("fixed", fixed, max_samples=fixed)
        return make_rule(s.rule or "bayes", s.threshold, max_samples=s.max_samples or DEFAULT_MAX_SAMPLES)
    except ChorusError as exc:
        raise bad_request(f"chorus: {exc}") from None


def vote_outcome(vote: RequestVote, models: list[str], rule: StoppingRule) -> Outcome:
    winner = vote.winning_sample()
    gens = [d.generation for d in vote.drawn]
    prompt_tokens, completion_tokens = usage_of(gens)
    per_model = {m: sum(d.model == i for d in vote.drawn) for i, m in enumerate(models)}
    return Outcome(
        texts=[winner.generation.text if winner else ""],
        finish_reasons=[winner.generation.finish_reason if winner else "stop"],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cached=vote.stats.cached,
        generated=vote.stats.generated,
        chorus={
            "answer": vote.answer,
            "votes": vote.counts,
            "no_answer": sum(d.answer is None for d in vote.drawn),
            "samples": len(vote.drawn),
            "rule": rule.name,
            "threshold": rule.threshold,
            "max_samples": rule.max_samples,
            "stopping_score": vote.score,
            "samples_per_model": per_model if len(models) > 1 else None,
        },
    )


@dataclass(frozen=True)
class Vote:
    model: str
    fixed: int | None = None  # None: adaptive (bo-inf)

    @property
    def name(self) -> str:
        return "bo-inf" if self.fixed is None else "vote"

    def check(self, ctx: ServeContext) -> None:
        ctx.spec(self.model)

    async def answer(self, ctx: ServeContext, ask: Ask) -> Outcome:
        only_one_choice(ask, self.name)
        rule = rule_for(ask, fixed=self.fixed)
        job = ctx.job(self.model, ask)
        kind = ask.settings.answer_kind or DEFAULT_ANSWER_KIND
        vote = await vote_request(ask.problem, (job,), (1.0,), [ctx.backend(self.model)], ctx.batcher, rule, kind)
        return vote_outcome(vote, [self.model], rule)
