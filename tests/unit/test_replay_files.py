"""Reading recorded-answer files (tasks/algorithms/replay_files.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage.errors import ChorusError
from tasks.algorithms.replay_files import load_replay
from tasks.algorithms.simulation import simulate


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_null_and_blank_answers_are_no_answer(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "r.jsonl",
        [{"problem_num": 1, "gold_answer": "7", "all_answers": [[None, 10], ["  ", 11], ["7", 12], [7, 13]]}],
    )
    (problem,) = load_replay(path)
    assert problem.answers == ("", "", "7", "7")
    assert problem.tokens == (10, 11, 12, 13)
    assert "None" not in problem.answers


def test_null_answers_do_not_outvote_the_real_answer(tmp_path: Path) -> None:
    # three nulls and two "7": were null the vote "None", it would be the plurality and Bo∞ would be 0
    rows = [{"problem_num": i, "gold_answer": "7", "all_answers": [[None, 5]] * 3 + [["7", 5]] * 2} for i in range(4)]
    problems = load_replay(_write(tmp_path / "r.jsonl", rows))
    result = simulate(problems, rule="bayes", thresholds=[], fixed=[5], trials=20, max_samples=5, seed=0)
    assert result.bo_inf_accuracy == 1.0
    # majority of 5 draws is "7" whenever one of them is "7" (the nulls are no votes)
    assert result.fixed[0].accuracy == pytest.approx(1 - 0.6**5, abs=0.12)


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"problem_num": 1, "gold_answer": "1", "all_answers": [["1", 2]]}\n{"problem_num": 2}\n')
    with pytest.raises(ChorusError, match=r"r\.jsonl:2"):
        load_replay(path)
