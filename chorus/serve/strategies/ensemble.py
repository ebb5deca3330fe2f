"""`ensemble/NAME`: adaptive vote where each draw comes from model i with the saved weight w_i
(`chorus ensemble --name NAME` saved them in the cache). The weights are read per request, so new
weights apply without a restart."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chorus.serve.context import DEFAULT_ANSWER_KIND, Ask, ServeContext
from chorus.serve.errors import not_found
from chorus.serve.strategies.base import Outcome, only_one_choice
from chorus.serve.strategies.vote import rule_for, vote_outcome
from storage.ensembles import SavedEnsemble, load_ensemble
from storage.errors import ChorusError
from tasks.services.request_vote import vote_request


def saved(ctx: ServeContext, name: str) -> SavedEnsemble:
    try:
        ensemble = load_ensemble(ctx.engine, name)
    except ChorusError as exc:
        raise not_found(str(exc).replace("--ensemble ", "ensemble/")) from None
    missing = [m for m in ensemble.models if m not in ctx.specs]
    if missing:
        raise not_found(f"ensemble/{name}: model(s) {', '.join(missing)} not served here (start with --model ...)")
    return ensemble


@dataclass(frozen=True)
class Ensemble:
    ensemble: str
    name: str = "ensemble"

    def check(self, ctx: ServeContext) -> None:
        saved(ctx, self.ensemble)

    async def answer(self, ctx: ServeContext, ask: Ask) -> Outcome:
        only_one_choice(ask, self.name)
        ensemble = await asyncio.to_thread(saved, ctx, self.ensemble)
        # Models with zero weight are never drawn; dropping them keeps their servers out of the request.
        pairs = [(m, w) for m, w in zip(ensemble.models, ensemble.weights, strict=True) if w > 0]
        models = [m for m, _ in pairs]
        rule = rule_for(ask)
        jobs = tuple(ctx.job(m, ask) for m in models)
        backends = [ctx.backend(m) for m in models]
        kind = ask.settings.answer_kind or DEFAULT_ANSWER_KIND
        vote = await vote_request(ask.problem, jobs, tuple(w for _, w in pairs), backends, ctx.batcher, rule, kind)
        outcome = vote_outcome(vote, models, rule)
        outcome.chorus["ensemble"] = {"name": ensemble.name, "models": models, "weights": [w for _, w in pairs]}
        return outcome
