"""Where chorus keeps its data: `CHORUS_HOME` and the cache database URL.

Nothing here touches the disk or a database at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.errors import ChorusError

# The environment variable that carries a cache URL with its password, so that only the redacted
# URL travels as a flow parameter (Prefect stores parameters in its database, in plain text).
DATABASE_URL_ENV = "CHORUS_DATABASE_URL"
_MASK = "***"


def chorus_home() -> Path:
    """The data directory: `$CHORUS_HOME`, else `~/.chorus`."""
    return Path(os.environ.get("CHORUS_HOME") or Path.home() / ".chorus").expanduser()


def database_url(explicit: str | None = None) -> str:
    """The cache URL: `--db`, else `$CHORUS_DATABASE_URL`, else a SQLite file under the data directory.

    A password is never part of the returned URL (see `hide_password`): what flows pass to their tasks,
    and what Prefect may store, is the redacted URL; `storage.engine` puts the password back.
    """
    if explicit:
        return hide_password(explicit)
    env = os.environ.get(DATABASE_URL_ENV)
    if env:
        return hide_password(env)
    return f"sqlite:///{chorus_home() / 'cache.db'}"


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def has_password(url: str) -> bool:
    """True when `url` carries a password (a redacted one does not count)."""
    _, sep, rest = url.partition("://")
    creds = rest.rpartition("@")[0] if sep else ""
    return ":" in creds and creds.split(":", 1)[1] != _MASK


def hide_password(url: str) -> str:
    """Move the password out of `url`: the full URL goes to $CHORUS_DATABASE_URL (this process and its
    children), the redacted one is returned, for flow parameters, logs and messages."""
    if not has_password(url):
        return url
    os.environ[DATABASE_URL_ENV] = url
    return redact_url(url)


def reveal_password(url: str) -> str:
    """The usable URL for a redacted one: $CHORUS_DATABASE_URL when it is the same URL with a password."""
    if f":{_MASK}@" not in url:
        return url
    env = os.environ.get(DATABASE_URL_ENV, "")
    if env and redact_url(env) == url:
        return env
    raise ChorusError(
        f"--db {url}: the password is not stored with the run; set {DATABASE_URL_ENV} to the full URL "
        "(or PGPASSWORD) where the flow runs"
    )
