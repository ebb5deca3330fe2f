"""Retry policy for Prefect tasks: only transient failures (connection, timeout, 5xx) are retried."""

from __future__ import annotations

from typing import Any

from storage.errors import TransientError


def is_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """`retry_condition_fn`: True only when the task failed with a TransientError.

    Prefect hands the engine's exception over as the failed state's data. Calling `state.result()`
    here would be wrong for async tasks: there it returns an un-awaited coroutine and never raises.
    """
    return isinstance(getattr(state, "data", None), TransientError)
