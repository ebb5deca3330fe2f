"""What `vote` shows while it works matches what it finally reports."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from chorus.progress_display import VoteProgress, VoteTally, format_duration
from flows.vote_flow import vote_flow
from tests.fixtures.helpers import assert_one_line_error, chorus, replay_setup


def test_tally_line_says_counts_mean_accuracy_and_eta() -> None:
    tally = VoteTally(total=10)
    t0 = tally.started + 60  # a minute of start-up before the first problem finished
    tally.add(1, 3, 1, now=t0)
    assert "ETA" not in tally.line(now=t0)  # one point gives no rate
    tally.add(1, 5, 0, now=t0 + 10)
    tally.add(1, 4, None, now=t0 + 20)  # no gold: counted, not graded
    line = tally.line(now=t0 + 20)
    assert line.startswith("3/10 problems, 12 samples, mean 4.00/problem, accuracy 50.0% of 2")
    assert "ETA 1 min 10 s" in line and "elapsed 1 min 20 s" in line  # 10 s a problem since the first, 7 to go
    assert "accuracy" not in VoteTally(total=1).line()
    assert format_duration(3725) == "1 h 02 min"


@pytest.mark.usefixtures("prefect_api")
def test_progress_totals_equal_the_summary_and_skip_the_baseline(tmp_path: Path) -> None:
    cfg, dataset = replay_setup(tmp_path)
    stream = io.StringIO()
    display = VoteProgress(Console(file=stream, width=200), total=30, quiet=False)
    kw = dict(dataset=dataset, models=["qwen4b"], threshold=10, max_samples=40, db=f"sqlite:///{tmp_path / 'c.db'}")
    with display:
        summary = asyncio.run(vote_flow(**kw, config=cfg, baseline=True))
    tally = display.tally
    assert tally.problems == summary["problems"] == 30  # the baseline's 30 re-votes are not counted again
    assert tally.samples / tally.problems == pytest.approx(summary["mean_samples"], abs=1e-3)
    assert tally.graded == summary["graded"] and tally.correct / tally.graded == pytest.approx(
        summary["accuracy"], abs=1e-4
    )
    assert stream.getvalue().strip().splitlines()[-1].startswith(f"vote: 30/30 problems, {tally.samples} samples")


@pytest.mark.prefect
def test_vote_command_prints_progress_when_not_on_a_terminal(tmp_path: Path) -> None:
    cfg, dataset = replay_setup(tmp_path)
    proc = chorus("vote", "--dataset", dataset, "--model", "qwen4b", "--config", cfg, "--limit", "6")
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stderr.splitlines() if x.startswith("vote: ")][-1]
    assert re.match(r"vote: 6/6 problems, \d+ samples, mean [\d.]+/problem, accuracy [\d.]+% of 6", line), line
    assert "['" not in proc.stdout and "{'" not in proc.stdout  # no Python reprs in the summary table
    bad = chorus("vote", "--dataset", dataset, "--model", "nope", "--config", cfg)
    assert_one_line_error(bad, "nope")
