"""The terminology core: concepts, terms, normalisation, search, term spotting,
import and export. It knows nothing of Telegram or of the application.

    g = Glossary(connection_factory)      # e.g. Storage.conn
    g.search("calendring")                # ranked concepts, with match reasons
    g.spot("涂布机 stopped again, tab ok") # glossary terms inside a message
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

import sqlite_utils

from .index import Spot, TermIndex, TermRef
from .model import (CATEGORIES, LANGS, TERM_TYPES, Concept, GlossaryError, Term,
                    validate_concept)
from .normalize import is_han, is_hangul, normalize
from .search import MAX_QUERY_CHARS, SearchResult
from .search import search as _search
from .store import GlossaryStats, ImportReport, glossary_rev, load_concepts, stats

__all__ = [
    "CATEGORIES", "LANGS", "TERM_TYPES", "Concept", "Glossary", "GlossaryError",
    "GlossaryStats", "ImportReport", "Lookup", "SearchResult", "Spot", "Term", "TermRef",
    "validate_concept",
]


@dataclass
class Lookup:
    """The answer to a person asking for a term: the best matches and a short
    key for the first (``concept_key``), or, when nothing matched, the
    nearest concepts."""

    results: list[SearchResult]
    key: int | None = None
    nearest: list[Concept] = field(default_factory=list)


class Glossary:
    """Search and spotting over the glossary tables of one database.

    ``conn`` returns a connection usable by the calling thread (the
    application passes ``Storage.conn``, which keeps one per thread). The
    in-memory index is built on first use and rebuilt when ``glossary_rev``
    moves, so an import made by the CLI in another process shows up in the
    running bot at its next lookup. Safe to share between threads.
    """

    def __init__(self, conn: Callable[[], sqlite_utils.Database]):
        self._conn = conn
        self._index: TermIndex | None = None
        self._lock = threading.Lock()

    def index(self) -> TermIndex:
        db = self._conn()
        rev = glossary_rev(db)
        index = self._index
        if index is not None and index.rev == rev:
            return index
        with self._lock:  # one thread rebuilds; the others wait for it
            if self._index is None or self._index.rev != rev:
                # Read rev and rows in one transaction so they agree.
                with db.conn:
                    db.execute("BEGIN")
                    rev = glossary_rev(db)
                    cursor = db.execute("SELECT id, concept_id, lang, type, norm FROM term ORDER BY concept_id, id")
                    self._index = TermIndex(cursor, rev)
            return self._index

    def search(self, query: str, lang: str | None = None, limit: int = 10) -> list[SearchResult]:
        return _search(self._conn(), self.index(), query, lang=lang, limit=limit)

    def spot(self, text: str) -> list[Spot]:
        return self.index().spot(text)

    def concept(self, concept_id: str) -> Concept | None:
        return load_concepts(self._conn(), [concept_id]).get(concept_id)

    def concept_key(self, concept_id: str) -> int | None:
        """A short integer key for a concept (Telegram callback data is 64 bytes)."""
        row = self._conn().execute("SELECT rowid FROM concept WHERE id = ?", [concept_id]).fetchone()
        return row[0] if row else None

    def concept_by_key(self, key: int) -> Concept | None:
        row = self._conn().execute("SELECT id FROM concept WHERE rowid = ?", [key]).fetchone()
        return self.concept(row[0]) if row else None

    def lookup(self, query: str, limit: int = 3) -> Lookup:
        """``search``, then the first match's key or the nearest concepts: all
        a lookup needs in one call (the bot makes it in one trip to a reader
        thread)."""
        results = self.search(query, None, limit)
        if results:
            return Lookup(results, self.concept_key(results[0].concept.id))
        return Lookup([], None, self.nearest(query, limit))

    def nearest(self, query: str, limit: int = 3) -> list[Concept]:
        """The closest concepts when search found nothing ("did you mean")."""
        norm = normalize(query)[:MAX_QUERY_CHARS]
        if not norm:
            return []
        ids = self.index().nearest(norm, limit)
        if not ids:  # Chinese/Korean: concepts sharing the most characters
            chars = list({c for c in norm if is_han(c) or is_hangul(c)})[:20]
            if chars:
                marks = ",".join("?" * len(chars))
                ids = [r[0] for r in self._conn().execute(
                    f"SELECT t.concept_id FROM term_gram g JOIN term t ON t.id = g.term_id "
                    f"WHERE g.gram IN ({marks}) GROUP BY t.concept_id ORDER BY count(*) DESC LIMIT ?",
                    [*chars, limit])]
        found = load_concepts(self._conn(), ids)
        return [found[i] for i in ids if i in found]

    def deprecated_terms(self, lang: str) -> list[str]:
        """Terms that must not appear in ``lang`` output (translation bans them)."""
        return [r[0] for r in self._conn().execute(
            "SELECT text FROM term WHERE lang = ? AND type = 'deprecated'", [lang])]

    def stats(self) -> GlossaryStats:
        return stats(self._conn())
