"""Test isolation: every session gets its own Prefect home and every test its own CHORUS_HOME.

Prefect reads its settings at import, so they are set here, before anything imports prefect.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_session_dir = Path(tempfile.mkdtemp(prefix="chorus-tests-"))
os.environ["PREFECT_HOME"] = str(_session_dir / "prefect")
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(_session_dir / "prefect" / "results")
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
# The CLI's default is a background Prefect server that outlives the command; in tests it would outlive
# the test. Tests that exercise it set CHORUS_PREFECT=auto themselves and stop the server they start.
os.environ["CHORUS_PREFECT"] = "ephemeral"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("CHORUS_DATABASE_URL", None)
os.environ.pop("CHORUS_CONFIG", None)

import shutil  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _recorded_answers() -> Path:
    """The authors' recorded answers as plain JSONL: ../shared when this checkout has it, else the copies
    shipped inside the package (tasks/algorithms/data/boinf, gzip), unpacked once per session."""
    shared = REPO.parent / "shared" / "data" / "boinf"
    if shared.is_dir():
        return shared
    import gzip

    out = _session_dir / "boinf"
    out.mkdir(parents=True, exist_ok=True)
    for packed in sorted((REPO / "tasks" / "algorithms" / "data" / "boinf").glob("*.jsonl.gz")):
        (out / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    return out


SHARED_DATA = _recorded_answers()
EXAMPLES = REPO / "examples"


@pytest.fixture(autouse=True)
def chorus_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory (and so a fresh SQLite cache) for every test."""
    home = tmp_path / "chorus-home"
    monkeypatch.setenv("CHORUS_HOME", str(home))
    monkeypatch.delenv("CHORUS_DATABASE_URL", raising=False)
    return home


@pytest.fixture(scope="session")
def prefect_api():
    """One isolated Prefect API (ephemeral server under the session's PREFECT_HOME)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The session's Prefect home (its database, results) goes with the session."""
    shutil.rmtree(_session_dir, ignore_errors=True)


pytest_plugins = ["tests.fixtures.servers"]
