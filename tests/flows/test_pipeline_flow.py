"""The `pipeline` flow: sample → vote → ensemble weights → report, as the nightly deployment runs it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flows.pipeline_flow import pipeline_flow
from storage.engine import open_engine
from storage.ensembles import load_ensemble
from tests.fixtures.helpers import replay_setup
from tests.flows.test_vote_flow import QWEN30

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_pipeline_chains_the_stages_through_one_cache(tmp_path: Path) -> None:
    cfg, dataset = replay_setup(tmp_path)
    Path(cfg).write_text(Path(cfg).read_text() + f'[models.qwen30b]\nbackend = "replay"\npath = "{QWEN30}"\n')
    db = f"sqlite:///{tmp_path / 'c.db'}"
    kw = dict(
        dataset=dataset, models=["qwen4b", "qwen30b"], n=4, max_samples=8, ensemble_name="nightly", db=db, config=cfg
    )
    out = asyncio.run(pipeline_flow(**kw))
    assert [s["generated"] for s in out["sample"]] == [120, 120]
    # vote and ensemble reuse the samples the first stage made: samples 0-3 were cached.
    assert all(v["cached"] > 0 for v in out["vote"])
    assert out["ensemble"]["models"] == ["qwen30b", "qwen4b"]  # name order: the order given changes nothing
    saved = load_ensemble(open_engine(db), "nightly")
    assert saved.weights == pytest.approx(list(out["ensemble"]["weights"].values()), abs=1e-6)
    again = asyncio.run(pipeline_flow(**kw))
    assert [s["generated"] for s in again["sample"]] == [0, 0]
    assert all(v["generated"] == 0 for v in again["vote"])
