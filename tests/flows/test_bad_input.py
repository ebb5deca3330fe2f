"""Every bad input of the table fails before Prefect starts: exit ≠ 0, one stderr line naming the option or
file:line, no traceback, nothing created. Run in-process (the CLI's own `main`, as `python -m chorus.cli`
does) with Prefect's flow call made to fail loudly, plus a sample as real subprocesses."""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SHARED_DATA
from tests.fixtures.helpers import assert_one_line_error, chorus
from tests.flows.bad_input_cases import CASES as ISSUE_AND_FILE_CASES
from tests.flows.bad_input_cases import make_bad_files
from tests.flows.bad_input_limits import LIMIT_CASES

CASES = ISSUE_AND_FILE_CASES + LIMIT_CASES


class FlowStarted(BaseException):
    """Raised if a case reaches a flow run: its check came too late (BaseException: main() cannot hide it)."""


def _fill(command: str, tmp: Path) -> list[str]:
    values = {
        "A": str(EXAMPLES / "arithmetic.jsonl"),
        "D": f"sqlite:///{tmp}/c.db",
        "T": str(tmp),
        "F": str(tmp / "afile"),
        "CFG": str(tmp / "chorus.toml"),
        "R1": str(SHARED_DATA / "analysis_aime2024_Qwen3-14B.jsonl"),
        "R2": str(SHARED_DATA / "analysis_aime2024_gpt-oss-20b.jsonl"),
        "M1": str(SHARED_DATA / "analysis_math500_Qwen3-14B.jsonl"),
        "M2": str(SHARED_DATA / "analysis_math500_gpt-oss-20b.jsonl"),
    }
    return shlex.split(command.format(**values))


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _prepare(tmp_path: Path, toml: str | None) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    make_bad_files(work)
    (work / "afile").write_text("not a folder\n")
    if toml is not None:
        (work / "chorus.toml").write_text(toml)
    return work


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _run_in_process(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Result:
    import prefect

    from chorus.cli import main

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise FlowStarted(f"a flow started for {args}: the bad input was not caught before Prefect")

    monkeypatch.setattr(prefect.Flow, "__call__", refuse)
    monkeypatch.setattr(sys, "argv", ["chorus", *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


@pytest.mark.parametrize(("command", "fragments", "toml"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_before_prefect(
    command: str,
    fragments: tuple[str, ...],
    toml: str | None,
    tmp_path: Path,
    chorus_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = _prepare(tmp_path, toml)
    monkeypatch.chdir(work)  # no ./chorus.toml is picked up unless the case names it
    before = _snapshot(work)
    args = _fill(command, work)
    result = _run_in_process(args, monkeypatch, capsys)
    assert_one_line_error(result, *fragments)  # type: ignore[arg-type]
    assert _snapshot(work) == before, "the command created or changed a file"
    assert not chorus_home.exists(), "the command created CHORUS_HOME"
    assert not Path("/nodir").exists() and not Path("/typo").exists()


def test_at_least_the_issue_cases_and_100_more() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert sum(i.startswith("issue-") for i in ids) >= 40 and len(ids) >= 140


SUBPROCESS_SAMPLE = [
    "issue-chunk-size",
    "issue-vote-answer-kind",
    "issue-weights-nan",
    "issue-registry-timeout-str",
    "issue-replay-latin1",
    "issue-distill-out-file",
    "data-bom-csv-noquestion",
    "usage-unknown-option",
]


@pytest.mark.parametrize("case_id", SUBPROCESS_SAMPLE)
def test_a_sample_as_real_processes(case_id: str, tmp_path: Path, chorus_home: Path) -> None:
    _, command, fragments, toml = next(c for c in CASES if c[0] == case_id)
    work = _prepare(tmp_path, toml)
    before = _snapshot(work)
    proc = subprocess.run(
        [sys.executable, "-m", "chorus.cli", *_fill(command, work)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert_one_line_error(proc, *fragments)
    assert _snapshot(work) == before and not chorus_home.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder, so there is no error to see")
def test_read_only_output_folders_fail_before_the_run(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    replay = str(SHARED_DATA / "analysis_aime2024_Qwen3-14B.jsonl")
    proc = chorus("simulate", "--replay", replay, "--json", str(locked / "out.json"))
    assert_one_line_error(proc, "--json", "permission denied")
    proc = chorus(
        "distill",
        "--prompts",
        str(EXAMPLES / "arithmetic.jsonl"),
        "--teacher",
        "smollm2",
        "--teacher",
        "gemma3",
        "--out",
        str(locked / "out"),
        "--db",
        f"sqlite:///{tmp_path / 'c.db'}",
    )
    assert_one_line_error(proc, "--out", "permission denied")
    assert list(locked.iterdir()) == [] and not (tmp_path / "c.db").exists()


def test_cache_stats_on_a_typo_creates_no_folder() -> None:
    proc = chorus("cache", "stats", "--db", "sqlite:////typo/deep/dir/cache.db")
    assert_one_line_error(proc, "--db", "no cache database")
    assert not Path("/typo").exists()


def test_another_applications_alembic_history_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('a1b2c3d4e5f6')")
    for args in (["cache", "stats"], ["db", "upgrade"]):
        proc = chorus(*args, "--db", f"sqlite:///{db}")
        assert_one_line_error(proc, "--db", "'a1b2c3d4e5f6'", "not chorus's")
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"alembic_version"}, "chorus created its tables in another application's database"


@pytest.mark.prefect
def test_partial_overlap_is_said_and_transfer_files_are_matched_by_name(tmp_path: Path) -> None:
    first, second = (
        SHARED_DATA / "analysis_aime2024_Qwen3-14B.jsonl",
        SHARED_DATA / "analysis_aime2024_gpt-oss-20b.jsonl",
    )
    partial = tmp_path / second.name
    partial.write_text("".join(second.read_text().splitlines(keepends=True)[:10]))
    sim = chorus(
        "simulate",
        "--replay",
        str(first),
        "--replay",
        str(partial),
        "--trials",
        "2",
        "--thresholds",
        "5",
        "--fixed",
        "1",
        "--json",
        "-",
    )
    assert sim.returncode == 0, sim.stderr
    assert "warning: --replay: only 10 of 30 problems are in every file" in sim.stderr
    result = json.loads(sim.stdout)
    assert (result["n_problems"], result["dropped_problems"]) == (10, 20)

    tests = [str(SHARED_DATA / f"analysis_math500_{m}.jsonl") for m in ("Qwen3-14B", "gpt-oss-20b")]
    transfers = []
    for order in (tests, tests[::-1]):  # the same files in either order: the same per-model numbers
        proc = chorus(
            "ensemble",
            "--replay",
            str(first),
            "--replay",
            str(second),
            *(a for t in order for a in ("--test", t)),
            "--trials",
            "0",
            "--db",
            f"sqlite:///{tmp_path / 'c.db'}",
            "--json",
        )
        assert proc.returncode == 0, proc.stderr
        transfers.append(json.loads(proc.stdout)["accuracy"]["transfer"])
    assert transfers[0] == transfers[1]
    assert transfers[0]["Qwen3-14B"] != transfers[0]["gpt-oss-20b"]  # else the order could not show
