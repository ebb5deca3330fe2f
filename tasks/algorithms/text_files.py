"""Reading user-supplied text files (datasets, replay files, the registry) with one-line errors.

Pure: no prefect, sqlalchemy or httpx. A file that is not UTF-8 is reported as `file:line`, and a UTF-8
byte-order mark (Excel writes one into CSV) is dropped, so the first column keeps its name.
"""

from __future__ import annotations

from pathlib import Path

from storage.errors import ChorusError


def read_utf8(path: str | Path, label: str | None = None) -> str:
    """The file's text without a BOM; ChorusError naming `label` (default: the path) when it cannot be read
    or `path:line` when it is not UTF-8."""
    path = Path(path)
    label = label or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ChorusError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise ChorusError(f"{label}: is a folder, not a file") from None
    except OSError as exc:
        raise ChorusError(f"{label}: cannot read ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ChorusError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
