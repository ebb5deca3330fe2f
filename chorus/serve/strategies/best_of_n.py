"""`bon-N/MODEL[+judge=J | +reward=R]`: N candidates of MODEL, the best one returned verbatim.

Scorer: by default the majority of the candidates' extracted answers (a sample whose answer most
candidates share; ties to the earliest) — exact for checkable answers and needs no extra model;
`+judge=J` asks LLM J for a 1-10 score of each candidate (a reply without a parsable score is asked
once more, then counted as missing, never as 0); `+reward=R` scores with an SGLang reward model."""

from __future__ import annotations

from dataclasses import dataclass

from chorus.serve.context import DEFAULT_ANSWER_KIND, Ask, ServeContext
from chorus.serve.errors import ApiError, bad_request
from chorus.serve.strategies.base import Outcome, only_one_choice, usage_of
from chorus.serve.strategies.candidates import draw_candidates
from tasks.algorithms.answers import answer_key
from tasks.algorithms.judging import select_best
from tasks.services.fusing import REWARD_PARAMS, judge_scores, majority_scores, reward_scores, reward_text
from tasks.services.sampling import SampleStats, SamplingJob


@dataclass(frozen=True)
class BestOfN:
    model: str
    n: int
    judge: str | None = None
    reward: str | None = None
    name: str = "bon"

    @property
    def scorer(self) -> str:
        return "reward" if self.reward else "judge" if self.judge else "majority"

    def check(self, ctx: ServeContext) -> None:
        ctx.spec(self.model)
        if self.judge and self.reward:
            raise bad_request("bon-N/...: name a judge or a reward model, not both", code="model_not_found")
        if self.judge:
            ctx.spec(self.judge)
        if self.reward:
            spec = ctx.spec(self.reward)
            if spec.backend != "sglang" or not spec.prompt_template or "{answer}" not in spec.prompt_template:
                raise bad_request(
                    f"+reward={self.reward}: a reward model is an SGLang model whose prompt_template "
                    "holds {question} and {answer}",
                    code="model_not_found",
                )

    async def _scores(self, ctx: ServeContext, ask: Ask, texts: list[str]) -> tuple[list, SampleStats]:
        kind = ask.settings.answer_kind or DEFAULT_ANSWER_KIND
        if self.judge:
            job = ctx.job(self.judge, ask)
            return await judge_scores(job, [(ask.question, t) for t in texts], ctx.cache, ctx.backend(self.judge))
        if self.reward:
            spec = ctx.spec(self.reward)
            job = SamplingJob(spec, ctx.fingerprint(self.reward), REWARD_PARAMS)
            inputs = [reward_text(spec.prompt_template or "", ask.question, t) for t in texts]
            return await reward_scores(job, inputs, ctx.cache, ctx.backend(self.reward))
        return majority_scores(texts, kind), SampleStats()

    async def answer(self, ctx: ServeContext, ask: Ask) -> Outcome:
        only_one_choice(ask, self.name)
        gens, stats = await draw_candidates(ctx, self.model, self.n, ask)
        texts = [g.text for g in gens]
        scores, score_stats = await self._scores(ctx, ask, texts)
        pick = select_best(scores)
        if pick.index is None:
            raise ApiError(
                502,
                f"best-of-{self.n}: the {self.scorer} scorer gave no usable score to any candidate",
                type_="server_error",
                code="upstream_error",
            )
        kind = ask.settings.answer_kind or DEFAULT_ANSWER_KIND
        prompt_tokens, completion_tokens = usage_of(gens)
        return Outcome(
            texts=[texts[pick.index]],
            finish_reasons=[gens[pick.index].finish_reason],
            prompt_tokens=prompt_tokens + score_stats.prompt_tokens,
            completion_tokens=completion_tokens + score_stats.completion_tokens,
            cached=stats.cached + score_stats.cached,
            generated=stats.generated + score_stats.generated,
            chorus={
                "answer": answer_key(texts[pick.index], kind),
                "scorer": self.scorer,
                "scorer_model": self.judge or self.reward,
                "scores": scores,
                "chosen": pick.index,
                "missing_scores": pick.missing,
                "candidate_answers": [answer_key(t, kind) for t in texts],
                "samples": len(gens),
            },
        )
