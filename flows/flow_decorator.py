"""`@chorus_flow(name)`: Prefect's `@flow(name=..., log_prints=True)`, minus FastAPI on the way in, with
its body run under `flows/run_policy.py` (one sync Prefect client, fewer GC passes) wherever it runs.

Prefect records a flow run's parameters with FastAPI's `jsonable_encoder`, which imports FastAPI and
its OpenAPI models (~0.3 s of a 2-problem `chorus simulate`, more than the simulation). chorus flows
take JSON values only (strings, numbers, booleans, None, lists and string-keyed dicts of them), and for
those `jsonable_encoder` returns the value itself (a tuple as a list). So such values are recorded as
they are; anything else (a model object, a future) still goes through Prefect's own serialiser, so the
recorded parameters are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect.flows import Flow

from flows.run_policy import with_run_policy

P = ParamSpec("P")
R = TypeVar("R")

_SCALARS = (str, int, float, bool, type(None))


def json_value(value: Any) -> tuple[bool, Any]:
    """(True, the value as jsonable_encoder returns it) for plain JSON values; (False, None) otherwise.

    Exact types only: a str or int subclass (an enum) may encode differently, so it is not plain."""
    kind = type(value)
    if kind in _SCALARS:
        return True, value
    if kind is list or kind is tuple:
        items = [json_value(item) for item in value]
        if all(ok for ok, _ in items):
            return True, [encoded for _, encoded in items]
    # jsonable_encoder drops dict keys starting with "_sa" (SQLAlchemy state): not plain, so it decides.
    elif kind is dict and all(type(key) is str and not key.startswith("_sa") for key in value):
        pairs = {key: json_value(item) for key, item in value.items()}
        if all(ok for ok, _ in pairs.values()):
            return True, {key: encoded for key, (_, encoded) in pairs.items()}
    return False, None


class ChorusFlow(Flow[P, R]):
    def __init__(self, fn: Callable[P, R], **options: Any) -> None:
        super().__init__(fn=fn, **options)  # the version is the hash of fn's own file, so set before wrapping
        self.fn = with_run_policy(fn)

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        try:
            encoded = {key: json_value(value) for key, value in parameters.items()}
        except RecursionError:  # a value that contains itself: Prefect's serialiser records a placeholder
            return super().serialize_parameters(parameters)
        if all(ok for ok, _ in encoded.values()):
            return {key: value for key, (_, value) in encoded.items()}
        return super().serialize_parameters(parameters)


def chorus_flow(name: str) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """A Prefect flow named `name` that prints to its run's logs (as `@flow(name=..., log_prints=True)`)."""

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        return ChorusFlow(fn=fn, name=name, log_prints=True)

    return decorate
