"""The one place that lists the strategies: a model name's prefix chooses one, the rest names models.

=========================================  ================================================================
model name                                 answer
=========================================  ================================================================
``MODEL``                                  one sample (n samples when the request asks n)
``bo-inf/MODEL``                           adaptive Best-of-∞ vote (Bayes factor ≥ 10, at most 32 samples)
``vote-N/MODEL``                           fixed majority of N samples
``ensemble/NAME``                          adaptive vote over the weights saved by ``chorus ensemble``
``fusion-N/MODEL[+fusor=F]``               Fusion-of-N (fusor: MODEL unless named)
``bon-N/MODEL[+judge=J|+reward=R]``        Best-of-N (scorer: majority of answers unless named)
=========================================  ================================================================
"""

from __future__ import annotations

from chorus.serve.context import ServeContext
from chorus.serve.errors import not_found
from chorus.serve.strategies.base import Outcome, Strategy, parse_count
from chorus.serve.strategies.best_of_n import BestOfN
from chorus.serve.strategies.candidates import parse_options
from chorus.serve.strategies.ensemble import Ensemble
from chorus.serve.strategies.fusion import Fusion
from chorus.serve.strategies.single import Single
from chorus.serve.strategies.vote import Vote

__all__ = ["Outcome", "Strategy", "listed_models", "strategy_for"]

MAX_FIXED = 128  # vote-N, fusion-N and bon-N counts
EXAMPLE_COUNTS = {"vote": 8, "fusion": 5, "bon": 5}


def strategy_for(model_name: str, ctx: ServeContext) -> Strategy:
    """The strategy a model name asks for, checked against what is served (404 when it is not)."""
    prefix, slash, rest = model_name.partition("/")
    strategy: Strategy
    if not slash:
        strategy = Single(model_name)
    elif prefix == "ensemble":
        strategy = Ensemble(rest)
    else:
        base, *options = rest.split("+")
        kind, dash, count = prefix.partition("-")
        if prefix == "bo-inf" and not options:
            strategy = Vote(base)
        elif kind == "vote" and dash and not options:
            strategy = Vote(base, parse_count(count, kind, 1, MAX_FIXED))
        elif kind == "fusion" and dash:
            fusor = parse_options(options, ("fusor",), model_name).get("fusor", base)
            strategy = Fusion(base, parse_count(count, kind, 2, MAX_FIXED), fusor)
        elif kind == "bon" and dash:
            opts = parse_options(options, ("judge", "reward"), model_name)
            strategy = BestOfN(base, parse_count(count, kind, 2, MAX_FIXED), opts.get("judge"), opts.get("reward"))
        else:
            raise not_found(
                f"model {model_name!r}: unknown strategy {prefix!r} (use MODEL, bo-inf/MODEL, vote-N/MODEL, "
                "ensemble/NAME, fusion-N/MODEL[+fusor=F], bon-N/MODEL[+judge=J|+reward=R])"
            )
    strategy.check(ctx)
    return strategy


def listed_models(ctx: ServeContext, ensembles: list[str]) -> list[str]:
    """What GET /v1/models lists: every served model under every strategy (counts are examples: any N
    works), and every saved ensemble whose models are all served."""
    names: list[str] = []
    for model in sorted(ctx.specs):
        names += [model, f"bo-inf/{model}"] + [f"{k}-{n}/{model}" for k, n in EXAMPLE_COUNTS.items()]
    return names + [f"ensemble/{e}" for e in ensembles]
