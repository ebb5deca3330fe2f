"""The `simulate` flow: adaptive vs fixed-N majority on recorded answers, as the paper measures it."""

from __future__ import annotations

from prefect import flow

from tasks.simulate_tasks import load_replays, report_simulation, run_simulation


@flow(name="simulate", log_prints=True)
def simulate_flow(
    replay: list[str],
    weights: list[float] | None = None,
    rule: str = "bayes",
    thresholds: list[float] = [2, 5, 10, 30, 100, 300],  # noqa: B006
    fixed: list[int] = [1, 3, 5, 10, 30, 100],  # noqa: B006
    trials: int = 100,
    max_samples: int = 100,
    seed: int = 0,
    alpha: float = 0.3,
    compat: str = "chorus",
    keys: str = "raw",
    plot: str | None = None,
) -> dict[str, object]:
    """Monte Carlo trials drawing with replacement from each problem's recorded answers."""
    models = load_replays(replay)
    result = run_simulation(models, weights, rule, thresholds, fixed, trials, max_samples, seed, alpha, compat, keys)
    return report_simulation(result, replay, plot)
