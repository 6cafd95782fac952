"""Usage counters: glossary lookups and translations per UTC day, kind and
language, in one compact table (``usage_count``: one row per day, kind and
language, whatever the traffic).

Counting must never make a person wait: ``Usage.add`` only adds to a
counter in memory and, when no flush is queued yet, queues ONE job on the
storage's writer (``Storage.submit``, not awaited). Every count made before
that job runs is written by it, so under load many counts share one write
(and the writer's group commit shares its fsync with the bot's other
writes); at rest each count is one small write. A count is lost only if the
process dies in the few milliseconds between the count and its write.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import datetime, timezone

import sqlite_utils

from glossary.model import LANGS
from glossary.store import execute_script

log = logging.getLogger(__name__)

LOOKUP = "lookup"  # a glossary lookup asked by a person (bot private chat, web /ask)
TRANSLATION = "translation"  # a text translated for a person, by target language
KINDS = (LOOKUP, TRANSLATION)


def migrate_usage(db: sqlite_utils.Database) -> None:
    """Usage counters for the dashboard (issue 12)."""
    execute_script(db, """
        CREATE TABLE usage_count (
            day TEXT NOT NULL,       -- UTC date, YYYY-MM-DD
            kind TEXT NOT NULL,      -- lookup | translation
            lang TEXT NOT NULL,      -- zh ko ms fr en, or '' when unknown
            n INTEGER NOT NULL,
            PRIMARY KEY (day, kind, lang)
        ) WITHOUT ROWID;
    """)


def write_counts(db: sqlite_utils.Database, counts: dict[tuple[str, str, str], int]) -> None:
    """Add ``counts`` ((day, kind, lang) → n) to the table (in the caller's write)."""
    db.conn.executemany(
        "INSERT INTO usage_count (day, kind, lang, n) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (day, kind, lang) DO UPDATE SET n = n + excluded.n",
        [(day, kind, lang, n) for (day, kind, lang), n in counts.items() if n > 0])


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


class Usage:
    """The counters of one storage; safe to call from any thread or the event loop."""

    def __init__(self, storage):
        self._storage = storage
        self._lock = threading.Lock()
        self._pending: Counter[tuple[str, str, str]] = Counter()
        self._queued = False

    def add(self, kind: str, lang: str | None, n: int = 1) -> None:
        if kind not in KINDS or n < 1:
            raise ValueError(f"unknown usage kind {kind!r}")
        key = (today(), kind, lang if lang in LANGS else "")
        with self._lock:
            self._pending[key] += n
            if self._queued:
                return  # the queued flush will write this count too
            self._queued = True
        try:
            future = self._storage.submit(self._flush)
        except Exception as exc:  # noqa: BLE001 - the storage is closing: the count is dropped, the answer is not
            with self._lock:
                self._queued = False
            log.warning("usage count dropped: %s", exc)
            return
        future.add_done_callback(_log_failure)

    def looked_up(self, lang: str | None) -> None:
        """A person's glossary lookup (found or not), by the asker's language."""
        self.add(LOOKUP, lang)

    def translated(self, result) -> None:
        """A translation served to a person (``bot.translation.engine.Translation``),
        by target language; nothing to translate (``unchanged``) is not counted."""
        if result.provenance != "unchanged":
            self.add(TRANSLATION, result.target)

    def _flush(self, db: sqlite_utils.Database) -> None:
        """On the writer thread: take every count made so far, and write it."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._queued = False
        write_counts(db, pending)


def _log_failure(future) -> None:
    if future.exception() is not None:
        log.warning("could not write usage counts: %s", future.exception())
