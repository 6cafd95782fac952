"""Storage: migrations, the single writer, concurrency, crash safety, backup."""

import asyncio
import queue
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.storage import (DEFER_SECONDS, MIGRATIONS, Storage, StorageError, _Deferred, _Writer, bot_state,
                         bot_username, connect, set_bot_state, set_bot_username)
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
def test_a_lock_held_past_the_busy_timeout_is_waited_out(tmp_path, monkeypatch, caplog, patience, held, lands):
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
            with caplog.at_level("WARNING", logger="shopbot"):
                assert storage.write(glossary_store.upsert_concepts, SMALL[:1], "t").added == 1
            # the operator is told why writes are late
            assert "database locked by another process; still waiting to write" in caplog.messages
            proc.wait()
        else:
            future = storage.submit(glossary_store.upsert_concepts, SMALL[:1], "t")
            proc.wait()
            storage.close()  # the writer ends after the queued job: one left unanswered shows, not hangs
            assert future.done()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                future.result()


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

    blocker, release = _blocked_writer(empty_storage)  # so that the eleven share a batch
    futures = [empty_storage.submit(glossary_store.upsert_concepts, [concept(f"g{i}", en=f"g {i}")], "t")
               for i in range(5)]
    bad = empty_storage.submit(boom)
    futures += [empty_storage.submit(glossary_store.upsert_concepts, [concept(f"h{i}", en=f"h {i}")], "t")
                for i in range(5)]
    release.set()
    blocker.result()
    empty_storage.close()  # the writer ends after the queued jobs: a job left unanswered shows, not hangs
    assert all(f.done() for f in [*futures, bad])
    assert all(f.result().added == 1 for f in futures)
    with pytest.raises(RuntimeError):
        bad.result()
    with Storage(empty_storage.path, seed=False) as again:
        db = again.conn()
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
# -- the writer: group commit, cancelled jobs, a failed commit, its own thread -------------


def _blocked_writer(storage):
    """Hold the writer inside a job until the returned event is set: what is
    submitted meanwhile queues up, as in a burst of chat updates."""
    running, release = threading.Event(), threading.Event()

    def hold(db):
        running.set()
        release.wait()

    blocker = storage.submit(hold)
    running.wait()
    return blocker, release


def _job_seeing_commits(storage):
    """A write job that records, and returns, how many earlier jobs were
    already committed (seen on a reader connection of its own)."""
    def job(db, n):
        committed = storage.conn().execute("SELECT count(*) FROM meta WHERE key LIKE 'job-%'").fetchone()[0]
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", [f"job-{n}", str(committed)])
        return committed
    return job


def test_group_commit_takes_at_most_64_jobs_per_transaction(empty_storage):
    """A burst is written in transactions of up to 64 jobs: each job sees,
    on a connection of its own, only what earlier transactions committed."""
    job = _job_seeing_commits(empty_storage)
    blocker, release = _blocked_writer(empty_storage)
    futures = [empty_storage.submit(job, n) for n in range(130)]
    release.set()
    blocker.result()
    seen = [f.result() for f in futures]
    assert seen == [0] * 64 + [64] * 64 + [128] * 2


def test_a_cancelled_job_is_skipped_and_the_rest_of_its_batch_still_runs(empty_storage):
    def put(db, key):
        db.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", [key])
        return key

    blocker, release = _blocked_writer(empty_storage)
    cancelled = empty_storage.submit(put, "cancelled")
    after = empty_storage.submit(put, "after")
    assert cancelled.cancel()
    release.set()
    blocker.result()
    empty_storage.close()  # the writer ends only after the queued jobs
    assert after.done() and after.result() == "after"
    with Storage(empty_storage.path, seed=False) as again:
        keys = again.read(lambda db: [r[0] for r in db.execute(
            "SELECT key FROM meta WHERE key IN ('cancelled', 'after')")])
    assert keys == ["after"]


def test_a_failed_commit_fails_every_job_of_its_batch_and_the_writer_goes_on(empty_storage):
    """A foreign key checked at COMMIT (deferred) makes the commit itself
    fail: no job of the batch may be told "done", nothing of it is kept,
    and the next batch still commits (the transaction was rolled back)."""
    def good(db):
        db.execute("INSERT INTO meta (key, value) VALUES ('good', '1')")
        return "written"

    def dangling(db):
        db.execute("PRAGMA defer_foreign_keys = ON")
        db.execute("INSERT INTO tm_variant (unit_id, lang, text, norm) VALUES (999, 'en', 'x', 'x')")

    blocker, release = _blocked_writer(empty_storage)
    failed = [empty_storage.submit(good), empty_storage.submit(dangling)]
    failed += [empty_storage.submit(lambda db: None) for _ in range(62)]  # the batch is full (64)...
    after = empty_storage.submit(lambda db: db.execute("INSERT INTO meta VALUES ('next', '1')").rowcount)
    release.set()  # ...so this one goes in the next transaction
    blocker.result()
    empty_storage.close()  # the writer ends after the queued jobs: a job left unanswered shows, not hangs
    assert all(f.done() for f in [*failed, after])
    for future in failed:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            future.result()
    assert after.result() == 1
    with Storage(empty_storage.path, seed=False) as again:
        assert again.read(lambda db: [r[0] for r in db.execute(
            "SELECT key FROM meta WHERE key IN ('good', 'next')")]) == ["next"]


def test_foreign_keys_are_enforced_on_every_write(empty_storage):
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        empty_storage.write(lambda db: db.execute(
            "INSERT INTO tm_variant (unit_id, lang, text, norm) VALUES (999, 'en', 'x', 'x')"))


def test_write_from_inside_a_write_is_refused_not_a_deadlock(empty_storage):
    """The writer waiting for itself would hang every later write."""
    def nested(db):
        assert threading.current_thread().name == "shopbot-writer"
        return empty_storage.write(lambda db: 1)

    with pytest.raises(StorageError, match=r"^write\(\) called from the writer thread: call fn directly$"):
        empty_storage.write(nested)
    assert empty_storage.write(lambda db: 2) == 2  # and the writer goes on


def test_a_forgotten_close_does_not_keep_the_process_alive(empty_storage):
    """The writer thread is a daemon: a CLI command that exits without
    close() still exits."""
    writers = [t for t in threading.enumerate() if t.name == "shopbot-writer"]
    assert writers and all(t.daemon for t in writers)


async def test_async_reads_and_runs_use_the_reader_threads_with_their_arguments(empty_storage):
    def where(db, a, b):
        return threading.current_thread().name, a + b

    name, total = await empty_storage.aread(where, 1, 2)
    assert name.startswith("shopbot-read") and total == 3
    name, total = await empty_storage.arun(lambda a, b: (threading.current_thread().name, a * b), 3, 4)
    assert name.startswith("shopbot-read") and total == 12
    assert empty_storage.executor.submit(lambda: threading.current_thread().name).result().startswith(
        "shopbot-read")
    assert await empty_storage.awrite(lambda db, a, *, b: (a, b), 1, b=2) == (1, 2)


def test_each_thread_keeps_its_own_read_connection(empty_storage):
    assert empty_storage.conn() is empty_storage.conn()
    other = empty_storage.executor.submit(empty_storage.conn).result()
    assert other is not empty_storage.conn()


# -- opening, migrating, closing -------------------------------------------------------------


def test_a_failing_migration_is_rolled_back_and_reported(tmp_path, monkeypatch):
    import bot.storage as storage_module

    path = tmp_path / "m.db"
    Storage(path, seed=False).close()

    def broken(db):
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration broke")

    monkeypatch.setattr(storage_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="migration broke"):
        Storage(path, seed=False)
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert raw.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    finally:
        raw.close()


def test_an_older_database_gets_only_the_migrations_it_lacks(tmp_path, monkeypatch):
    import bot.storage as storage_module

    path = tmp_path / "old.db"
    old = MIGRATIONS.index(glossary_store.migrate_import_journal) + 1  # what opening needs
    monkeypatch.setattr(storage_module, "MIGRATIONS", MIGRATIONS[:old])
    Storage(path, seed=False).close()
    ran = []
    monkeypatch.setattr(storage_module, "MIGRATIONS", [
        *MIGRATIONS[:old], *[lambda db, f=f: ran.append(f) or f(db) for f in MIGRATIONS[old:]]])
    with Storage(path, seed=False) as s:
        assert ran == MIGRATIONS[old:]
        assert s.read(lambda db: db.execute("PRAGMA user_version").fetchone()[0]) == len(MIGRATIONS)
        assert storage_module.migrate(s.conn()) == len(MIGRATIONS)  # nothing left to do
    assert ran == MIGRATIONS[old:]


def test_a_journal_that_cannot_be_wal_is_refused():
    with pytest.raises(StorageError, match=r"^:memory:: cannot switch to WAL journal mode \(got memory\)$"):
        connect(":memory:")


def test_junk_file_error_names_the_file(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match=f"^{junk}: file is not a database$"):
        connect(junk)


def test_close_leaves_one_self_contained_file_and_refuses_writes(tmp_path):
    """Every connection closed (the writer's, each reader's): SQLite folds
    the WAL back into the file and removes it, so the file alone can be
    copied. A write after close is refused; closing twice is harmless."""
    path = tmp_path / "c.db"
    s = Storage(path, seed=False)
    s.write(lambda db: db.execute("INSERT INTO meta VALUES ('k', 'v')"))
    s.read(lambda db: db.execute("SELECT 1").fetchone())
    s.executor.submit(s.read, lambda db: db.execute("SELECT 1").fetchone()).result()
    s.close()
    s.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db"]
    with pytest.raises(StorageError, match="^storage is closed$"):
        s.submit(lambda db: None)  # (submit: a write queued to a writer that is gone would never end)


def test_close_lets_a_running_read_finish_on_its_connection(tmp_path):
    """close() waits for the reads already running before it closes their
    connections: a search started just before shutdown still answers."""
    s = Storage(tmp_path / "r.db", seed=False)
    started, go = threading.Event(), threading.Event()

    def read_in_two_steps():
        s.read(lambda db: db.execute("SELECT 1").fetchone())  # this reader thread's connection
        started.set()
        go.wait()
        return s.read(lambda db: db.execute("SELECT count(*) FROM meta").fetchone()[0])

    running = s.executor.submit(read_in_two_steps)
    started.wait()
    closing = threading.Thread(target=s.close)
    closing.start()
    # Give a close() that did not wait the time to close the connection
    # under the read. Timing can only make this test miss that bug, never
    # fail on correct code: a correct close() is still waiting here.
    closing.join(timeout=0.5)
    go.set()
    assert running.result() >= 0
    closing.join()


def test_an_import_left_by_a_dead_process_is_rolled_back_on_open(tmp_path, caplog):
    import socket

    path = tmp_path / "r.db"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with Storage(path, seed=False) as s:
        s.write(lambda db: db.execute(
            "INSERT INTO import_run (id, actor, pid, host, started_at) VALUES ('imp-1', 't', ?, ?, 'then')",
            [int(dead), socket.gethostname()]))
    with caplog.at_level("WARNING", logger="shopbot"), Storage(path, seed=False) as s:
        assert s.read(lambda db: db.execute("SELECT count(*) FROM import_run").fetchone()[0]) == 0
    assert [r.getMessage() for r in caplog.records] == [
        "rolled back glossary import imp-1, left unfinished by a process that ended"]


# -- backup and check when things go wrong ----------------------------------------------------


def test_backup_into_a_missing_folder_or_from_a_broken_source(storage, tmp_path):
    with pytest.raises(StorageError, match=f"^folder {tmp_path / 'no'} does not exist$"):
        storage.backup(tmp_path / "no" / "b.db")
    # The source cannot be read (here: this thread's connection is gone):
    # reported, and no half-written copy is left behind.
    storage.conn().conn.close()
    with pytest.raises(StorageError, match="^backup failed: Cannot operate on a closed database"):
        storage.backup(tmp_path / "b.db")
    assert not (tmp_path / "b.db").exists()


def test_a_check_that_cannot_run_says_which_and_why(seeded_template, tmp_path):
    """The root page of tm_unit damaged: SQLite cannot walk it at all, so
    both checks fail; each is reported with SQLite's reason, never raised."""
    raw = sqlite3.connect(seeded_template)
    try:
        root, = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'tm_unit'").fetchone()
        page_size, = raw.execute("PRAGMA page_size").fetchone()
    finally:
        raw.close()
    data = bytearray(seeded_template.read_bytes())
    data[(root - 1) * page_size] = 0x07  # not a b-tree page type
    path = tmp_path / "root.db"
    path.write_bytes(bytes(data))
    with Storage(path) as s:
        problems = s.check()
    assert problems == ["integrity check failed: database disk image is malformed",
                        "foreign key check failed: database disk image is malformed"]


def test_a_transaction_inside_a_write_joins_it(empty_storage):
    """run_in_transaction called from a job (nested) runs inside the job's
    transaction, with the same connection and its arguments: when the job
    fails afterwards, the nested write goes with it."""
    from bot.storage import run_in_transaction

    def put(db, key, *, value):
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", [key, value])
        return db

    def job(db, fail):
        assert run_in_transaction(db, put, "nested" + str(fail), value="v") is db
        if fail:
            raise RuntimeError("after the nested write")

    empty_storage.write(job, False)
    with pytest.raises(RuntimeError):
        empty_storage.write(job, True)
    own = connect(empty_storage.path)  # not in a transaction: its own BEGIN ... COMMIT
    try:
        assert run_in_transaction(own, put, "outer", value="w") is own
    finally:
        own.conn.close()
    assert empty_storage.read(lambda db: [tuple(r) for r in db.execute(
        "SELECT key, value FROM meta WHERE key LIKE 'nested%' OR key = 'outer'")]) == [
        ("nestedFalse", "v"), ("outer", "w")]


def test_the_bot_state_row_keeps_state_and_name_apart(empty_storage):
    """bot_state: one row, written by the process that runs the bot and read by
    the web app's /healthz and invite links. Its state and its @name are
    written by different calls: neither may wipe the other."""
    def row(db):
        return db.execute("SELECT id, state, pid, updated_at, username FROM bot_state").fetchall()

    def fresh(stamp):  # strftime('%Y-%m-%dT%H:%M:%SZ'), UTC, written just now
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return abs(datetime.now(timezone.utc) - when) < timedelta(minutes=5)

    read = empty_storage.read
    assert (read(bot_state), read(bot_username), read(row)) == ("off", "", [])
    empty_storage.write(set_bot_username, "shop_bot")  # a name before any state: the bot is "off"
    [(ident, state, pid, stamp, name)] = read(row)
    assert (ident, state, pid, name) == (1, "off", 0, "shop_bot") and fresh(stamp)
    empty_storage.write(set_bot_state, "polling", 4242)
    [(ident, state, pid, stamp, name)] = read(row)
    assert (ident, state, pid, name) == (1, "polling", 4242, "shop_bot") and fresh(stamp)
    assert (read(bot_state), read(bot_username)) == ("polling", "shop_bot")
    empty_storage.write(set_bot_username, "other_bot")
    assert read(row)[0][1:3] == ("polling", 4242) and read(bot_username) == "other_bot"


def test_the_bot_state_table_holds_one_row_and_a_name_by_default(tmp_path):
    """A state written before any name has the name "" (not NULL), and the
    table refuses a second row: every reader reads row 1."""
    with Storage(tmp_path / "s.db", seed=False) as storage:
        storage.write(set_bot_state, "starting", 7)
        assert storage.read(lambda db: db.execute("SELECT username FROM bot_state").fetchone()[0]) == ""
        assert storage.read(bot_username) == ""
        for sql in ("INSERT INTO bot_state (id, state, pid, updated_at) VALUES (2, 'x', 1, 'now')",
                    "INSERT INTO bot_state (id, state, pid, updated_at) VALUES (1, 'x', 1, 'now')",
                    "UPDATE bot_state SET state = NULL", "UPDATE bot_state SET pid = NULL",
                    "UPDATE bot_state SET updated_at = NULL", "UPDATE bot_state SET username = NULL"):
            with pytest.raises(sqlite3.IntegrityError):
                storage.write(lambda db, sql=sql: db.execute(sql))


def test_a_connection_writes_nothing_it_does_not_commit_itself(tmp_path):
    """connect() runs in autocommit: a statement outside BEGIN is committed at
    once, never left in a transaction the sqlite3 module opened by itself
    (which would hold the write lock and hide the row from everyone else)."""
    one, two = connect(tmp_path / "a.db"), connect(tmp_path / "a.db")
    one.execute("CREATE TABLE t (n INTEGER)")
    one.conn.execute("INSERT INTO t VALUES (1)")  # the sqlite3 connection itself, as the writer uses it
    assert not one.conn.in_transaction
    assert two.execute("SELECT n FROM t").fetchall() == [(1,)]
    one.conn.close()
    two.conn.close()


@pytest.mark.parametrize("read_threads", [None, 2])
def test_reads_run_on_at_most_read_threads_threads(tmp_path, read_threads):
    """The reader pool is bounded (4 by default): each reader thread keeps a
    connection open, so a burst of reads must not open one per read."""
    kwargs = {} if read_threads is None else {"read_threads": read_threads}
    limit = read_threads or 4
    with Storage(tmp_path / "r.db", seed=False, **kwargs) as storage:
        go = threading.Event()
        names: list[str] = []

        def read(db, wait):
            names.append(threading.current_thread().name)
            if wait:
                go.wait()

        # `limit` reads hold their threads; one more then finds none idle: a
        # bounded pool queues it, an unbounded one would start a new thread.
        futures = [storage.executor.submit(storage.read, read, True) for _ in range(limit)]
        futures.append(storage.executor.submit(storage.read, read, False))
        go.set()
        for f in futures:
            f.result()
        assert len(set(names)) == limit
        assert all(name.startswith("shopbot-read") for name in names)


def test_deferred_writes_too_go_at_most_64_to_a_transaction(empty_storage):
    """Held deferred jobs and the job that takes them along make one batch
    of at most 64, like a burst of ordinary writes."""
    job = _job_seeing_commits(empty_storage)
    blocker, release = _blocked_writer(empty_storage)
    futures = [empty_storage.defer(job, n) for n in range(129)] + [empty_storage.submit(job, 129)]
    release.set()
    blocker.result()
    assert [f.result(timeout=30) for f in futures] == [0] * 64 + [64] * 64 + [128] * 2


def test_the_writer_holds_deferred_jobs_from_the_first_one(tmp_path):
    """The waits the writer asks of its queue, read on a clock the test
    moves by hand: none while nothing is held (it blocks; a mutant that
    waited 0 there ran empty transactions in a loop, a core at 100 %), then
    DEFER_SECONDS counted from the first held job, not restarted by the
    next one. (The writer runs in the test's thread here: its queue ends
    with the stop mark, so run() returns.)"""
    waits = []

    class Recording(queue.Queue):
        def get(self, block=True, timeout=None):
            waits.append(timeout)
            return super().get(block, timeout)

    times = [100.0, 100.0, 100.25]
    writer = _Writer(tmp_path / "w.db", seed=False)
    writer.clock = lambda: times.pop(0) if len(times) > 1 else times[0]
    writer.jobs = Recording()
    held = [_Deferred(), _Deferred()]
    for n, future in enumerate(held):
        writer.jobs.put((lambda db, n: n, (n,), {}, future))
    writer.jobs.put(None)
    writer.run()
    assert waits == [None, DEFER_SECONDS, DEFER_SECONDS - 0.25]
    assert [f.result(timeout=0) for f in held] == [0, 1]  # written at the stop


def test_a_deferred_write_after_close_is_refused_too(tmp_path):
    s = Storage(tmp_path / "c.db", seed=False)
    s.close()
    with pytest.raises(StorageError, match="^storage is closed$"):
        s.defer(lambda db: None)
