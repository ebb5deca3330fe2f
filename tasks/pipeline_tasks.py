"""The report at the end of the `pipeline` flow."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact

from tasks.chorus_task import chorus_task


@chorus_task(name="report-pipeline")
def report_pipeline(
    dataset: str,
    models: list[str],
    sampled: list[dict[str, Any]],
    votes: list[dict[str, Any]],
    weights: dict[str, Any] | None,
) -> dict[str, Any]:
    lines = [
        f"# pipeline: {dataset}",
        "",
        "| model | samples generated | cached | vote accuracy | mean samples |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m, s, v in zip(models, sampled, votes, strict=True):
        lines.append(f"| {m} | {s['generated']} | {s['cached']} | {v['accuracy']} | {v['mean_samples']} |")
    if weights:
        lines += [
            "",
            f"Ensemble **{weights['name']}**: " + ", ".join(f"{m} {w:.3f}" for m, w in weights["weights"].items()),
            "",
            f"accuracy in sample: {weights['accuracy'].get('in_sample', {}).get('ensemble')}",
        ]
    create_markdown_artifact(key="pipeline-report", markdown="\n".join(lines), description=f"pipeline {dataset}")
    return {"dataset": dataset, "models": models, "sample": sampled, "vote": votes, "ensemble": weights}
