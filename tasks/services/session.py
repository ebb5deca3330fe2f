"""Open the generation cache and backend clients for a piece of work, and always close the clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from storage.cache import GenerationCache
from storage.engine import shared_engine
from tasks.backends.base import Backend
from tasks.backends.factory import create_backend
from tasks.backends.spec import ModelSpec


@asynccontextmanager
async def open_backends(
    specs: Sequence[ModelSpec], db_url: str
) -> AsyncIterator[tuple[GenerationCache, list[Backend]]]:
    """The cache (engine shared per process) and one client per spec, closed on the way out."""
    cache = GenerationCache(await asyncio.to_thread(shared_engine, db_url))
    backends = [create_backend(spec) for spec in specs]
    try:
        yield cache, backends
    finally:
        for backend in backends:
            await backend.aclose()


@asynccontextmanager
async def open_backend(spec: ModelSpec, db_url: str) -> AsyncIterator[tuple[GenerationCache, Backend]]:
    async with open_backends([spec], db_url) as (cache, backends):
        yield cache, backends[0]
