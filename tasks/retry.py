"""Retry policy for Prefect tasks: only transient failures (connection, timeout, 5xx) are retried."""

from __future__ import annotations

from typing import Any

from chorus.errors import TransientError


def is_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """`retry_condition_fn`: True only when the task failed with a TransientError."""
    try:
        state.result()
    except TransientError:
        return True
    except BaseException:
        return False
    return False
