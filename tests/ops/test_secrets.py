"""Secrets through a whole `chorus` run: a database password never reaches Prefect's flow-run parameters,
an API key that a server echoes back never reaches stderr, Prefect's logs, states or stored results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.engine import make_engine
from tests.fixtures.canned_server import ECHO_AUTH, CannedServer
from tests.fixtures.helpers import chorus, replay_setup

READ_PARAMETERS = """
import asyncio, json
from prefect.client.orchestration import get_client

async def main():
    async with get_client() as client:
        runs = await client.read_flow_runs()
        print(json.dumps([r.parameters for r in runs], default=str))

asyncio.run(main())
"""


def files_containing(root: Path, secret: str) -> list[str]:
    """Every file under `root` whose bytes contain `secret` (databases, pickled results, logs)."""
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and secret.encode() in path.read_bytes():
            hits.append(str(path.relative_to(root)))
    return hits


def prefect_env(home: Path) -> dict[str, str]:
    """A Prefect home of this test's own, so that everything Prefect stores can be searched."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(home / "storage"),
    }


@pytest.mark.postgres
def test_a_database_password_is_not_stored_in_flow_run_parameters(tmp_path: Path, postgres_url: str) -> None:
    password = "Pw-0f-the-cache-db-4821"
    scheme, _, rest = postgres_url.partition("://")
    user, _, host = rest.partition("@")
    db = f"{scheme}://{user}:{password}@{host}"  # the test server trusts any password
    with make_engine(postgres_url).begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    cfg, dataset = replay_setup(tmp_path)
    env = prefect_env(tmp_path / "prefect-home")
    args = ["sample", "--dataset", dataset, "--model", "qwen4b", "-n", "2", "--limit", "3", "--config", cfg]
    proc = chorus(*args, "--db", db, "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["generated"] == 6  # it really used the database
    read = subprocess.run(
        [sys.executable, "-c", READ_PARAMETERS], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )
    assert read.returncode == 0, read.stderr[-2000:]
    parameters = json.loads(read.stdout)
    assert parameters and parameters[0]["db"] == f"{scheme}://{user}:***@{host}"
    assert password not in read.stdout
    assert files_containing(tmp_path / "prefect-home", password) == []
    assert password not in proc.stdout + proc.stderr


def test_an_api_key_echoed_by_the_server_is_redacted_everywhere(tmp_path: Path) -> None:
    key = "sk-live-echo-me-7QpR2x9"
    echo = json.dumps({"error": {"message": f"invalid credentials: {ECHO_AUTH}"}})
    models = json.dumps({"object": "list", "data": [{"id": "m"}]})
    with CannedServer([(401, echo)], get_reply=(200, models)) as server:
        cfg = tmp_path / "chorus.toml"
        cfg.write_text(
            f'[models.remote]\nbackend = "openai"\nendpoints = ["{server.url}/v1"]\nmodel = "m"\n'
            'api_key_env = "ECHO_TEST_KEY"\n'
        )
        dataset = tmp_path / "d.jsonl"
        dataset.write_text('{"id": "1", "question": "2+2?", "answer": "4"}\n')
        home = tmp_path / "prefect-home"
        env = {**prefect_env(home), "ECHO_TEST_KEY": key, "CHORUS_VERBOSE": "1"}
        proc = chorus(
            "sample", "--dataset", str(dataset), "--model", "remote", "-n", "1", "--config", str(cfg), env=env
        )
        assert server.requests >= 1  # the server was asked, and echoed the key back
    assert proc.returncode != 0
    assert "***" in proc.stderr and "HTTP 401" in proc.stderr, proc.stderr[-2000:]
    assert key not in proc.stdout + proc.stderr
    assert files_containing(home, key) == []  # Prefect's database (logs, states) and stored results
