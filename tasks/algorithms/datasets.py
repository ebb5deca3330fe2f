"""Datasets: JSONL or CSV with `id`, `question` (or `prompt`) and an optional `answer`.

Pure: validates everything before anything runs, and names file:line for the first problem found.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from storage.errors import ChorusError
from tasks.algorithms.text_files import read_utf8


@dataclass(frozen=True)
class Problem:
    """One item to sample. `messages`, when set, is the exact chat prompt (e.g. a fusion or judge
    prompt built from other generations); otherwise the model's registry entry builds the prompt
    from `question`."""

    id: str
    question: str
    answer: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None


def _problem(row: object, where: str) -> Problem:
    if not isinstance(row, dict):
        raise ChorusError(f"{where}: expected an object with id and question")
    if "id" not in row or row["id"] in (None, ""):
        raise ChorusError(f"{where}: missing id")
    question = row.get("question", row.get("prompt"))
    if not isinstance(question, str):
        raise ChorusError(f"{where}: missing question (or prompt) text")
    if not question.strip():
        raise ChorusError(f"{where}: empty question")
    answer = row.get("answer")
    return Problem(str(row["id"]), question, None if answer in (None, "") else str(answer))


def _rows(path: Path, text: str) -> list[tuple[int, object]]:
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        # DictReader numbers data rows from 2: the header is line 1.
        return [(reader.line_num, row) for row in reader]
    rows: list[tuple[int, object]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ChorusError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return rows


def load_dataset(path: str | Path, limit: int | None = None) -> list[Problem]:
    """All problems of a dataset file, or ChorusError with file:line of the first bad one."""
    path = Path(path)
    text = read_utf8(path, f"--dataset {path}")
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for lineno, row in _rows(path, text):
        where = f"{path}:{lineno}"
        problem = _problem(row, where)
        if problem.id in seen:
            raise ChorusError(f"{where}: duplicate id {problem.id!r} (first at line {seen[problem.id]})")
        seen[problem.id] = lineno
        problems.append(problem)
    if not problems:
        raise ChorusError(f"--dataset {path}: no problems")
    if limit is not None:
        if limit < 1:
            raise ChorusError(f"--limit {limit}: must be at least 1")
        problems = problems[:limit]
    return problems


def chunked(items: list[Problem], size: int) -> list[list[Problem]]:
    if size < 1:
        raise ChorusError(f"--chunk-size {size}: must be at least 1")
    return [items[i : i + size] for i in range(0, len(items), size)]
