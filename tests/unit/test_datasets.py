from __future__ import annotations

from pathlib import Path

import pytest

from storage.errors import ChorusError
from tasks.algorithms.datasets import chunked, load_dataset
from tests.conftest import EXAMPLES


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_set_loads_with_answers() -> None:
    problems = load_dataset(EXAMPLES / "arithmetic.jsonl")
    assert len(problems) == 100
    assert len({p.id for p in problems}) == 100
    assert len({p.question for p in problems}) == 100  # no repeats: a first run must not find "cached" samples
    assert all(p.answer is not None and p.answer.isdigit() for p in problems)


def test_prompt_is_accepted_for_question_and_limit_applies(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"id": 1, "prompt": "hi"}\n\n{"id": 2, "question": "yo", "answer": 3}\n')
    problems = load_dataset(path)
    assert [(p.id, p.question, p.answer) for p in problems] == [("1", "hi", None), ("2", "yo", "3")]
    assert [p.id for p in load_dataset(path, limit=1)] == ["1"]


def test_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,question,answer\na,What is 1+1?,2\nb,What is 2+2?,\n")
    problems = load_dataset(path)
    assert [(p.id, p.answer) for p in problems] == [("a", "2"), ("b", None)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": 1, "question": "a"}\n{"id": 2, "question": \n', "d.jsonl:2: not valid JSON"),
        ('{"id": 1, "question": "a"}\n{"id": 1, "question": "b"}\n', "d.jsonl:2: duplicate id '1' (first at line 1)"),
        ('{"id": 1, "question": "   "}\n', "d.jsonl:1: empty question"),
        ('{"question": "x"}\n', "d.jsonl:1: missing id"),
        ('{"id": 3}\n', "d.jsonl:1: missing question"),
        ("[1, 2]\n", "d.jsonl:1: expected an object"),
        ("\n\n", "no problems"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "d.jsonl", text)
    with pytest.raises(ChorusError) as info:
        load_dataset(path)
    assert message in str(info.value)


def test_csv_bad_row_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,question\na,q1\nb,\n")
    with pytest.raises(ChorusError, match=r"d\.csv:3: empty question|d\.csv:3: missing question"):
        load_dataset(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ChorusError, match="file not found"):
        load_dataset(tmp_path / "nope.jsonl")


def test_chunked_covers_everything_in_order(tmp_path: Path) -> None:
    problems = load_dataset(EXAMPLES / "arithmetic.jsonl")
    chunks = chunked(problems, 7)
    assert [len(c) for c in chunks] == [7] * 14 + [2]
    assert [p for c in chunks for p in c] == problems
