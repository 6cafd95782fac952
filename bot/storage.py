"""SQLite storage: connections, migrations, one writer thread, backup and check.

The access pattern is Datasette's, made for an asyncio bot:

* every write runs on ONE writer thread with its own connection, inside
  ``BEGIN IMMEDIATE`` (sqlite-utils' ``atomic()`` issues a deferred ``BEGIN``;
  a read-then-write transaction then fails with "database is locked" without
  waiting for the busy timeout);
* reads run on any thread with a thread-local connection; WAL lets them run
  while the writer writes;
* the asyncio side awaits both through ``aread``/``awrite`` and never blocks the
  event loop. The CLI calls the same code synchronously through ``read``/``write``.

``synchronous=FULL``: a write we acknowledged survives a crash and a power cut.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, TypeVar

import sqlite_utils

from glossary import store as glossary_store

from .people import chats, directory as people, signin
from .knowledge import files as fix_files, fixes, imports, suggestions, termbase
from .translation import memory
from .insight import usage

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
#: How long a write waits for another process's lock, in busy timeouts
#: tried one after the other, before it fails (a large import: about a minute).
LOCK_PATIENCE = 600.0

log = logging.getLogger("shopbot")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (extended codes included): another
    connection holds the lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # raised without a code by the sqlite3 module itself
        return "locked" in str(exc)
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

def migrate_exchange(db: sqlite_utils.Database) -> None:
    """Exchange with other tools (issue 17): imported concepts keep their
    source and file id; TMX segments keep their inline codes, units the
    file's date, and a second translation of one source is kept as an
    alternative instead of overwriting the first."""
    glossary_store.migrate_external_ids(db)
    memory.migrate_tmx_exchange(db)


def migrate_bot_state(db: sqlite_utils.Database) -> None:
    """The bot's state (off, starting, polling, ...) in one row, written by the
    process that runs the bot and read by the web app's /healthz when the web
    app serves from a process of its own (``shopbot run`` with long polling)."""
    db.execute("CREATE TABLE bot_state (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, "
               "pid INTEGER NOT NULL, updated_at TEXT NOT NULL, username TEXT NOT NULL DEFAULT '')")


def set_bot_state(db: sqlite_utils.Database, state: str, pid: int) -> None:
    """The bot's state; its @name (set_bot_username) is kept."""
    db.execute("INSERT INTO bot_state (id, state, pid, updated_at, username) VALUES (1, ?, ?, "
               "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), '') ON CONFLICT (id) DO UPDATE SET "
               "state = excluded.state, pid = excluded.pid, updated_at = excluded.updated_at", [state, pid])


def set_bot_username(db: sqlite_utils.Database, username: str) -> None:
    """The bot's @name, written at each start in either layout: a web app
    started later (`shopbot web`) still makes invites' deep links."""
    db.execute("INSERT INTO bot_state (id, state, pid, updated_at, username) VALUES (1, 'off', 0, "
               "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?) ON CONFLICT (id) DO UPDATE SET "
               "username = excluded.username", [username])


def bot_username(db: sqlite_utils.Database) -> str:
    """The @name the bot's process last wrote ("" when none ever ran)."""
    row = db.execute("SELECT username FROM bot_state WHERE id = 1").fetchone()
    return row[0] if row else ""


def bot_state(db: sqlite_utils.Database) -> str:
    """The state the bot's process last wrote; "off" when none ever ran."""
    row = db.execute("SELECT state FROM bot_state WHERE id = 1").fetchone()
    return row[0] if row else "off"


#: The ordered list of schema migrations. Entry N (1-based) brings the database
#: to ``PRAGMA user_version = N``. Never edit a released entry: append.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    glossary_store.migrate_v1,
    memory.migrate_v2,
    people.migrate_v3,
    chats.migrate_fsm,
    glossary_store.migrate_missing_queries,
    chats.migrate_replies,
    fixes.migrate_fixes,
    suggestions.migrate_suggestions,
    glossary_store.migrate_import_journal,
    glossary_store.migrate_term_gender,
    glossary_store.migrate_seed_fr_genders,
    migrate_exchange,
    signin.migrate_web_signin,
    termbase.migrate_editor,
    imports.migrate_uploads,
    usage.migrate_usage,
    migrate_bot_state,
    fixes.migrate_respot_mixed_terms,
]


#: Data loaded once into a new database, after the migrations (the seed glossary,
#: the phrasebook of the translation memory).
SEEDS: list[Callable[[sqlite_utils.Database], object]] = [
    glossary_store.seed,
    memory.seed,
    fix_files.seed,
]


class StorageError(RuntimeError):
    """A storage problem a person can act on (bad path, corrupt file...)."""


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open a connection with the pragmas every connection needs."""
    path = Path(path)
    try:
        # Autocommit (isolation_level=None): every transaction is an explicit
        # BEGIN IMMEDIATE (run_in_transaction, the writer), never one the
        # sqlite3 module opens by itself and leaves open. The busy timeout is
        # set by the pragma below (connect's own timeout= would set the same).
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StorageError(f"{path}: cannot switch to WAL journal mode (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path}: {exc}") from exc
    return sqlite_utils.Database(conn)


def run_in_transaction(db: sqlite_utils.Database, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(db, *args, **kwargs)`` inside BEGIN IMMEDIATE; commit, or roll back on error."""
    conn = db.conn
    if conn.in_transaction:  # nested: the outer call owns the transaction
        return fn(db, *args, **kwargs)
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(db, *args, **kwargs)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations, each in its own transaction. Returns the version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StorageError(
            f"the database is at schema version {version}, newer than this "
            f"shopbot knows ({len(MIGRATIONS)}): upgrade shopbot"
        )
    for number in range(version + 1, len(MIGRATIONS) + 1):

        def step(db: sqlite_utils.Database, number: int = number) -> None:
            MIGRATIONS[number - 1](db)
            db.execute(f"PRAGMA user_version = {number}")

        run_in_transaction(db, step)
    return len(MIGRATIONS)


#: How long a deferred write (Storage.defer) may wait for others to share its
#: transaction.
DEFER_SECONDS = 0.5


class _Deferred(Future):
    """The future of a deferred write: nobody waits for it."""


class _Writer(threading.Thread):
    """The single writer: a thread that owns the write connection."""

    def __init__(self, path: Path, seed: bool, lock_patience: float = LOCK_PATIENCE):
        super().__init__(name="shopbot-writer", daemon=True)
        self.path = path
        self.seed = seed
        self.lock_patience = lock_patience
        self.jobs: queue.Queue = queue.Queue()
        self.ready: Future = Future()
        # The hold of deferred jobs is timed by this clock: a test stops it to
        # read the wait the writer asks of the queue exactly.
        self.clock = time.monotonic

    def run(self) -> None:
        try:
            db = connect(self.path)
            migrate(db)
            if self.seed:
                for seed_fn in SEEDS:
                    run_in_transaction(db, seed_fn)
        except BaseException as exc:  # reported to whoever opened the storage
            self.ready.set_exception(exc)
            return
        self.ready.set_result(None)
        held: list = []  # deferred jobs waiting for company (Storage.defer)
        due = 0.0
        while True:
            try:
                job = self.jobs.get(timeout=max(0.0, due - self.clock()) if held else None)
            except queue.Empty:
                job = ()  # time is up for the held jobs
            if job is None:
                if held:
                    self._run_batch(db, held)
                break
            if job and isinstance(job[3], _Deferred) and len(held) < 63:
                if not held:
                    due = self.clock() + DEFER_SECONDS
                held.append(job)
                continue
            batch, held = held + ([job] if job else []), []
            # Group commit: take what else is queued (up to 64 jobs) into the
            # same transaction, so that many small writes (one per chat
            # update) share one fsync. Each job runs in its own savepoint: a
            # failing job is rolled back alone.
            while len(batch) < 64:
                try:
                    more = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.jobs.put(None)
                    break
                batch.append(more)
            self._run_batch(db, batch)
        db.conn.close()

    @staticmethod
    def _begin(conn: sqlite3.Connection, patience: float) -> None:
        """BEGIN IMMEDIATE, waiting out another process's long write.

        Each attempt waits the busy timeout (10 s); a CLI import can hold the
        lock longer. Nothing has run yet, so trying again is safe: the bot's
        writes wait for the lock instead of failing, and the update behind
        them is answered late rather than never (it was already confirmed to
        Telegram, which would not deliver it again)."""
        deadline = time.monotonic() + patience
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                log.warning("database locked by another process; still waiting to write")

    def _run_batch(self, db: sqlite_utils.Database, batch: list) -> None:
        conn = db.conn
        done: list[tuple[Future, Any]] = []
        try:
            self._begin(conn, self.lock_patience)
            for fn, args, kwargs, future in batch:
                if not future.set_running_or_notify_cancel():
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    result = fn(db, *args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    future.set_exception(exc)
                    continue
                conn.execute("RELEASE job")
                done.append((future, result))
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - the commit itself failed
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for future, _ in done:
                future.set_exception(exc)
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        # Only now, after COMMIT: a caller told "done" can rely on it.
        for future, result in done:
            future.set_result(result)


class Storage:
    """The database of one shopbot: one writer thread, thread-local readers."""

    def __init__(self, path: str | Path, *, read_threads: int = 4, seed: bool = True,
                 lock_patience: float = LOCK_PATIENCE):
        self.path = Path(path)
        if self.path.is_dir():
            raise StorageError(f"{self.path} is a folder, not a database file")
        if not self.path.parent.exists():
            raise StorageError(f"folder {self.path.parent} does not exist")
        self._local = threading.local()
        self._readers: list[sqlite_utils.Database] = []
        self._readers_lock = threading.Lock()
        self._writer = _Writer(self.path, seed, lock_patience)
        self._writer.start()
        self._writer.ready.result()  # raises the migration error, if any
        self._pool = ThreadPoolExecutor(read_threads, thread_name_prefix="shopbot-read")
        self._closed = False
        # A glossary import whose process died left its batches behind: undo them.
        for import_id in glossary_store.recover_imports(self.write, self.read):
            log.warning("rolled back glossary import %s, left unfinished by a process that ended", import_id)

    # -- reads -----------------------------------------------------------
    def conn(self) -> sqlite_utils.Database:
        """This thread's read connection (opened on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = connect(self.path)
            self._local.db = db
            with self._readers_lock:
                self._readers.append(db)
        return db

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` on this thread's connection (sync callers)."""
        return fn(self.conn(), *args)

    async def aread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` on a reader thread without blocking the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.read, fn, *args)

    async def arun(self, fn: Callable[..., T], *args: Any) -> T:
        """Run any blocking ``fn(*args)`` (a search, say) on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The reader threads, for services that read on them (``arun`` does)."""
        return self._pool

    # -- writes ----------------------------------------------------------
    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future:
        if self._closed:
            raise StorageError("storage is closed")
        future: Future = Future()
        self._writer.jobs.put((fn, args, kwargs, future))
        return future

    def defer(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future:
        """A write nobody waits for (a log row): held up to DEFER_SECONDS and
        committed with the next writes in one transaction. Fewer transactions
        mean the write lock is taken less often, so that another process
        writing the same file (the web app beside the bot) waits less."""
        if self._closed:
            raise StorageError("storage is closed")
        future: Future = _Deferred()
        self._writer.jobs.put((fn, args, kwargs, future))
        return future

    def write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(db, *args, **kwargs)`` in a write transaction and wait for the commit."""
        if threading.current_thread() is self._writer:
            raise StorageError("write() called from the writer thread: call fn directly")
        return self.submit(fn, *args, **kwargs).result()

    async def awrite(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Like ``write`` for asyncio: returns once the transaction is committed."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    # -- maintenance -----------------------------------------------------
    def backup(self, dest: str | Path) -> Path:
        """Online backup (sqlite3 backup API): consistent while others write."""
        dest = Path(dest)
        if dest.exists():
            raise StorageError(f"{dest} exists already; choose a new file")
        if not dest.parent.exists():
            raise StorageError(f"folder {dest.parent} does not exist")
        target = sqlite3.connect(str(dest))
        try:
            self.conn().conn.backup(target, pages=1024)
        except sqlite3.Error as exc:
            target.close()
            dest.unlink(missing_ok=True)
            raise StorageError(f"backup failed: {exc}") from exc
        target.close()
        return dest

    def check(self) -> list[str]:
        """``PRAGMA integrity_check`` and ``foreign_key_check``; [] when healthy.

        A page too damaged for SQLite to walk makes the check itself fail
        ("database disk image is malformed"): that is reported as a problem,
        never raised, so that ``shopbot db check`` says what it found."""
        db = self.conn()
        problems: list[str] = []
        try:
            rows = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
            problems += [r for r in rows if r != "ok"]
        except sqlite3.DatabaseError as exc:
            problems.append(f"integrity check failed: {exc}")
        try:
            for table, rowid, parent, _ in db.execute("PRAGMA foreign_key_check").fetchall():
                problems.append(f"{table} row {rowid}: missing {parent}")
        except sqlite3.DatabaseError as exc:
            problems.append(f"foreign key check failed: {exc}")
        return problems

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.jobs.put(None)
        self._writer.join(timeout=30)
        self._pool.shutdown(wait=True)
        with self._readers_lock:
            for db in self._readers:
                db.conn.close()
            self._readers.clear()

    def __enter__(self) -> "Storage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
