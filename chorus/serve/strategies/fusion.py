"""`fusion-N/MODEL[+fusor=F]`: N candidates of MODEL, then the fusor (MODEL itself unless named) reads
them and writes one answer (Fusion-of-N). The fused answer is sample 0 of the fusor on the fusion
prompt, keyed by the candidate set, so a repeated request is answered from the cache."""

from __future__ import annotations

from dataclasses import dataclass

from chorus.serve.context import DEFAULT_ANSWER_KIND, Ask, ServeContext
from chorus.serve.errors import ApiError
from chorus.serve.strategies.base import Outcome, only_one_choice, usage_of
from chorus.serve.strategies.candidates import draw_candidates
from tasks.algorithms.answers import answer_key
from tasks.algorithms.datasets import Problem
from tasks.services.fusing import FusionPlan, fuse

CHARS_PER_TOKEN = 3.0  # a cautious estimate, as `chorus fuse` uses, so the prompt fits the fusor's n_ctx


@dataclass(frozen=True)
class Fusion:
    model: str
    n: int
    fusor: str
    name: str = "fusion"

    def check(self, ctx: ServeContext) -> None:
        ctx.spec(self.model)
        ctx.spec(self.fusor)

    async def answer(self, ctx: ServeContext, ask: Ask) -> Outcome:
        only_one_choice(ask, self.name)
        gens, stats = await draw_candidates(ctx, self.model, self.n, ask)
        fusor_job = ctx.job(self.fusor, ask)
        plan = FusionPlan(
            samplers=(ctx.job(self.model, ask),),
            n=self.n,
            fusor=fusor_job,
            context_tokens=fusor_job.spec.n_ctx,
            chars_per_token=CHARS_PER_TOKEN,
            select="majority",
        )
        # The fusor is told the question as the client wrote it (the last user turn).
        problem = Problem(ask.problem.id, ask.question)
        fused, fuse_stats = await fuse(plan, [(problem, [g.text for g in gens])], ctx.cache, ctx.backend(self.fusor))
        result = fused[problem.id]
        if result.text is None:
            raise ApiError(
                502,
                f"fusion failed: {ctx.redact(result.error or 'no fused answer')}",
                type_="server_error",
                code="upstream_error",
            )
        kind = ask.settings.answer_kind or DEFAULT_ANSWER_KIND
        prompt_tokens, completion_tokens = usage_of(gens)
        return Outcome(
            texts=[result.text],
            finish_reasons=[result.finish_reason or "stop"],
            prompt_tokens=prompt_tokens + fuse_stats.prompt_tokens,
            completion_tokens=completion_tokens + fuse_stats.completion_tokens,
            cached=stats.cached + fuse_stats.cached,
            generated=stats.generated + fuse_stats.generated,
            chorus={
                "answer": answer_key(result.text, kind),
                "fusor": self.fusor,
                "candidate_answers": [answer_key(g.text, kind) for g in gens],
                "samples": len(gens) + 1,
                "truncated_chars": result.truncated,
            },
        )
