"""The generation cache on real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.cache import Generation, GenerationCache
from storage.engine import (
    SCHEMA_HEAD,
    current_revision,
    head_revision,
    make_engine,
    open_engine,
    shared_engine,
    upgrade,
)


def gen(i: int, prompt: str = "p", text_: str | None = None) -> Generation:
    return Generation("fp", prompt, "params", i, text_ or f"text {i}", None, 5, 7, "stop", 0.1, 1000 + i)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cache.db'}"
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as conn:  # each test starts from a blank database
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


def test_insert_or_ignore_never_overwrites(db_url: str) -> None:
    cache = GenerationCache(open_engine(db_url))
    assert cache.put([gen(0), gen(1)]) == 2
    # The same keys again, with other text: nothing is inserted and nothing is overwritten.
    assert cache.put([gen(0, text_="changed"), gen(1), gen(2)]) == 1
    found = cache.get("fp", "params", ["p"], n=10)["p"]
    assert sorted(found) == [0, 1, 2]
    assert found[0].text == "text 0"
    assert cache.count_keys([("fp", "p", "params", i) for i in range(3)]) == 3


def test_get_only_returns_requested_indices_and_prompts(db_url: str) -> None:
    cache = GenerationCache(open_engine(db_url))
    cache.put([gen(i, "p") for i in range(5)] + [gen(i, "q") for i in range(2)])
    found = cache.get("fp", "params", ["p", "q", "r"], n=3)
    assert {k: sorted(v) for k, v in found.items()} == {"p": [0, 1, 2], "q": [0, 1], "r": []}
    assert cache.get("fp", "other-params", ["p"], n=3) == {"p": {}}


def test_stats_per_model(db_url: str) -> None:
    cache = GenerationCache(open_engine(db_url))
    cache.register(model=("fp", "smollm2", "llamacpp", "smollm2"), prompts=[("p", "{}")], params=("params", "{}"))
    cache.put([gen(i) for i in range(4)])
    stats = cache.stats()
    assert (stats.generations, stats.models, stats.prompts, stats.completion_tokens) == (4, 1, 1, 28)
    assert stats.per_model == [{"model": "smollm2", "backend": "llamacpp", "generations": 4, "completion_tokens": 28}]


def test_migrations_from_blank_and_from_old(db_url: str) -> None:
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    upgrade(engine, "0001")  # the oldest schema, with data in it
    GenerationCache(engine).put([gen(0)])
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert sorted(GenerationCache(engine).get("fp", "params", ["p"], 5)["p"]) == [0]
    open_engine(db_url)  # already current: a no-op
    assert current_revision(engine) == head_revision()


def test_open_engine_upgrades_an_old_cache(db_url: str) -> None:
    assert head_revision() == SCHEMA_HEAD  # a new migration must move SCHEMA_HEAD too
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    GenerationCache(engine).put([gen(0)])
    open_engine(db_url)  # finds 0001, not SCHEMA_HEAD: upgrades, keeping the rows
    assert current_revision(engine) == SCHEMA_HEAD
    assert sorted(GenerationCache(engine).get("fp", "params", ["p"], 5)["p"]) == [0]


def test_a_current_cache_opens_without_importing_alembic(tmp_path: Path) -> None:
    """Alembic (with Mako and Pygments) costs every command ~0.2 s to import; a current cache needs none."""
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    open_engine(url)  # created and migrated here
    probe = (
        "import sys; from storage.engine import open_engine; "
        f"open_engine({url!r}); print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    root = Path(__file__).parents[2]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def _writer(url: str, worker: int) -> None:
    cache = GenerationCache(open_engine(url))
    for start in range(0, 200, 10):
        cache.put([gen(i, text_=f"w{worker}") for i in range(start, start + 10)])


def test_two_processes_writing_the_same_keys(db_url: str) -> None:
    open_engine(db_url)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db_url, w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM generations")).scalar_one() == 200


def test_unwritable_database_is_one_clear_error(tmp_path: Path) -> None:
    from storage.errors import ChorusError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # even root cannot create a folder under a file
    with pytest.raises(ChorusError, match=r"cannot create .*a-file"):
        open_engine(f"sqlite:///{blocker / 'cache.db'}")
    with pytest.raises(ChorusError, match="not a usable database URL"):
        open_engine("nosuchdialect://x")


def test_write_behind_bounds_the_delay_and_batches(tmp_path: Path) -> None:
    import asyncio

    from tasks.services.sampling import WriteBehind

    cache = GenerationCache(open_engine(f"sqlite:///{tmp_path / 'wb.db'}"))

    def stored() -> int:
        return len(cache.get("fp", "params", ["p"], 100)["p"])

    async def run() -> list[int]:
        seen = []
        writer = WriteBehind(cache, max_rows=3, max_wait_s=0.2)
        await writer.add([gen(0)])
        seen.append(stored())  # still pending
        await asyncio.sleep(0.5)
        seen.append(stored())  # written by the timer, with no further add
        await writer.add([gen(1), gen(2), gen(3)])
        seen.append(stored())  # max_rows reached: written at once
        await writer.add([gen(4)])
        await writer.close()
        seen.append(stored())  # close writes the rest
        return seen

    assert asyncio.run(run()) == [0, 1, 4, 5]


def test_sqlite_rows_are_stored_as_sqlalchemy_stores_them_with_one_statement_text(tmp_path: Path) -> None:
    """SQLite writes are one executemany of a one-row statement (a multi-row statement per batch size kept
    one prepared statement per size: the cache grew by ~50 MB per connection), stored byte for byte as
    SQLAlchemy's own insert stores them."""
    from sqlalchemy import event
    from sqlalchemy.dialects.sqlite import insert

    from storage.models import GenerationRow

    ours = open_engine(f"sqlite:///{tmp_path / 'ours.db'}")
    statements: list[str] = []
    event.listen(ours, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
    cache = GenerationCache(ours)
    gens = [gen(i, prompt=f"p{i % 7}", text_=f"t{i} ünïcode") for i in range(320)]
    written = 0
    for start, stop in [(0, 1), (1, 8), (8, 300), (300, 320)]:  # batches of four sizes
        written += cache.put(gens[start:stop])
    assert written == 320 and cache.put(gens[5:40]) == 0  # an ignored row is not counted
    inserts = {s for s in statements if "generations" in s and s.lstrip().upper().startswith("INSERT")}
    assert len(inserts) == 1

    reference = open_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    names = [c.name for c in GenerationRow.__table__.columns if c.name != "id"]
    raw = text(f"SELECT {', '.join(names)} FROM generations ORDER BY id")
    with ours.connect() as conn:
        stored = conn.execute(raw).all()
        typed = [dict(r._mapping) for r in conn.execute(GenerationRow.__table__.select().order_by(GenerationRow.id))]
    with reference.begin() as conn:  # the same values, read back as Python objects, through SQLAlchemy's insert
        conn.execute(insert(GenerationRow), [{n: row[n] for n in names} for row in typed])
    with reference.connect() as conn:
        assert conn.execute(raw).all() == stored
    assert isinstance(stored[0][-1], str) and stored[0][4] == "t0 ünïcode"  # created_at as SQLAlchemy's text


def test_write_behind_registers_prompts_with_the_first_write(tmp_path: Path) -> None:
    """A chunk's prompts wait for its first generations and go in the same transaction, before them; with
    nothing generated they are written at close."""
    import asyncio

    from tasks.services.sampling import WriteBehind

    cache = GenerationCache(open_engine(f"sqlite:///{tmp_path / 'wb.db'}"))

    def prompts() -> int:
        return cache.stats().prompts

    async def run() -> list[int]:
        seen = []
        writer = WriteBehind(cache, max_rows=2, max_wait_s=30)
        writer.register([("p", '{"text":"p"}'), ("q", '{"text":"q"}')])
        seen.append(prompts())  # queued, not written
        await writer.add([gen(0), gen(1)])
        seen += [prompts(), cache.stats().generations]  # both in the first write
        idle = WriteBehind(cache)
        idle.register([("r", '{"text":"r"}')])
        await idle.close()
        seen.append(prompts())
        return seen

    assert asyncio.run(run()) == [0, 2, 2, 3]


def test_sqlite_writers_in_one_process_queue_instead_of_polling(tmp_path: Path) -> None:
    """Threads of one process writing one SQLite file take turns on a lock: with SQLite's busy handler
    switched off, none of them finds the file locked (its handler would have slept and polled)."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    engine = open_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    event.listen(engine, "connect", lambda conn, _record: conn.execute("PRAGMA busy_timeout=0"))
    engine.dispose()  # reconnect with the listener in place

    def write(worker: int) -> int:
        cache = GenerationCache(engine)  # a cache per chunk, as the flows make them, on one engine
        return sum(cache.put([gen(worker * 10_000 + b * 100 + i) for i in range(100)]) for b in range(15))

    with ThreadPoolExecutor(6) as pool:
        assert sum(pool.map(write, range(6))) == 6 * 15 * 100


def test_threads_opening_one_new_database_at_once_share_one_engine(tmp_path: Path) -> None:
    """A chunk's problems each open the cache from a worker thread as their pipelines start: on a new
    file they raced to migrate it ("database is locked") and each kept an engine of its own."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with ThreadPoolExecutor(8) as pool:
        engines = list(pool.map(lambda _: shared_engine(url), range(8)))
    assert all(e is engines[0] for e in engines)
    assert GenerationCache(engines[0]).get("m", "p", ["h"], 1) == {"h": {}}


def test_postgres_rows_are_stored_as_given_in_one_statement_per_table(postgres_url: str) -> None:
    """PostgreSQL writes are one `INSERT ... SELECT * FROM unnest(...)` per table (SQLAlchemy's batched
    insert with RETURNING cost ~7 s of CPU per 60,000 rows). Every field is stored as given, and the
    count is of new rows only, a key twice in one batch included."""
    from dataclasses import astuple

    from sqlalchemy import event

    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    ours = open_engine(postgres_url)
    statements: list[str] = []
    event.listen(ours, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
    cache = GenerationCache(ours)
    gens = [gen(i, prompt=f"p{i % 7}", text_=f"t{i} ünïcode") for i in range(320)]
    gens[3] = Generation("fp", "p3", "params", 3, "t3", "42", 5, 7, "length", 0.25, 2**40)  # an answer, a big seed
    assert cache.write(prompts=[("p0", "{}"), ("p1", '{"a": 1}')], generations=gens[:300] + gens[:10]) == 300
    assert cache.put(gens[290:320]) == 20 and cache.put(gens[5:40]) == 0  # an ignored row is not counted
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 4 and all("unnest" in s for s in inserts)  # the prompts, then one per write

    columns = ", ".join(Generation.__dataclass_fields__)
    with ours.connect() as conn:
        stored = conn.execute(text(f"SELECT {columns}, created_at FROM generations ORDER BY sample_index")).all()
        prompts = conn.execute(text("SELECT hash, body, created_at FROM prompts ORDER BY hash")).all()
    assert [tuple(r)[:-1] for r in stored] == [astuple(g) for g in gens]
    assert [tuple(p)[:2] for p in prompts] == [("p0", "{}"), ("p1", '{"a": 1}')]
    first_write = {r[-1] for r in stored[:300]} | {p[-1] for p in prompts}
    assert len(first_write) == 1 and next(iter(first_write)).tzinfo is not None  # one timestamp per write
