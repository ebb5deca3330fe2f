"""Prefect tasks of the `simulate` flow: Monte Carlo over recorded answers, a plot, and artifacts."""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact

from storage.errors import ChorusError
from tasks.algorithms.options import ANSWER_KEYS, name_order, parse_named_files
from tasks.algorithms.replay_files import ReplayProblem, load_replay
from tasks.algorithms.simulation import SimulationResult, simulate
from tasks.algorithms.stopping import setting_label
from tasks.chorus_task import chorus_task


@chorus_task(name="load-replays")
def load_replays(
    items: list[str], weights: list[float] | None
) -> tuple[list[str], list[list[ReplayProblem]], list[float] | None]:
    """`[NAME=]FILE` items as (names, answers, weights) in name order; each weight goes with its file, so
    the order in which files are given changes no result."""
    if not items:
        raise ChorusError("--replay: give at least one recorded-answers file")
    named = parse_named_files(items)
    if weights is not None and len(weights) != len(named):
        raise ChorusError(f"--weights: {len(weights)} weights for {len(named)} --replay files")
    order = name_order([n for n, _ in named])
    names = [named[i][0] for i in order]
    models = [load_replay(named[i][1]) for i in order]
    return names, models, None if weights is None else [weights[i] for i in order]


@chorus_task(name="run-simulation")
def run_simulation(
    names: list[str],
    models: list[list[ReplayProblem]],
    weights: list[float] | None,
    rule: str,
    thresholds: list[float],
    fixed: list[int],
    trials: int,
    max_samples: int,
    seed: int,
    alpha: float,
    compat: str,
    keys: str,
) -> SimulationResult:
    if keys not in ANSWER_KEYS:
        raise ChorusError(f"--keys {keys}: choose raw or canonical")
    result = simulate(
        models[0],
        mixtures=models[1:],
        weights=weights,
        rule=rule,
        thresholds=thresholds,
        fixed=fixed,
        trials=trials,
        max_samples=max_samples,
        seed=seed,
        alpha=alpha,
        compat=compat,
        key=ANSWER_KEYS[keys],
    )
    return replace(result, models=list(names))


def plot_curves(result: SimulationResult, title: str) -> bytes:
    """Accuracy vs mean samples: adaptive and fixed-N curves with ±1 s.e., and the Bo∞ line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for points, label, marker in (
        (result.fixed, "fixed N (majority)", "s"),
        (result.adaptive, f"adaptive ({result.rule}, {result.compat})", "o"),
    ):
        if points:
            ax.errorbar(
                [p.mean_samples for p in points],
                [p.accuracy for p in points],
                yerr=[p.accuracy_se for p in points],
                marker=marker,
                capsize=2,
                label=label,
            )
    for p in result.adaptive:  # which threshold gave which point: the curve alone does not say
        ax.annotate(
            setting_label(result.rule, p.setting),
            (p.mean_samples, p.accuracy),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize=7,
        )
    ax.axhline(result.bo_inf_accuracy, color="k", ls="--", lw=1, label=f"Bo∞ = {result.bo_inf_accuracy:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("mean samples per problem")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@chorus_task(name="report-simulation")
def report_simulation(result: SimulationResult, plot: str | None, chart: bool = True) -> dict[str, Any]:
    """The table artifact, with the plot when one is wanted (drawing it costs ~1 s of matplotlib)."""
    title = " + ".join(result.models)
    png = plot_curves(result, title) if chart or plot else None
    if plot and png is not None:
        try:
            Path(plot).write_bytes(png)
        except OSError as exc:
            raise ChorusError(f"--plot {plot}: cannot write ({exc.strerror})") from None
    rows = ["| setting | accuracy | mean samples | mean tokens |", "| --- | --- | --- | --- |"]
    for rule, points in ((result.rule, result.adaptive), ("fixed", result.fixed)):
        rows += [
            f"| {setting_label(rule, p.setting)} | {p.accuracy:.4f} ± {p.accuracy_se:.4f} | {p.mean_samples:.2f} | "
            f"{p.mean_tokens:.0f} |"
            for p in points
        ]
    image = [f"![accuracy vs samples](data:image/png;base64,{base64.b64encode(png).decode()})"] if png else []
    md = "\n".join(
        [
            f"# simulate: {title}",
            "",
            f"Bo∞ accuracy **{result.bo_inf_accuracy:.4f}**, {result.n_problems} problems, {result.trials} trials",
            "",
            *rows,
            "",
            *image,
        ]
    )
    create_markdown_artifact(key="simulate-report", markdown=md, description=f"simulate {title}")
    return result.to_dict()
