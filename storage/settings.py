"""Where chorus keeps its data: `CHORUS_HOME` and the cache database URL.

Nothing here touches the disk or a database at import time.
"""

from __future__ import annotations

import os
from pathlib import Path


def chorus_home() -> Path:
    """The data directory: `$CHORUS_HOME`, else `~/.chorus`."""
    return Path(os.environ.get("CHORUS_HOME") or Path.home() / ".chorus").expanduser()


def database_url(explicit: str | None = None) -> str:
    """The cache URL: `--db`, else `$CHORUS_DATABASE_URL`, else a SQLite file under the data directory."""
    if explicit:
        return explicit
    env = os.environ.get("CHORUS_DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{chorus_home() / 'cache.db'}"


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
