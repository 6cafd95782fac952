"""Storage: migrations, the single writer, concurrency, crash safety, backup."""

import asyncio
import shutil
import sqlite3
import subprocess
import sys
import threading

import pytest

from bot.storage import MIGRATIONS, Storage, StorageError, connect
from glossary import store as glossary_store
from tests.conftest import SMALL, concept


def test_new_database_is_migrated_and_seeded(storage):
    db = storage.conn()
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM concept").fetchone()[0] >= 300
    assert db.execute("SELECT value FROM meta WHERE key='seed_version'").fetchone()[0] == "1"


def test_reopening_does_not_seed_twice(tmp_path):
    path = tmp_path / "x.db"
    Storage(path).close()
    with Storage(path) as s:
        before = s.conn().execute("SELECT count(*) FROM audit").fetchone()[0]
    with Storage(path) as s:
        assert s.conn().execute("SELECT count(*) FROM audit").fetchone()[0] == before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    Storage(path, seed=False).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        Storage(path)


def test_bad_paths(tmp_path):
    with pytest.raises(StorageError, match="folder"):
        Storage(tmp_path)
    with pytest.raises(StorageError, match="does not exist"):
        Storage(tmp_path / "no" / "such.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError):
        Storage(junk)


def test_failed_write_rolls_back(empty_storage):
    def half(db):
        glossary_store.upsert_concepts(db, SMALL[:2], "t")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        empty_storage.write(half)
    assert empty_storage.read(lambda db: db.execute("SELECT count(*) FROM concept").fetchone()[0]) == 0


def test_invalid_import_writes_nothing(empty_storage):
    bad = SMALL[:3] + [concept("Bad id!", en="x")]
    with pytest.raises(ValueError):
        empty_storage.write(glossary_store.upsert_concepts, bad, "t")
    assert empty_storage.read(glossary_store.all_concepts) == []


async def test_async_reads_and_writes_do_not_block_the_loop(empty_storage):
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for i in range(20):
        await empty_storage.awrite(glossary_store.upsert_concepts,
                                   [concept(f"c{i}", en=f"thing {i}")], "t")
    count = await empty_storage.aread(lambda db: db.execute("SELECT count(*) FROM concept").fetchone()[0])
    stop.set()
    await task
    assert count == 20
    assert ticks > 20  # the loop kept running while SQLite worked


def test_concurrent_writers_from_threads_all_land(empty_storage):
    errors = []

    def worker(n):
        try:
            for i in range(10):
                empty_storage.write(glossary_store.upsert_concepts,
                                    [concept(f"w{n}-{i}", en=f"w {n} {i}")], "t")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert empty_storage.read(lambda db: db.execute("SELECT count(*) FROM concept").fetchone()[0]) == 60


def test_another_process_writing_meanwhile_waits_instead_of_failing(empty_storage):
    # A second process (the CLI while the bot runs) holds a write lock briefly.
    script = (
        "import sqlite3,time,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None);"
        "c.execute('BEGIN IMMEDIATE'); c.execute(\"UPDATE meta SET value=value WHERE key='glossary_rev'\");"
        "print('locked', flush=True); time.sleep(1.0); c.execute('COMMIT')"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(empty_storage.path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    report = empty_storage.write(glossary_store.upsert_concepts, SMALL[:1], "t")
    assert report.added == 1
    proc.wait()


@pytest.mark.parametrize("patience, held, lands", [(30.0, 1.5, True), (0.5, 3.0, False)])
def test_a_lock_held_past_the_busy_timeout_is_waited_out(tmp_path, monkeypatch, patience, held, lands):
    """A CLI import held the write lock for longer than the busy timeout: the
    bot's writes failed with "database is locked" and their updates were
    never answered. The writer now tries again, up to its patience."""
    import bot.storage as storage_module

    monkeypatch.setattr(storage_module, "BUSY_TIMEOUT_MS", 200)  # so a 1.5 s hold outlasts it
    script = (
        "import sqlite3,time,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None);"
        "c.execute('BEGIN IMMEDIATE'); c.execute(\"UPDATE meta SET value=value WHERE key='glossary_rev'\");"
        "print('locked', flush=True); time.sleep(float(sys.argv[2])); c.execute('COMMIT')"
    )
    with Storage(tmp_path / "lock.db", seed=False, lock_patience=patience) as storage:
        proc = subprocess.Popen([sys.executable, "-c", script, str(storage.path), str(held)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "locked"
        if lands:
            assert storage.write(glossary_store.upsert_concepts, SMALL[:1], "t").added == 1
        else:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                storage.write(glossary_store.upsert_concepts, SMALL[:1], "t")
        proc.wait()


def test_acknowledged_write_survives_a_killed_process(tmp_path):
    path = tmp_path / "crash.db"
    Storage(path, seed=False).close()
    script = (
        "import os,sys; sys.path.insert(0, sys.argv[2]);"
        "from bot.storage import Storage; from glossary import store;"
        "from tests.conftest import SMALL;"
        "s = Storage(sys.argv[1], seed=False); s.write(store.upsert_concepts, SMALL, 't');"
        "print('acknowledged', flush=True); os._exit(9)"  # no close, no checkpoint
    )
    import pathlib
    root = str(pathlib.Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", script, str(path), root],
                         capture_output=True, text=True, timeout=60)
    assert "acknowledged" in out.stdout, out.stderr
    with Storage(path, seed=False) as s:
        assert len(s.read(glossary_store.all_concepts)) == len(SMALL)
        assert s.check() == []


def test_backup_while_writing(storage, tmp_path):
    stop = threading.Event()

    def keep_writing():
        i = 0
        while not stop.is_set():
            storage.write(glossary_store.upsert_concepts, [concept(f"b{i}", en=f"backup {i}")], "t")
            i += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        dest = storage.backup(tmp_path / "backup.db")
    finally:
        stop.set()
        writer.join()
    copy = connect(dest)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM concept").fetchone()[0] >= 300
    with pytest.raises(StorageError, match="exists"):
        storage.backup(dest)


def test_check_reports_a_healthy_database(storage):
    assert storage.check() == []


def test_every_connection_runs_wal_and_synchronous_full(storage):
    """Durability shown, not assumed: a killed process cannot tell OFF from
    FULL (the OS cache survives it), so the pragmas themselves are read,
    on the writer's connection and on a reader's."""
    def pragmas(db):
        return (db.execute("PRAGMA journal_mode").fetchone()[0],
                db.execute("PRAGMA synchronous").fetchone()[0])

    FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
    assert storage.write(pragmas) == ("wal", FULL)
    assert storage.read(pragmas) == ("wal", FULL)
    assert pragmas(connect(storage.path)) == ("wal", FULL)


def _damaged(seeded_template, tmp_path, how: str):
    """A copy of the seeded database with one page damaged on disk:
    ``byte``: one letter of a stored term changed (the row no longer
    matches its index entries); ``page``: garbage over the page that holds it."""
    path = tmp_path / f"damaged-{how}.db"
    data = bytearray(seeded_template.read_bytes())
    at = data.index("enduiseuse".encode())  # the term table's row comes first in the file
    if how == "byte":
        data[at + 9] = ord("X")
    else:
        page = at - at % 4096
        data[page + 8:page + 4096] = bytes(range(256)) * 15 + bytes(range(120))
    path.write_bytes(bytes(data))
    return path


def test_check_reports_a_damaged_file(seeded_template, tmp_path):
    with Storage(_damaged(seeded_template, tmp_path, "byte")) as s:
        problems = s.check()
    assert problems and any("missing from index" in p for p in problems), problems
    with Storage(_damaged(seeded_template, tmp_path, "page")) as s:
        problems = s.check()  # SQLite may refuse to walk the page at all: reported, not raised
    assert problems and problems != ["ok"], problems


@pytest.mark.parametrize("how", ["byte", "page"])
def test_db_check_command_reports_a_damaged_file(run, seeded_template, tmp_path, how):
    path = _damaged(seeded_template, tmp_path, how)
    result = run("--db", str(path), "db", "check")
    assert result.exit_code == 1
    assert f"problem(s) found in {path}" in result.output
    assert run("db", "check").exit_code == 0  # the healthy one, for contrast


def test_group_commit_isolates_a_failing_job(empty_storage):
    """Jobs queued together share a transaction, but one that fails is rolled
    back alone and the others still commit."""
    def boom(db):
        db.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        raise RuntimeError("boom")

    futures = [empty_storage.submit(glossary_store.upsert_concepts, [concept(f"g{i}", en=f"g {i}")], "t")
               for i in range(5)]
    bad = empty_storage.submit(boom)
    futures += [empty_storage.submit(glossary_store.upsert_concepts, [concept(f"h{i}", en=f"h {i}")], "t")
                for i in range(5)]
    assert all(f.result().added == 1 for f in futures)
    with pytest.raises(RuntimeError):
        bad.result()
    db = empty_storage.conn()
    assert db.execute("SELECT count(*) FROM concept").fetchone()[0] == 10
    assert db.execute("SELECT count(*) FROM meta WHERE key='x'").fetchone()[0] == 0


def test_busy_is_told_from_other_errors():
    from bot.storage import _is_busy

    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY | (1 << 8)  # an extended code: SQLITE_BUSY_RECOVERY
    other = sqlite3.OperationalError("database is locked, says the text")
    other.sqlite_errorcode = sqlite3.SQLITE_ERROR
    assert _is_busy(busy) and not _is_busy(other)
    assert _is_busy(sqlite3.OperationalError("database table is locked"))  # no code: by its text
    assert not _is_busy(sqlite3.OperationalError("no such table: x"))


def test_check_reports_foreign_key_problems_and_what_failed(tmp_path, seeded_template):
    path = tmp_path / "fk.db"
    shutil.copy(seeded_template, path)
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA foreign_keys = OFF")
    raw.execute("UPDATE term SET concept_id = 'no-such-concept' WHERE id = (SELECT min(id) FROM term)")
    raw.commit()
    raw.close()
    with Storage(path) as s:
        problems = s.check()
        assert any(p.startswith("term row ") and p.endswith(": missing concept") for p in problems), problems
        assert s.write(lambda db, a, *, b: (a, b), 1, b=2) == (1, 2)  # keyword arguments reach fn
    with Storage(_damaged(seeded_template, tmp_path, "page")) as s:
        problems = s.check()
    assert any(p.startswith("integrity check failed: ") or "Tree" in p or "Page" in p
               for p in problems), problems


def test_deferred_writes_share_a_transaction_and_are_never_lost(tmp_path):
    """Storage.defer: log rows wait for company (one transaction for many,
    so another process finds the write lock taken less often), go with the
    next ordinary write, alone once their time is up, and at close."""
    path = tmp_path / "d.db"
    storage = Storage(path, seed=False)
    storage.write(lambda db: db.execute("CREATE TABLE t (n INTEGER)"))

    def row(db, n):
        db.execute("INSERT INTO t VALUES (?)", [n])

    held = [storage.defer(row, n) for n in range(5)]
    storage.write(row, -1)  # an ordinary write takes them along: committed by the time it returns
    assert all(f.done() and f.exception() is None for f in held)
    alone = storage.defer(row, 10)
    alone.result(timeout=30)  # written by itself once DEFER_SECONDS have passed
    last = storage.defer(row, 11)
    storage.close()  # and what is still held is written before the writer stops
    assert last.done() and last.exception() is None
    with Storage(path, seed=False) as again:
        assert again.read(lambda db: db.execute("SELECT count(*) FROM t").fetchone()[0]) == 8
