"""Chunk tasks of one run share a client per model: opened by the first user, closed by the last."""

from __future__ import annotations

import asyncio

from tasks.backends.spec import ModelSpec
from tasks.services.session import shared_backend


def test_concurrent_users_share_one_client_closed_by_the_last() -> None:
    spec = ModelSpec("m", "openai", model="m", endpoints=("http://127.0.0.1:1",))
    other = ModelSpec("m", "openai", model="m", endpoints=("http://127.0.0.1:2",))

    async def scenario() -> None:
        async with shared_backend(spec) as a:
            async with shared_backend(spec) as b, shared_backend(other) as c:
                assert a is b and c is not a  # a different endpoint is a different client
            assert not a._client.is_closed  # type: ignore[attr-defined]  # the first user still holds it
            assert c._client.is_closed  # type: ignore[attr-defined]
        assert a._client.is_closed  # type: ignore[attr-defined]
        async with shared_backend(spec) as d:
            assert d is not a  # a later user opens a fresh one

    asyncio.run(scenario())
