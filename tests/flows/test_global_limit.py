"""Generation requests take slots of the Prefect global concurrency limit named in the registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flows.sample_flow import sample_flow
from tests.fixtures.helpers import replay_setup

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_generation_takes_global_limit_slots(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    cfg, dataset = replay_setup(tmp_path)
    Path(cfg).write_text(Path(cfg).read_text() + 'global_limit = "replay-slots"\n')
    kw = dict(dataset=dataset, model="qwen4b", n=2, config=cfg, limit=4)
    # The limit does not exist yet: the slot request is strict, so the run fails instead of running unbounded.
    with pytest.raises(Exception, match="replay-slots"):
        asyncio.run(sample_flow(**kw, db=f"sqlite:///{tmp_path / 'a.db'}"))

    async def create() -> None:
        async with get_client() as client:
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="replay-slots", limit=2))

    asyncio.run(create())
    summary = asyncio.run(sample_flow(**kw, db=f"sqlite:///{tmp_path / 'b.db'}"))
    assert summary["generated"] == 8
