"""Parsers for option values shared by the CLI, the flows and the serving endpoint (one place each)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from storage.errors import ChorusError
from tasks.algorithms.answers import canonicalize


def _raw_key(answer: str) -> str | None:
    return answer if answer.strip() else None


def _canonical_key(answer: str) -> str | None:
    return canonicalize(answer) if answer.strip() else None


# How a recorded answer string becomes a vote: as written (the paper) or with equivalent forms merged.
# A blank answer is no vote under either.
ANSWER_KEYS: dict[str, Callable[[str], str | None]] = {"raw": _raw_key, "canonical": _canonical_key}


def parse_floats(text: str | None, flag: str) -> list[float] | None:
    """`1,2.5,3` → [1.0, 2.5, 3.0]; None stays None. Every item must be a finite number."""
    if text is None:
        return None
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise ChorusError(f"{flag} {text}: expected comma-separated numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise ChorusError(f"{flag} {text}: every value must be a finite number")
    return values


def parse_ints(text: str | None, flag: str) -> list[int] | None:
    """`1,3,5` → [1, 3, 5]; None stays None. `1.5` is an error, never rounded."""
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise ChorusError(f"{flag} {text}: expected comma-separated whole numbers") from None


def parse_weighted(models: list[str]) -> list[tuple[str, float]]:
    """`NAME` or `NAME=WEIGHT` → (name, weight); weights are normalised later."""
    out = []
    for item in models:
        name, sep, weight = item.partition("=")
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise ChorusError(f"--model {item}: weight must be a number") from None
        if not math.isfinite(w) or w < 0 or not name:
            raise ChorusError(f"--model {item}: expected NAME or NAME=WEIGHT with a finite WEIGHT ≥ 0")
        out.append((name, w))
    if not out or sum(w for _, w in out) <= 0:
        raise ChorusError("--model: at least one model with a positive weight is needed")
    return out


def parse_schedule(batch_schedule: str | None, batch: int | None) -> tuple[int, ...]:
    """Samples per round: `--batch K` (constant) or `--batch-schedule 1,1,2,4,8` (the last repeats)."""
    if batch is not None and batch_schedule:
        raise ChorusError("--batch and --batch-schedule: give one, not both")
    if batch is not None:
        if batch < 1:
            raise ChorusError(f"--batch {batch}: must be at least 1")
        return (batch,)
    if not batch_schedule:
        return (1, 1, 2, 4, 8)
    try:
        sizes = tuple(int(x) for x in batch_schedule.split(","))
    except ValueError:
        raise ChorusError(f"--batch-schedule {batch_schedule}: expected comma-separated integers") from None
    if not sizes or min(sizes) < 1:
        raise ChorusError(f"--batch-schedule {batch_schedule}: sizes must be at least 1")
    return sizes


def model_name_of(path: str) -> str:
    """The model a recorded-answers file is named after: analysis_math500_gpt-oss-20b(.jsonl.gz) → gpt-oss-20b;
    a packaged name math500/gpt-oss-20b → gpt-oss-20b."""
    name = Path(path.removesuffix(".gz")).stem.removeprefix("analysis_").split("_", 1)[-1]
    return name.split("_", 1)[-1] if name.startswith("diamond_") else name


def parse_named_files(items: list[str], flag: str = "--replay") -> list[tuple[str, str]]:
    """`NAME=FILE` or `FILE` (named after the file); two files with one name is an error."""
    out = []
    for item in items:
        name, sep, path = item.partition("=")
        out.append((name, path) if sep else (model_name_of(item), item))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ChorusError(f"{flag}: two files have the same model name ({', '.join(names)}); use NAME=FILE")
    return out


def name_order(names: list[str]) -> list[int]:
    """Positions of ``names`` in name order: multi-model runs work in this order, so the order in which
    files or models were given cannot change a result (positional options are permuted along)."""
    return sorted(range(len(names)), key=names.__getitem__)


def match_named_files(trained: list[str], items: list[str], flag: str = "--test") -> list[tuple[str, str]]:
    """`[NAME=]FILE` items matched to the trained model names, returned in ``trained`` order.

    Matching is by name only (never by position); a trained model without a file, or a file whose
    model was not trained, is an error naming them."""
    named = dict(parse_named_files(items, flag))
    missing = [n for n in trained if n not in named]
    unknown = [n for n in named if n not in trained]
    if missing or unknown:
        parts = [f"no file for trained model(s) {', '.join(missing)}"] if missing else []
        parts += [f"model(s) {', '.join(unknown)} not in the ensemble"] if unknown else []
        raise ChorusError(f"{flag}: {'; '.join(parts)} (trained: {', '.join(trained)}; use NAME=FILE)")
    return [(n, named[n]) for n in trained]
