"""`@chorus_task(...)`: Prefect's `@task(...)` without Prefect's result cache.

chorus keeps its own cache of generations (storage/), and no task's result is persisted or looked up
by Prefect; yet Prefect's default cache policy hashes every input of every task run (a chunk's
problems, serialised) and the task's source, for a key nobody reads. NO_CACHE skips that.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE


def chorus_task(**options: Any) -> Any:
    """`@task(**options)` with `cache_policy=NO_CACHE`."""
    return task(cache_policy=NO_CACHE, **options)
