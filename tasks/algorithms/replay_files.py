"""Recorded answers of real models (the Best-of-∞ authors' `analysis_*.jsonl` format).

Pure: reads JSON lines, imports neither prefect, sqlalchemy nor httpx.
Each line: {"problem_num", "gold_answer", "all_answers": [[answer, completion_tokens], ...], ...}.
An answer that is JSON null or blank is "no answer" and is stored as "" (never the string "None").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from storage.errors import ChorusError
from tasks.algorithms.text_files import read_utf8


@dataclass(frozen=True)
class ReplayProblem:
    """One problem's recorded generations: answers in generation order, with token counts."""

    problem_id: str
    answers: tuple[str, ...]
    tokens: tuple[int, ...]
    gold: str | None


def _answer_text(answer: object) -> str:
    """A recorded answer as the string voted on: null (the recorder found none) and blanks become ""."""
    if answer is None:
        return ""
    text = str(answer)
    return text if text.strip() else ""


def load_replay(path: str | Path) -> list[ReplayProblem]:
    """Read a replay file; a malformed line raises ChorusError naming file:line."""
    path = Path(path)
    lines = read_utf8(path, f"{path}: replay file").splitlines()
    problems: list[ReplayProblem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
            pid = str(row["problem_num"])
            pairs = row["all_answers"]
            answers = tuple(_answer_text(a) for a, _ in pairs)
            tokens = tuple(int(t) for _, t in pairs)
        except (ValueError, KeyError, TypeError) as exc:
            raise ChorusError(f"{where}: not a replay record ({type(exc).__name__}: {exc})") from None
        if any(t < 0 for t in tokens):
            raise ChorusError(f"{where}: problem {pid} has a negative token count")
        if pid in seen:
            raise ChorusError(f"{where}: duplicate problem_num {pid}")
        if not answers:
            raise ChorusError(f"{where}: problem {pid} has no recorded answers")
        seen.add(pid)
        gold = row.get("gold_answer")
        problems.append(ReplayProblem(pid, answers, tokens, None if gold is None else str(gold)))
    if not problems:
        raise ChorusError(f"{path}: replay file has no problems")
    return problems
