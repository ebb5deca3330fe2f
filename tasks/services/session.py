"""Open the generation cache and backend clients for a piece of work, and always close the clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from storage.cache import GenerationCache
from storage.engine import shared_engine
from tasks.backends.base import Backend
from tasks.backends.factory import create_backend
from tasks.backends.spec import ModelSpec

# (event loop, spec) -> (client, users): the chunk tasks of a run share one client per model, so a
# vote with every chunk in flight holds one connection pool per server, not one per chunk.
_shared: dict[tuple[int, str], tuple[Backend, int]] = {}


@asynccontextmanager
async def shared_backend(spec: ModelSpec) -> AsyncIterator[Backend]:
    """The client for `spec` on this event loop, opened by its first user and closed by its last."""
    key = (id(asyncio.get_running_loop()), repr(spec))
    backend, users = _shared.get(key) or (create_backend(spec), 0)
    _shared[key] = (backend, users + 1)
    try:
        yield backend
    finally:
        backend, users = _shared[key]
        if users > 1:
            _shared[key] = (backend, users - 1)
        else:
            del _shared[key]
            await backend.aclose()


@asynccontextmanager
async def open_backends(
    specs: Sequence[ModelSpec], db_url: str
) -> AsyncIterator[tuple[GenerationCache, list[Backend]]]:
    """The cache (engine shared per process) and a client per spec (shared by concurrent users)."""
    cache = GenerationCache(await asyncio.to_thread(shared_engine, db_url))
    async with AsyncExitStack() as stack:
        backends = [await stack.enter_async_context(shared_backend(spec)) for spec in specs]
        yield cache, backends


@asynccontextmanager
async def open_backend(spec: ModelSpec, db_url: str) -> AsyncIterator[tuple[GenerationCache, Backend]]:
    async with open_backends([spec], db_url) as (cache, backends):
        yield cache, backends[0]
