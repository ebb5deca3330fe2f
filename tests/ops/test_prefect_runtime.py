"""The background Prefect server the CLI starts once and reuses, and where its state lives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chorus import prefect_runtime
from storage.errors import ChorusError
from tests.conftest import SHARED_DATA
from tests.fixtures.helpers import chorus

MATH500 = SHARED_DATA / "analysis_math500_gpt-oss-20b.jsonl"


def test_a_stale_record_is_not_a_running_server(chorus_home: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    chorus_home.mkdir(parents=True)
    prefect_runtime.state_path().write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid}))
    assert prefect_runtime.running_server() is None
    prefect_runtime.state_path().write_text("not json")
    assert prefect_runtime.running_server() is None


def test_an_explicit_api_url_is_used_and_nothing_is_started(chorus_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_PREFECT", "auto")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert prefect_runtime.use_prefect(say=None) == "api"
    assert not prefect_runtime.state_path().exists()


def test_an_unknown_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_PREFECT", "sometimes")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(ChorusError, match="CHORUS_PREFECT=sometimes"):
        prefect_runtime.use_prefect(say=None)


def test_prefect_home_defaults_under_chorus_home(chorus_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    prefect_runtime.set_prefect_environment()
    assert os.environ["PREFECT_HOME"] == str(chorus_home / "prefect")


@pytest.fixture
def auto_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The CLI's default set-up in a fresh CHORUS_HOME; whatever server it starts is stopped after."""
    home = tmp_path / "home"
    env = {**os.environ, "CHORUS_HOME": str(home), "CHORUS_PREFECT": "auto"}
    for key in ("PREFECT_API_URL", "PREFECT_HOME", "PREFECT_RESULTS_LOCAL_STORAGE_PATH"):
        env.pop(key, None)
    try:
        yield env
    finally:
        chorus("server", "--stop", env={"CHORUS_HOME": str(home)})
        state = home / prefect_runtime.STATE_FILE
        assert not state.exists()


def _flow_runs(url: str) -> list[dict[str, object]]:
    resp = httpx.post(f"{url}/api/flow_runs/filter", json={"limit": 50}, timeout=10)
    resp.raise_for_status()
    return list(resp.json())


@pytest.mark.prefect
def test_commands_start_one_server_reuse_it_and_show_their_runs(auto_env: dict[str, str], tmp_path: Path) -> None:
    two = tmp_path / "two.jsonl"
    two.write_text("".join(MATH500.read_text().splitlines(keepends=True)[:2]))
    cmd = [sys.executable, "-m", "chorus.cli", "simulate", "--replay", str(two), "--trials", "10"]
    first = subprocess.run(cmd, env=auto_env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "starting Prefect" in first.stderr
    home = Path(auto_env["CHORUS_HOME"])
    state = json.loads((home / prefect_runtime.STATE_FILE).read_text())
    second = subprocess.run(cmd, env=auto_env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "starting Prefect" not in second.stderr  # reused, not started again
    assert json.loads((home / prefect_runtime.STATE_FILE).read_text()) == state
    runs = [r for r in _flow_runs(state["url"]) if r["state_type"] == "COMPLETED"]
    assert len(runs) == 2  # both commands are flow runs in that server's UI
    assert (home / "prefect" / "prefect.db").exists()  # Prefect's database under CHORUS_HOME, not ~/.prefect

    shown = chorus("server", env={"CHORUS_HOME": str(home), "CHORUS_PREFECT": "auto", "COLUMNS": "60"})
    assert shown.returncode == 0 and "starting Prefect" not in shown.stderr
    assert f"export PREFECT_API_URL={state['url']}/api" in shown.stdout  # one instruction, on one line
    assert "prefect config set" not in shown.stdout + shown.stderr

    stopped = chorus("server", "--stop", env={"CHORUS_HOME": str(home)})
    assert stopped.returncode == 0 and state["url"] in stopped.stdout
    assert not prefect_runtime.pid_alive(state["pid"])
    assert not (home / prefect_runtime.STATE_FILE).exists()
