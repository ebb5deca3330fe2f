"""The `simulate` flow: adaptive vs fixed-N majority on recorded answers, as the paper measures it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from flows.flow_decorator import chorus_flow
from flows.parameters import Alpha, Compat, MaxSamples, RuleName, Seed
from tasks.simulate_tasks import load_replays, report_simulation, run_simulation

DEFAULT_THRESHOLDS = [2.0, 5.0, 10.0, 30.0, 100.0, 300.0]
DEFAULT_FIXED = [1, 3, 5, 10, 30, 100]


@chorus_flow("simulate")
def simulate_flow(
    replay: Annotated[list[str], Field(min_length=1, description="[NAME=]FILE of recorded answers, one per model")],
    weights: Annotated[
        list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None,
        Field(min_length=1, description="Mixture weights, one per replay file"),
    ] = None,
    rule: RuleName = "bayes",
    thresholds: Annotated[
        list[Annotated[float, Field(gt=0, allow_inf_nan=False)]],
        Field(min_length=1, description="Thresholds of the rule"),
    ] = DEFAULT_THRESHOLDS,
    fixed: Annotated[
        list[Annotated[int, Field(ge=1, le=100_000)]], Field(description="N of the fixed-N majority baselines")
    ] = DEFAULT_FIXED,
    trials: Annotated[int, Field(ge=1, le=100_000, description="Monte Carlo trials")] = 100,
    max_samples: MaxSamples = 100,
    seed: Seed = 0,
    alpha: Alpha = 0.3,
    compat: Compat = "chorus",
    keys: Annotated[
        Literal["raw", "canonical"], Field(description="Vote on recorded strings or canonical forms")
    ] = "raw",
    plot: Annotated[str | None, Field(description="Also write the plot to this PNG path")] = None,
    chart: Annotated[bool, Field(description="Draw the plot into the report artifact")] = True,
) -> dict[str, object]:
    """Monte Carlo trials drawing with replacement from each problem's recorded answers."""
    names, models, weights = load_replays(replay, weights)  # in name order, weights along with their files
    result = run_simulation(
        names, models, weights, rule, thresholds, fixed, trials, max_samples, seed, alpha, compat, keys
    )
    return report_simulation(result, plot, chart)
