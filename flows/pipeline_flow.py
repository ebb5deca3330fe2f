"""The `pipeline` flow: sample → vote → ensemble weights → report, each stage a subflow run.

Each stage is restartable on its own: every generation is in the cache, so a retried or re-triggered
pipeline regenerates nothing that an earlier stage made.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from flows.ensemble_flow import ensemble_flow
from flows.flow_decorator import chorus_flow
from flows.parameters import ConfigPath, DatasetPath, DbUrl, Limit, MaxSamples, RuleName, Samples, Threshold
from flows.sample_flow import sample_flow
from flows.vote_flow import vote_flow
from tasks.pipeline_tasks import report_pipeline


@chorus_flow("pipeline")
async def pipeline_flow(
    dataset: DatasetPath,
    models: Annotated[list[str], Field(min_length=1, description="Registry models")] = ["smollm2"],  # noqa: B006
    n: Samples = 4,
    rule: RuleName = "bayes",
    threshold: Threshold = None,
    max_samples: MaxSamples = 16,
    ensemble_name: Annotated[str, Field(min_length=1, description="Name for the learned weights")] = "pipeline",
    db: DbUrl = None,
    config: ConfigPath = None,
    limit: Limit = None,
) -> dict[str, object]:
    """Warm the cache, vote adaptively per model, learn ensemble weights (two or more models), report."""
    sampled = [await sample_flow(dataset=dataset, model=m, n=n, db=db, config=config, limit=limit) for m in models]
    votes = [
        await vote_flow(
            dataset=dataset,
            models=[m],
            rule=rule,
            threshold=threshold,
            max_samples=max_samples,
            db=db,
            config=config,
            limit=limit,
        )
        for m in models
    ]
    weights = None
    if len(models) > 1:
        weights = await ensemble_flow(
            name=ensemble_name, dataset=dataset, models=models, samples=n, trials=0, db=db, config=config, limit=limit
        )
    return report_pipeline(dataset, models, sampled, votes, weights)
