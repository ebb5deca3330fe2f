"""Engine factory and schema upgrades. No connection is made until a function here is called.

Alembic is imported only to upgrade or to vet a foreign revision: importing it pulls in Mako and
Pygments' lexers (~0.2 s), and a cache already at SCHEMA_HEAD, every command's case, needs one query.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from storage.errors import ChorusError
from storage.settings import redact_url, reveal_password

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision. A unit test checks it is Alembic's head, so a new migration that
# forgets it fails the build rather than skipping its own upgrade.
SCHEMA_HEAD = "0002"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets readers run beside one writer; the busy timeout makes concurrent writers wait, not fail.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`. SQLite files get WAL and a busy timeout; their folder is created.

    `url` may be redacted (`user:***@host`): the password then comes from $CHORUS_DATABASE_URL.
    """
    url = reveal_password(url)
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                _ensure_parent(Path(path), url)
            # A pooled connection per thread: opening one per write costs the pragmas and a WAL flush each time.
            engine = (
                create_engine(url, connect_args={"timeout": 60})
                if path and path != ":memory:"
                else create_engine(url, poolclass=NullPool, connect_args={"timeout": 60})
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ChorusError(f"--db {redact_url(url)}: not a usable database URL ({exc})") from None


def _ensure_parent(path: Path, url: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChorusError(f"--db {url}: cannot create {path.parent} ({exc.strerror})") from None


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """Alembic's head, read from the migration scripts (SCHEMA_HEAD is the same without Alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    """The schema's revision as Alembic records it (its one-row `alembic_version` table), or None."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:  # branches: never chorus's (its migrations are one line), so not current
        return ",".join(sorted(versions))
    return versions[0] if versions else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`. Safe to call from several processes at once."""
    from alembic import command

    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # One migrator at a time; the others wait, then find the schema current.
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727172)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        if revision == "head" and _is_current(engine):
            return  # another process migrated first
        raise ChorusError(f"database {redact_url(str(engine.url))}: {_first_line(exc)}") from None
    except SQLAlchemyError as exc:
        if revision == "head" and _is_current(engine):
            return
        raise ChorusError(f"database {redact_url(str(engine.url))}: {_first_line(exc)}") from None


def _is_ours(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError as AlembicError

    try:
        return ScriptDirectory.from_config(_alembic_config()).get_revision(revision) is not None
    except AlembicError:
        return False


def _is_current(engine: Engine) -> bool:
    try:
        return current_revision(engine) == SCHEMA_HEAD
    except SQLAlchemyError:
        return False


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise schema upgrades of one SQLite file across processes (PostgreSQL uses an advisory lock)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def open_engine(url: str) -> Engine:
    """An engine whose schema is current: the cache upgrades itself on first use."""
    engine = make_engine(url)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        raise ChorusError(f"database {redact_url(url)}: {_first_line(exc)}") from None
    if revision == SCHEMA_HEAD:
        return engine
    if revision is not None and not _is_ours(revision):
        raise ChorusError(
            f"--db {redact_url(url)}: its schema is at Alembic revision {revision!r}, which is not chorus's "
            "(another application's database?); give chorus a database of its own"
        )
    try:
        lock = _migration_lock(engine)
        with lock:
            if not _is_current(engine):  # another process may have upgraded while we waited
                upgrade(engine)
    except OSError as exc:
        raise ChorusError(f"database {redact_url(url)}: cannot lock for the schema upgrade ({exc.strerror})") from None
    return engine


_engines: dict[str, Engine] = {}
_opening = threading.Lock()


def shared_engine(url: str) -> Engine:
    """One migrated engine per URL per process, so tasks share a connection pool.

    Callers open it from worker threads (`asyncio.to_thread`), many at once when a chunk's problems each
    start their pipeline: the first opens and migrates, the others wait for it instead of racing it."""
    engine = _engines.get(url)
    if engine is None:
        with _opening:
            engine = _engines.get(url)
            if engine is None:
                engine = _engines[url] = open_engine(url)
    return engine
