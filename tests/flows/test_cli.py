"""`chorus` as a user runs it: a real process, real files, one-line errors, resumable after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.engine import make_engine
from tests.conftest import EXAMPLES
from tests.fixtures.helpers import assert_one_line_error, chorus, count, replay_setup
from tests.fixtures.servers import wait_for

ARITH = str(EXAMPLES / "arithmetic.jsonl")


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ('{"id": 1, "question": "ok"}\n{"id": 2, "question": "x"\n', ("bad.jsonl:2", "not valid JSON")),
        ('{"id": 1, "question": "ok"}\n{"id": 1, "question": "again"}\n', ("bad.jsonl:2", "duplicate id")),
        ('{"id": 1, "question": ""}\n', ("bad.jsonl:1", "empty question")),
    ],
)
def test_bad_dataset_fails_with_file_and_line_and_writes_nothing(
    tmp_path: Path, content: str, fragments: tuple[str, ...]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    db = tmp_path / "c.db"
    proc = chorus("sample", "--dataset", str(bad), "--db", f"sqlite:///{db}")
    assert_one_line_error(proc, *fragments)
    assert not db.exists()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--model", "gpt-9"], ("--model gpt-9", "unknown model")),
        (["--temperature", "-2"], ("--temperature -2", "must be ≥ 0")),
        (["--max-tokens", "0"], ("--max-tokens 0",)),
        (["-n", "0"], ("-n 0",)),
        (["--dataset", "missing.jsonl"], ("missing.jsonl", "file not found")),
    ],
)
def test_bad_parameters_are_one_line(tmp_path: Path, args: list[str], fragments: tuple[str, ...]) -> None:
    db = tmp_path / "c.db"
    base = ["sample", "--db", f"sqlite:///{db}"]
    if "--dataset" not in args:
        base += ["--dataset", ARITH]
    proc = chorus(*base, *args)
    assert_one_line_error(proc, *fragments)
    assert not db.exists()


def test_unreachable_endpoint_and_unwritable_db(tmp_path: Path) -> None:
    from tasks.backends.local_server import free_port

    cfg = tmp_path / "chorus.toml"
    cfg.write_text(
        f'[models.remote]\nbackend = "openai"\nendpoints = ["http://127.0.0.1:{free_port()}"]\nmodel = "m"\n'
    )
    db = tmp_path / "c.db"
    proc = chorus("sample", "--dataset", ARITH, "--model", "remote", "--config", str(cfg), "--db", f"sqlite:///{db}")
    assert_one_line_error(proc, "model remote", "cannot connect")
    assert count(db) <= 0

    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = chorus("sample", "--dataset", ARITH, "--db", f"sqlite:///{blocker}/c.db")
    assert_one_line_error(proc, "cannot create")


def test_json_summary_and_cache_stats(tmp_path: Path) -> None:
    cfg, dataset = replay_setup(tmp_path)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    proc = chorus("sample", "--dataset", dataset, "--model", "qwen4b", "-n", "3", "--config", cfg, "--db", db, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["problems"] == 30 and summary["requested"] == 90 and summary["generated"] == 90
    assert summary["cached"] == 0 and summary["wall_s"] > 0 and summary["completion_tokens"] > 0
    stats = json.loads(chorus("cache", "stats", "--db", db, "--json").stdout)
    assert stats["generations"] == 90 and stats["per_model"][0]["model"] == "qwen4b"


@pytest.mark.llama
def test_sigkill_mid_run_then_rerun_generates_exactly_the_missing(tmp_path: Path, llama_server: str) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(f'[models.smollm2]\nbackend = "llamacpp"\nmodel = "smollm2"\nendpoints = ["{llama_server}"]\n')
    db = tmp_path / "c.db"
    args = [
        "sample",
        "--dataset",
        ARITH,
        "--limit",
        "12",
        "-n",
        "3",
        "--max-tokens",
        "24",
        "--config",
        str(cfg),
        "--db",
        f"sqlite:///{db}",
        "--chunk-size",
        "2",
        "--json",
    ]
    # Killed twice, at different points (early, and a few chunks in), then run to the end.
    for at_least in (4, 16):
        proc = subprocess.Popen(
            [sys.executable, "-m", "chorus.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            assert wait_for(lambda n=at_least: count(db) >= n, timeout=240), f"fewer than {at_least} rows written"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.5)
    before = count(db)
    assert 16 <= before < 36, before
    with make_engine(f"sqlite:///{db}").connect() as conn:
        first_rows = [
            tuple(r)
            for r in conn.execute(text("SELECT prompt_hash, sample_index, text, seed FROM generations ORDER BY id"))
        ]
    rerun = chorus(*args)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["generated"] == 36 - before and summary["cached"] == before
    with make_engine(f"sqlite:///{db}").connect() as conn:
        dupes = conn.execute(
            text(
                "SELECT COUNT(*) FROM (SELECT prompt_hash, sample_index FROM generations "
                "GROUP BY model_fp, prompt_hash, params_hash, sample_index HAVING COUNT(*) > 1) d"
            )
        )
        assert dupes.scalar_one() == 0
    assert count(db) == 36
    # What was written before the kills is still there, unchanged: nothing is ever overwritten.
    query = "SELECT prompt_hash, sample_index, text, seed FROM generations ORDER BY id"
    with make_engine(f"sqlite:///{db}").connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(query))]
    assert rows[:before] == first_rows
