"""End to end as operators run it: a real `prefect server start`, `chorus deploy`, a process worker,
a run triggered through the API as the UI does, and the result in a PostgreSQL cache."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import text

from storage.engine import make_engine
from tasks.backends.local_server import free_port
from tests.fixtures.helpers import replay_setup
from tests.fixtures.servers import wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[dict[str, str]]:
    home = Path(tempfile.mkdtemp(prefix="chorus-tests-prefect-server-"))
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_UI_ENABLED": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_for(up, timeout=120, every=0.5), "prefect server did not start"
        yield env
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        shutil.rmtree(home, ignore_errors=True)


def run(cmd: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.postgres
def test_deploy_trigger_and_worker_write_the_postgres_cache(
    prefect_server: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    cfg, dataset = replay_setup(tmp_path)
    env = {
        **prefect_server,
        "CHORUS_DATABASE_URL": postgres_url,
        "CHORUS_CONFIG": cfg,
        "CHORUS_HOME": str(tmp_path / "home"),
    }
    deployed = run([sys.executable, "-m", "chorus.cli", "deploy", "--name", "sample"], env)
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", "cpu", "--limit", "2"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def trigger(parameters: dict[str, object]) -> object:
        return await run_deployment("sample/sample", parameters=parameters, timeout=240, poll_interval=2)

    try:
        with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
            bad = {"dataset": dataset, "model": "qwen4b", "n": 0, "config": cfg}
            with pytest.raises(PrefectHTTPStatusError, match="Validation failed for field 'n'"):
                asyncio.run(trigger(bad))  # rejected by the parameter schema: no run is created
            flow_run = asyncio.run(trigger({"dataset": dataset, "model": "qwen4b", "n": 3, "config": cfg}))
            assert flow_run.state.is_completed(), flow_run.state
    finally:
        os.killpg(worker.pid, 9)
        worker.wait()
    with make_engine(postgres_url).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM generations")).scalar_one() >= 90
        dupes = conn.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT 1 FROM generations GROUP BY model_fp, prompt_hash, "
                "params_hash, sample_index HAVING COUNT(*) > 1) d"
            )
        ).scalar_one()
        assert dupes == 0


def _deployments() -> list[tuple[str, str, str]]:
    """(flow name, deployment name, pool) of every deployment in prefect.yaml."""
    spec = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text())
    flow_names = {"sample_flow": "sample", "vote_flow": "vote", "simulate_flow": "simulate"}
    flow_names |= {"ensemble_flow": "ensemble", "fuse_flow": "fuse", "distill_flow": "distill"}
    flow_names |= {"pipeline_flow": "pipeline"}
    return [
        (flow_names[d["entrypoint"].rsplit(":", 1)[1]], d["name"], d["work_pool"]["name"]) for d in spec["deployments"]
    ]


def _worker(pool: str, env: dict[str, str], limit: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--limit", str(limit)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc: no psutil in the project)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _kill_with_flow_runs(worker: subprocess.Popen[bytes]) -> None:
    """The worker and the flow-run processes it started in their own sessions (with their model servers):
    a run the ensemble's event triggered (vote-ensemble) may still be going when the test ends."""
    below = _descendants(worker.pid)
    os.killpg(worker.pid, 9)
    for pid in below:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), 9)
    worker.wait()


@pytest.mark.llama
@pytest.mark.timeout(1500)
def test_every_deployment_completes_with_its_default_parameters(prefect_server: dict[str, str], tmp_path: Path) -> None:
    """As a click on "Run" in the UI: the yaml's parameters, no registry file, no CHORUS_CONFIG.

    Only `limit` (a few problems, so the embedded models finish in minutes) and distill's `out` (not into
    the checkout) are given; everything else is each deployment's default."""
    env = {**prefect_server, "CHORUS_HOME": str(tmp_path / "home")}
    env.pop("CHORUS_CONFIG", None)
    assert not (REPO / "chorus.toml").exists(), "a local chorus.toml would hide a missing-registry failure"
    deployed = run([sys.executable, "-m", "chorus.cli", "deploy"], env)
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    deployments = _deployments()
    assert len(deployments) >= 8
    workers = [_worker("cpu", env, 3), _worker("gpu", env, 2)]
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    def overrides(flow: str, name: str) -> dict[str, object]:
        extra: dict[str, object] = {} if flow == "simulate" else {"limit": 2}
        if flow == "distill":
            extra["out"] = str(tmp_path / "distill")
        return extra

    async def run_all() -> dict[str, object]:
        started = {
            name: await run_deployment(f"{flow}/{name}", parameters=overrides(flow, name), timeout=0)
            for flow, name, _pool in deployments
        }
        final: dict[str, object] = {}
        async with get_client() as client:
            for _ in range(900):
                for name, flow_run in started.items():
                    if name not in final:
                        state = (await client.read_flow_run(flow_run.id)).state
                        if state is not None and state.is_final():
                            final[name] = state
                if len(final) == len(started):
                    break
                await asyncio.sleep(2)
        return final

    try:
        with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
            final = asyncio.run(run_all())
    finally:
        for worker in workers:
            _kill_with_flow_runs(worker)
    not_done = {name: str(state) for name, state in final.items() if not state.is_completed()}  # type: ignore[attr-defined]
    assert not not_done, "\n".join(f"{name}: {state[:400]}" for name, state in not_done.items())
    assert sorted(final) == sorted(name for _, name, _ in deployments), "some runs never finished"
    assert (tmp_path / "distill" / "provenance.json").exists()
