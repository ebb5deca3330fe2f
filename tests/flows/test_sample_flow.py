"""The `sample` flow under an isolated Prefect API: replay at scale, and the real embedded model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from flows.sample_flow import sample_flow
from storage.engine import make_engine
from tests.fixtures.helpers import replay_setup

pytestmark = pytest.mark.usefixtures("prefect_api")


def rows(db: str) -> list[tuple]:
    with make_engine(db).connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT prompt_hash, sample_index, text, seed FROM generations ORDER BY prompt_hash, sample_index")
            )
        ]


def test_replay_flow_generates_once_then_serves_from_cache(tmp_path: Path) -> None:
    cfg, dataset = replay_setup(tmp_path)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    first = asyncio.run(sample_flow(dataset=dataset, model="qwen4b", n=6, db=db, config=cfg, chunk_size=4))
    assert first["problems"] == 30 and first["requested"] == 180
    assert (first["generated"], first["cached"]) == (180, 0)
    assert first["completion_tokens"] > 0
    before = rows(db)
    assert len(before) == 180 and len({(h, i) for h, i, *_ in before}) == 180

    again = asyncio.run(sample_flow(dataset=dataset, model="qwen4b", n=6, db=db, config=cfg, chunk_size=7))
    assert (again["generated"], again["cached"]) == (0, 180)
    assert rows(db) == before  # same samples, same seeds

    more = asyncio.run(sample_flow(dataset=dataset, model="qwen4b", n=8, db=db, config=cfg))
    assert (more["generated"], more["cached"]) == (60, 180)  # only indices 6 and 7 were missing
    assert len(rows(db)) == 240


@pytest.mark.llama
def test_embedded_model_flow(tmp_path: Path, llama_server: str) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(
        f'[models.smollm2]\nbackend = "llamacpp"\nmodel = "smollm2"\nendpoints = ["{llama_server}"]\n'
        "max_concurrency = 2\n"
    )
    db = f"sqlite:///{tmp_path / 'c.db'}"
    from tests.conftest import EXAMPLES

    kwargs = dict(
        dataset=str(EXAMPLES / "arithmetic.jsonl"), model="smollm2", n=2, max_tokens=12, db=db, config=str(cfg), limit=3
    )
    first = asyncio.run(sample_flow(**kwargs))
    assert (first["generated"], first["cached"], first["problems"]) == (6, 0, 3)
    texts = rows(db)
    assert all(t for _, _, t, _ in texts)
    again = asyncio.run(sample_flow(**kwargs))
    assert (again["generated"], again["cached"]) == (0, 6)
    assert rows(db) == texts
