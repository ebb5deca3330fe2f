from __future__ import annotations

from prefect.states import Completed, Failed

from storage.errors import BadRequestError, ChorusError, TransientError
from tasks.retry import is_transient


def test_only_transient_failures_are_retried() -> None:
    assert is_transient(None, None, Failed(data=TransientError("HTTP 503")))
    assert not is_transient(None, None, Failed(data=BadRequestError("HTTP 400")))
    assert not is_transient(None, None, Failed(data=ChorusError("bad dataset")))
    assert not is_transient(None, None, Failed(data=ValueError("bug")))
    assert not is_transient(None, None, Completed(data=1))
