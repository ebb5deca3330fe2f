"""`MODEL`: one sample through the cache (n samples when the request asks n > 1)."""

from __future__ import annotations

from dataclasses import dataclass

from chorus.serve.context import Ask, ServeContext
from chorus.serve.strategies.base import Outcome, usage_of
from tasks.algorithms.answers import answer_key


@dataclass(frozen=True)
class Single:
    model: str
    name: str = "single"

    def check(self, ctx: ServeContext) -> None:
        ctx.spec(self.model)

    async def answer(self, ctx: ServeContext, ask: Ask) -> Outcome:
        job = ctx.job(self.model, ask)
        gens, stats = await ctx.batcher.draw(job, ask.problem, 0, ask.n, ctx.backend(self.model))
        prompt_tokens, completion_tokens = usage_of(gens)
        kind = ask.settings.answer_kind or "math"
        return Outcome(
            texts=[g.text for g in gens],
            finish_reasons=[g.finish_reason for g in gens],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached=stats.cached,
            generated=stats.generated,
            chorus={"answer": answer_key(gens[0].text, kind), "samples": len(gens)},
        )
