"""Which recorded problem a prompt names, and the recorded generation a seed draws for it.

A stand-in has no model, so the prompt must say which recorded problem it is about: every prompt
carries the marker `replay problem NAME/NUM`, where NAME is the replay file's stem without the
`analysis_` prefix and NUM its `problem_num` (`math500_gpt-oss-20b/17`). `chorus serve-replay
--write-dataset OUT.jsonl` writes a dataset whose questions carry exactly these markers; any prompt
template around the question keeps it. Pure: no HTTP, no Prefect.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from storage.errors import ChorusError
from tasks.algorithms.replay_files import ReplayProblem, load_replay

MARKER = re.compile(r"replay problem ([A-Za-z0-9_.+\-]+/\d+)", re.IGNORECASE)


class UnknownPrompt(ValueError):
    """The prompt names no recorded problem this stand-in serves (an HTTP 400, never a made-up answer)."""


@dataclass(frozen=True)
class Draw:
    """One recorded generation: its answer ("" = nothing extractable) and completion-token count."""

    answer: str
    tokens: int

    def text(self, max_new_tokens: int | None) -> tuple[str, int, bool]:
        """The completion text, its token count and whether max_new_tokens cut it short (no answer then)."""
        if max_new_tokens is not None and self.tokens > max_new_tokens:
            return "The reasoning was cut off before a final answer.", max_new_tokens, True
        if not self.answer:
            return "The reasoning ended without a final answer.", self.tokens, False
        return f"Recorded reasoning. The final answer is \\boxed{{{self.answer}}}", self.tokens, False


def file_label(path: Path) -> str:
    stem = path.stem
    return stem[len("analysis_") :] if stem.startswith("analysis_") else stem


def question_text(key: str) -> str:
    return f"Replay problem {key}. Solve it and put the final answer in \\boxed{{}}."


class ReplayCatalog:
    """The recorded problems of one or more replay files, by `NAME/NUM` key."""

    def __init__(self, problems: dict[str, ReplayProblem]) -> None:
        self.problems = problems

    @classmethod
    def from_files(cls, paths: list[Path]) -> ReplayCatalog:
        """Load every file; an unreadable or malformed file raises ChorusError naming it (file:line)."""
        if not paths:
            raise ChorusError("--replay: give at least one recorded-answer file")
        problems: dict[str, ReplayProblem] = {}
        labels: dict[str, Path] = {}
        for path in paths:
            label = file_label(path)
            if label in labels:
                raise ChorusError(f"--replay {path}: same name {label!r} as {labels[label]}")
            labels[label] = path
            for p in load_replay(path):
                problems[f"{label}/{p.problem_id}"] = p
        return cls(problems)

    def find(self, prompt: str) -> tuple[str, ReplayProblem]:
        """The problem the prompt names (its last marker, so a template's own text cannot shadow it)."""
        keys = MARKER.findall(prompt)
        if not keys:
            raise UnknownPrompt(
                "the prompt names no recorded problem: it must contain 'replay problem NAME/NUM' "
                "(write such a dataset with `chorus serve-replay --replay F --write-dataset OUT.jsonl`)"
            )
        key = keys[-1]
        if key not in self.problems:
            raise UnknownPrompt(f"no recorded problem {key!r} in the replay files this server was started with")
        return key, self.problems[key]

    @staticmethod
    def draw(problem: ReplayProblem, seed: int, index: int) -> Draw:
        """Generation `index` of a request seeded `seed`: a recorded answer drawn with replacement."""
        digest = hashlib.sha256(f"{seed}|{index}".encode()).digest()
        i = int.from_bytes(digest[:8], "big") % len(problem.answers)
        return Draw(problem.answers[i], problem.tokens[i])

    def dataset_rows(self) -> list[dict[str, str | None]]:
        return [{"id": k, "question": question_text(k), "answer": p.gold} for k, p in self.problems.items()]

    def write_dataset(self, out: Path) -> int:
        rows = self.dataset_rows()
        try:
            out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        except OSError as exc:
            raise ChorusError(f"--write-dataset {out}: cannot write ({exc.strerror})") from None
        return len(rows)
