"""Checks of files and folders a command will read or write, made before Prefect starts.

Outputs are checked first so that a run of minutes does not end in "cannot write"; read-only commands
check that their database exists, so a typo creates nothing; recorded-answer files are checked for what
would silently skew a result (no gold answers, problems not shared by every file).
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.errors import ChorusError


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_file(path: str | None, flag: str) -> None:
    """`path` can be written: not a folder, its folder exists and is writable. None and '-' (stdout) pass."""
    if path is None or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise ChorusError(f"{flag} {path}: is a folder; give a file name")
    folder = target.absolute().parent
    if not folder.is_dir():
        raise ChorusError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ChorusError(f"{flag} {path}: cannot write there (permission denied)")


def check_output_folder(path: str, flag: str) -> None:
    """`path` is a writable folder, or can be created as one (its nearest existing parent is writable)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ChorusError(f"{flag} {path}: exists and is not a folder")
    base = _nearest_existing(target)
    if not base.is_dir():
        raise ChorusError(f"{flag} {path}: {base} is a file, so the folder cannot be created")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ChorusError(f"{flag} {path}: cannot write to {base} (permission denied)")


def check_existing_database(url: str, flag: str = "--db") -> None:
    """For read-only commands: a SQLite database must already exist (no folders or empty file created)."""
    from storage.settings import redact_url

    if not url.startswith("sqlite"):
        return
    path = url.split("///", 1)[1] if "///" in url else ""
    if path in ("", ":memory:"):
        return
    if not Path(path).is_file():
        raise ChorusError(f"{flag} {redact_url(url)}: no cache database at {path} (nothing has been sampled there)")


def check_replay_files(items: list[tuple[str, str]], flag: str = "--replay", need_gold: bool = True) -> list[str]:
    """Load every (name, path) replay file (bad lines fail as file:line) and compare their problems.

    Returns warning lines: some problems are not in every file (they are left out of the result), or
    some shared problems have no gold answer (they count as wrong);
    raises ChorusError when the files share no problem, or when `need_gold` and no shared problem has a
    gold answer (accuracy would read 0 instead of "unknown").
    """
    from tasks.algorithms.replay_files import load_replay

    loaded = [(name, path, load_replay(path)) for name, path in items]
    id_sets = [{p.problem_id for p in problems} for _, _, problems in loaded]
    common = set.intersection(*id_sets) if id_sets else set()
    every = set.union(*id_sets) if id_sets else set()
    if not common:
        raise ChorusError(f"{flag}: the files share no problem id ({', '.join(p for _, p, _ in loaded)})")
    warnings = []
    if need_gold:
        first_path, first = loaded[0][1], loaded[0][2]
        no_gold = sum(1 for p in first if p.problem_id in common and not (p.gold or "").strip())
        if no_gold == len(common):
            raise ChorusError(f"{first_path}: no problem has a gold_answer, so accuracy cannot be measured")
        if no_gold:
            warnings.append(
                f"warning: {first_path}: {no_gold} of {len(common)} problems have no gold_answer; they count as wrong"
            )
    if len(common) < len(every):
        partial = [
            f"{name} has {len(ids & common)} of its {len(ids)}"
            for (name, _, _), ids in zip(loaded, id_sets, strict=True)
        ]
        warnings.append(
            f"warning: {flag}: only {len(common)} of {len(every)} problems are in every file ({'; '.join(partial)}); "
            "the others are left out"
        )
    return warnings
