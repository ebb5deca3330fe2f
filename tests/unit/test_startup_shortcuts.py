"""What a command skips to start fast gives what Prefect's own way gives.

Recorded flow parameters without FastAPI, the heartbeat-free settings copy, and the background server's
URL read before prefect is imported (chorus/prefect_runtime.py, flows/flow_decorator.py).
"""

from __future__ import annotations

import enum
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.encoders import jsonable_encoder

from chorus import prefect_runtime
from flows.flow_decorator import ChorusFlow, chorus_flow, json_value
from tests.fixtures.helpers import packages_imported_by


class Colour(enum.Enum):
    RED = "red"


PLAIN = [
    None,
    True,
    0,
    -3,
    2.5,
    float("inf"),
    "",
    "a=b.jsonl",
    [],
    [1, 2.0, "x", None, [True]],
    (1, ("a", 2)),
    {"a": [1, {"b": None}], "c": (3,)},
]
NOT_PLAIN = [Colour.RED, Path("/tmp/x"), {1: "int key"}, {"_sa_state": 1}, [Colour.RED], {3, 4}, b"bytes"]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_values_encode_as_fastapi_encodes_them(value: object) -> None:
    plain, encoded = json_value(value)
    assert plain
    assert json.dumps(encoded) == json.dumps(jsonable_encoder(value))


@pytest.mark.parametrize("value", NOT_PLAIN, ids=repr)
def test_anything_else_is_left_to_prefect(value: object) -> None:
    assert json_value(value) == (False, None)


def _two(a: object = None, b: object = None) -> None:
    return None


def test_recorded_parameters_equal_prefects_own() -> None:
    ours = chorus_flow("two")(_two)
    assert isinstance(ours, ChorusFlow)
    prefects = ChorusFlow.__mro__[1](fn=_two, name="two")  # prefect.flows.Flow itself
    loop: list[object] = []
    loop.append(loop)
    for a, b in [(1, [2.0, "x"]), ({"k": (1, 2)}, None), (Colour.RED, Path("/p")), ("plain", Colour.RED), (loop, 1)]:
        params = {"a": a, "b": b}
        assert ours.serialize_parameters(params) == prefects.serialize_parameters(params)


def test_a_flow_records_plain_parameters_without_importing_fastapi() -> None:
    code = (
        "from flows.simulate_flow import simulate_flow\n"
        "recorded = simulate_flow.serialize_parameters({'replay': ['a.jsonl'], 'weights': None, 'trials': 3})\n"
        "assert recorded == {'replay': ['a.jsonl'], 'weights': None, 'trials': 3}, recorded\n"
    )
    assert packages_imported_by(code, {"fastapi"}) == []


def test_the_heartbeat_free_settings_equal_prefects_temporary_settings() -> None:
    from prefect.settings import get_current_settings, temporary_settings

    before = get_current_settings().model_dump()
    with temporary_settings(updates={"flows.heartbeat_frequency": None}) as validated:
        expected = validated.model_dump()
    with prefect_runtime.without_flow_heartbeat():
        assert get_current_settings().model_dump() == expected
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().model_dump() == before


@pytest.fixture
def no_api_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """PREFECT_API_URL unset now and removed again after the test, whoever sets it meanwhile."""
    monkeypatch.setenv("PREFECT_API_URL", "")
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setattr(prefect_runtime, "_adopted_api_url", None)


def _record(home: Path, pid: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    prefect_runtime.state_path().write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": pid}))


@pytest.mark.usefixtures("no_api_url")
def test_a_live_recorded_server_is_adopted_before_prefect_is_imported(
    chorus_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHORUS_PREFECT", "auto")
    _record(chorus_home, os.getpid())
    prefect_runtime.adopt_recorded_server()
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:9/api"
    # Adopted, not chosen by the user: use_prefect still checks that it answers (port 9 does not).
    monkeypatch.setattr(prefect_runtime, "running_server", lambda: None)
    started = prefect_runtime.ServerState(url="http://127.0.0.1:4999", pid=os.getpid())
    monkeypatch.setattr(prefect_runtime, "start_server", lambda say=None: started)
    assert prefect_runtime.use_prefect(say=None) == "background"
    assert os.environ["PREFECT_API_URL"] == started.api_url


@pytest.mark.usefixtures("no_api_url")
@pytest.mark.parametrize("case", ["dead pid", "user's url", "ephemeral"])
def test_nothing_is_adopted_otherwise(chorus_home: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    monkeypatch.setenv("CHORUS_PREFECT", "ephemeral" if case == "ephemeral" else "auto")
    if case == "user's url":
        monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:8/api")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _record(chorus_home, dead.pid if case == "dead pid" else os.getpid())
    prefect_runtime.adopt_recorded_server()
    assert os.environ.get("PREFECT_API_URL") == ("http://127.0.0.1:8/api" if case == "user's url" else None)
