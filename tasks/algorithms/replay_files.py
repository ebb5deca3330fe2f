"""Recorded answers of real models (the Best-of-∞ authors' `analysis_*.jsonl` format).

Pure: reads JSON lines, imports neither prefect, sqlalchemy nor httpx.
Each line: {"problem_num", "gold_answer", "all_answers": [[answer, completion_tokens], ...], ...}.
An answer that is JSON null or blank is "no answer" and is stored as "" (never the string "None").

A replay reference is a file path (`.jsonl`, or `.jsonl.gz`) or the name of a data set shipped inside
the package, `{dataset}/{model}` such as `math500/gpt-oss-20b` (`chorus data list`). This module is
the one place that turns a reference into records, so every `--replay` option and flow parameter
accepts both.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from storage.errors import ChorusError

# The authors' files, compressed, with their licence and source note (tasks/algorithms/data/boinf/SOURCE.md).
_PACKAGED_DIR = ("data", "boinf")
_DATASET_ALIASES = {"gpqa-diamond": "gpqa_diamond"}


@dataclass(frozen=True)
class PackagedReplay:
    """A recorded-answers file shipped with chorus, addressed as `dataset/model`."""

    dataset: str
    model: str
    resource: Traversable

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.model}"


def packaged_replays() -> list[PackagedReplay]:
    """Every shipped data set, sorted by name."""
    folder = resources.files("tasks.algorithms").joinpath(*_PACKAGED_DIR)
    found = []
    for entry in folder.iterdir():
        stem = entry.name.removesuffix(".jsonl.gz")
        if stem == entry.name or not stem.startswith("analysis_"):
            continue
        for dataset in ("gpqa_diamond", "aime2024", "math500"):
            prefix = f"analysis_{dataset}_"
            if stem.startswith(prefix):
                found.append(PackagedReplay(dataset, stem.removeprefix(prefix), entry))
                break
    return sorted(found, key=lambda r: r.name)


def source_note() -> str:
    """Where the shipped data's licence and source note lie (SOURCE.md, LICENSE next to the files)."""
    return str(resources.files("tasks.algorithms").joinpath(*_PACKAGED_DIR, "SOURCE.md"))


def find_packaged(ref: str) -> PackagedReplay | None:
    """The shipped data set named `ref` (`dataset/model`, model case-insensitive), or None."""
    dataset, sep, model = ref.strip().partition("/")
    if not sep or "/" in model:
        return None
    dataset = _DATASET_ALIASES.get(dataset.lower(), dataset.lower())
    for replay in packaged_replays():
        if replay.dataset == dataset and replay.model.lower() == model.lower():
            return replay
    return None


def replay_identity(ref: str) -> tuple[str, int]:
    """(file name, uncompressed size) of a replay reference, for cache fingerprints.

    A shipped set and the identical file on disk get the same identity, so they share cached samples.
    """
    path = Path(ref)
    if path.is_file() and not path.name.endswith(".gz"):
        return path.name, path.stat().st_size  # no read: fingerprints of plain files stay as they were
    where, raw = _read_bytes(ref)
    packaged = find_packaged(where)
    name = f"analysis_{packaged.dataset}_{packaged.model}.jsonl" if packaged else path.name.removesuffix(".gz")
    return name, len(raw)


def _read_bytes(ref: str) -> tuple[str, bytes]:
    """(name used in messages, uncompressed bytes) of a file path or a packaged name; a file path wins."""
    path = Path(ref)
    packaged = None if path.is_file() else find_packaged(ref)
    try:
        if packaged is not None:
            raw, where = packaged.resource.read_bytes(), packaged.name
        else:
            raw, where = path.read_bytes(), str(path)
        if raw[:2] == b"\x1f\x8b":  # gzip magic: compressed files are read the same way
            raw = gzip.decompress(raw)
        return where, raw
    except FileNotFoundError:
        hint = " (nor a packaged data set: see `chorus data list`)" if "/" in ref else ""
        raise ChorusError(f"{path}: replay file not found{hint}") from None
    except IsADirectoryError:
        raise ChorusError(f"{path}: is a folder, not a replay file") from None
    except OSError as exc:
        raise ChorusError(f"{path}: cannot read replay file ({exc.strerror or exc})") from None
    except (EOFError, zlib.error):
        raise ChorusError(f"{path}: replay file is a damaged gzip file") from None


def _read_lines(ref: str) -> tuple[str, list[str]]:
    where, raw = _read_bytes(ref)
    try:
        return where, raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ChorusError(f"{where}:{line}: replay file is not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None


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


def load_replay(ref: str | Path) -> list[ReplayProblem]:
    """Read a replay file or packaged data set; a malformed line raises ChorusError naming file:line."""
    path, lines = _read_lines(str(ref))
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
