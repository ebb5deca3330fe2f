"""The generation cache: look up what exists, insert what is new, never overwrite.

Writes are insert-or-ignore on the generation key, so a retried or rerun task can write the same
sample twice and the table still holds it once.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, func, select, tuple_
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from storage.errors import ChorusError
from storage.models import GenerationRow, ModelRow, ParamsRow, PromptRow
from storage.settings import redact_url


@dataclass(frozen=True)
class Generation:
    """One cached sample, as stored."""

    model_fp: str
    prompt_hash: str
    params_hash: str
    sample_index: int
    text: str
    answer: str | None
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    latency_s: float
    seed: int


_FIELDS = tuple(Generation.__dataclass_fields__)
_field_values = attrgetter(*_FIELDS)  # a Generation's fields as a flat tuple (dataclasses.astuple deep-copies)
_GENERATION_COLUMNS = (*_FIELDS, "created_at")
_MODEL_COLUMNS = ("fingerprint", "name", "backend", "model_ref", "created_at")
_PROMPT_COLUMNS = ("hash", "body", "created_at")
_PARAMS_COLUMNS = ("hash", "body")


@dataclass(frozen=True)
class RangeRead:
    """Samples start..stop-1 of some prompts under one model and parameters."""

    model_fp: str
    params_hash: str
    prompt_hashes: tuple[str, ...]
    start: int
    stop: int


class CacheUnavailable(ChorusError):
    """The database could not be reached or was locked (as opposed to refusing one row): retrying the
    rows one by one would only wait again."""


@dataclass(frozen=True)
class CacheStats:
    generations: int
    models: int
    prompts: int
    completion_tokens: int
    per_model: list[dict[str, object]]


def _now() -> datetime:
    return datetime.now(UTC)


_Row = tuple[object, ...]


def _insert_or_ignore(conn: Connection, table: Table, names: Sequence[str], rows: list[_Row]) -> int:
    """Insert `rows` (tuples of the columns `names`), keys already present left as they are; returns how
    many rows were new. Values go through the column types' bind processors, as SQLAlchemy's own insert
    would send them. created_at is the one column with a processor (SQLite: datetime to SQLAlchemy's
    text) and a write gives every row the same value, so each distinct value is processed once."""
    if not rows:
        return 0
    columns = [table.c[name] for name in names]
    for col, c in enumerate(columns):
        process = c.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if process is not None:
            done = {v: process(v) for v in {row[col] for row in rows}}
            rows = [(*row[:col], done[row[col]], *row[col + 1 :]) for row in rows]
    quote = conn.dialect.identifier_preparer.quote
    into = f"{quote(table.name)} ({', '.join(quote(n) for n in names)})"
    if conn.dialect.name == "sqlite":
        return _sqlite_insert_or_ignore(conn, into, rows)
    return _postgres_insert_or_ignore(conn, into, columns, rows)


def _sqlite_insert_or_ignore(conn: Connection, into: str, rows: list[_Row]) -> int:
    """One executemany of a one-row statement.

    SQLAlchemy's batched insert sends one multi-row statement per batch, whose text depends on the batch
    size. sqlite3 keeps up to 128 prepared statements per connection, one per text, and a prepared
    1,000-row insert takes hundreds of kB: write-behind batches of every size from 1 to 500 grew a
    10,000-problem vote by ~50 MB per pooled connection. One text per table keeps one statement.
    sqlite3 sums each row's changes into rowcount, and an ignored row changes nothing."""
    sql = f"INSERT OR IGNORE INTO {into} VALUES ({', '.join('?' * len(rows[0]))})"
    return conn.exec_driver_sql(sql, rows).rowcount


def _postgres_insert_or_ignore(conn: Connection, into: str, columns: list[Column[Any]], rows: list[_Row]) -> int:
    """One statement with one array per column: `INSERT ... SELECT * FROM unnest(...) ON CONFLICT DO NOTHING`.

    SQLAlchemy's batched insert with RETURNING (to count the new rows) cost ~7 s of the client's CPU for
    60,000 generations (bench/RESULTS.md §6, PostgreSQL). One statement's rowcount is exactly the rows
    it inserted; a key already present, or twice in the batch, is skipped."""
    arrays = tuple(list(values) for values in zip(*rows, strict=True))
    casts = ", ".join(f"%s::{c.type.compile(dialect=conn.dialect)}[]" for c in columns)
    sql = f"INSERT INTO {into} SELECT * FROM unnest({casts}) ON CONFLICT DO NOTHING"
    return conn.exec_driver_sql(sql, arrays).rowcount


# SQLite takes one writer at a time, and a writer that finds the file locked polls with sleeps of up to
# 100 ms (its busy handler). Writers of one process queue on a lock instead, which wakes the next one the
# moment the last commits: with a vote's chunks writing from several threads, the busy handler's sleeps
# left the event loop idle for a sixth of a 10,000-problem replay vote. Other processes still wait on
# the busy timeout. PostgreSQL takes concurrent writers as they come.
_sqlite_writers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock | None:
    if engine.dialect.name != "sqlite":
        return None
    with _writers_guard:
        return _sqlite_writers.setdefault(engine, threading.Lock())


class GenerationCache:
    """The cache API over one engine; safe to share between threads and event loops."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_lock = _writer_lock(engine)

    def _failed(self, what: str, exc: SQLAlchemyError) -> ChorusError:
        unreachable = isinstance(exc, OperationalError | InterfaceError)
        error = CacheUnavailable if unreachable else ChorusError
        return error(f"cache {redact_url(str(self.engine.url))}: {what} failed ({str(exc).splitlines()[0]})")

    def write(
        self,
        *,
        models: Iterable[tuple[str, str, str, str]] = (),
        prompts: Iterable[tuple[str, str]] = (),
        params: Iterable[tuple[str, str]] = (),
        generations: Sequence[Generation] = (),
    ) -> int:
        """Record models (fp, name, backend, ref), prompts (hash, body), params (hash, body) and
        generations in one transaction, keys already present left as they are; returns how many
        generations were new."""
        now = _now()
        model_rows = [(*model, now) for model in models]
        prompt_rows = list({h: (h, b, now) for h, b in prompts}.values())
        params_rows = list(dict(params).items())
        # Tuples in column order, made once: not dataclasses.asdict (it deep-copies every field and was
        # two thirds of the insert time), nor a dict per row that the SQLite path unpacks again.
        rows = [(*_field_values(g), now) for g in generations]
        if not (model_rows or prompt_rows or params_rows or rows):
            return 0
        try:
            with self._write_lock or nullcontext(), self.engine.begin() as conn:
                _insert_or_ignore(conn, ModelRow.__table__, _MODEL_COLUMNS, model_rows)
                _insert_or_ignore(conn, PromptRow.__table__, _PROMPT_COLUMNS, prompt_rows)
                _insert_or_ignore(conn, ParamsRow.__table__, _PARAMS_COLUMNS, params_rows)
                return _insert_or_ignore(conn, GenerationRow.__table__, _GENERATION_COLUMNS, rows)
        except SQLAlchemyError as exc:
            raise self._failed("write", exc) from None

    def register(
        self,
        *,
        model: tuple[str, str, str, str] | None = None,
        prompts: Iterable[tuple[str, str]] = (),
        params: tuple[str, str] | None = None,
    ) -> None:
        """Record a model (fp, name, backend, ref), prompts (hash, body) and params (hash, body)."""
        self.write(models=[model] if model else (), prompts=prompts, params=[params] if params else ())

    def put(self, generations: Sequence[Generation]) -> int:
        """Insert generations in one transaction; keys already present are left as they are."""
        return self.write(generations=generations)

    def get(
        self, model_fp: str, params_hash: str, prompt_hashes: Sequence[str], n: int
    ) -> dict[str, dict[int, Generation]]:
        """Cached samples 0..n-1 of each prompt: {prompt_hash: {sample_index: Generation}}."""
        return self.get_ranges([RangeRead(model_fp, params_hash, tuple(prompt_hashes), 0, n)])[0]

    def get_ranges(self, reads: Sequence[RangeRead]) -> list[dict[str, dict[int, Generation]]]:
        """Cached samples start..stop-1 of each read's prompts, all read on one connection."""
        out: list[dict[str, dict[int, Generation]]] = []
        cols = [getattr(GenerationRow, f) for f in _FIELDS]
        try:
            with self.engine.connect() as conn:
                for read in reads:
                    found: dict[str, dict[int, Generation]] = {h: {} for h in read.prompt_hashes}
                    out.append(found)
                    if not found or read.stop <= read.start:
                        continue
                    unique = list(found)
                    for start in range(0, len(unique), 500):
                        stmt = select(*cols).where(
                            GenerationRow.model_fp == read.model_fp,
                            GenerationRow.params_hash == read.params_hash,
                            GenerationRow.prompt_hash.in_(unique[start : start + 500]),
                            GenerationRow.sample_index >= read.start,
                            GenerationRow.sample_index < read.stop,
                        )
                        for row in conn.execute(stmt):
                            found[row.prompt_hash][row.sample_index] = Generation(*row)
        except SQLAlchemyError as exc:
            raise self._failed("read", exc) from None
        return out

    def count_keys(self, keys: Sequence[tuple[str, str, str, int]]) -> int:
        """How many rows hold these exact keys (duplicates would count twice)."""
        with self.engine.connect() as conn:
            stmt = select(func.count()).where(
                tuple_(
                    GenerationRow.model_fp,
                    GenerationRow.prompt_hash,
                    GenerationRow.params_hash,
                    GenerationRow.sample_index,
                ).in_(keys)
            )
            return int(conn.execute(stmt).scalar_one())

    def stats(self) -> CacheStats:
        with self.engine.connect() as conn:
            gens = conn.execute(select(func.count(), func.coalesce(func.sum(GenerationRow.completion_tokens), 0))).one()
            n_models = conn.execute(select(func.count()).select_from(ModelRow)).scalar_one()
            n_prompts = conn.execute(select(func.count()).select_from(PromptRow)).scalar_one()
            per_model = conn.execute(
                select(
                    ModelRow.name,
                    ModelRow.backend,
                    func.count(GenerationRow.id),
                    func.coalesce(func.sum(GenerationRow.completion_tokens), 0),
                )
                .join(GenerationRow, GenerationRow.model_fp == ModelRow.fingerprint, isouter=True)
                .group_by(ModelRow.fingerprint, ModelRow.name, ModelRow.backend)
                .order_by(ModelRow.name)
            ).all()
        return CacheStats(
            generations=int(gens[0]),
            models=int(n_models),
            prompts=int(n_prompts),
            completion_tokens=int(gens[1]),
            per_model=[
                {"model": m, "backend": b, "generations": int(c), "completion_tokens": int(t)}
                for m, b, c, t in per_model
            ],
        )
