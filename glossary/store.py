"""Glossary tables and the functions that read and write them.

Functions here take a ``sqlite_utils.Database`` and never open transactions:
the caller decides (the application runs writes on its single writer thread
inside ``BEGIN IMMEDIATE``). Every write bumps ``meta.glossary_rev`` in the same
transaction, which is how in-memory search indexes, in this process or
another one, learn that they are stale.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import resources
from typing import Callable, Iterable

import sqlite_utils

from .model import GENDERS, LANGS, Concept, GlossaryError, Term, validate_concept
from .normalize import flat, is_han, is_hangul, normalize, pinyin_keys, script_of, scrub

SEED_VERSION = "1"


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def execute_script(db: sqlite_utils.Database, script: str) -> None:
    """Run several SQL statements inside the caller's transaction.

    ``executescript`` would COMMIT first, and a migration that fails half way
    would leave half a schema behind. Statements are cut where SQLite says a
    statement is complete, so trigger bodies (BEGIN ... END;) stay whole.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip().strip(";").strip():
                db.execute(pending.strip().rstrip(";"))
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement: {pending.strip()[:60]}")


def migrate_v1(db: sqlite_utils.Database) -> None:
    """Concepts, terms (with their search keys), definitions, audit, meta."""
    execute_script(db, 
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('glossary_rev', '0');

        CREATE TABLE concept (
            id TEXT PRIMARY KEY,
            category TEXT NOT NULL,
            equipment INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'reviewed')),
            source TEXT NOT NULL DEFAULT '',
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE definition (
            concept_id TEXT NOT NULL REFERENCES concept(id) ON DELETE CASCADE,
            lang TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (concept_id, lang)
        );

        -- norm/flat/script/pinyin/initials are derived from text at write time
        -- (glossary.normalize) so that search is index lookups, not Python loops.
        CREATE TABLE term (
            id INTEGER PRIMARY KEY,
            concept_id TEXT NOT NULL REFERENCES concept(id) ON DELETE CASCADE,
            lang TEXT NOT NULL CHECK (lang IN ('zh', 'ko', 'ms', 'fr', 'en')),
            text TEXT NOT NULL,
            type TEXT NOT NULL CHECK (type IN ('preferred', 'admitted', 'abbreviation', 'deprecated')),
            pos TEXT,
            position INTEGER NOT NULL,
            norm TEXT NOT NULL,
            flat TEXT NOT NULL,
            script TEXT NOT NULL,
            pinyin TEXT,
            initials TEXT,
            UNIQUE (concept_id, lang, text)
        );
        CREATE INDEX term_concept ON term(concept_id);
        CREATE INDEX term_norm ON term(norm);
        CREATE INDEX term_flat ON term(flat);
        CREATE INDEX term_script ON term(script);
        CREATE INDEX term_pinyin ON term(pinyin) WHERE pinyin IS NOT NULL;
        CREATE INDEX term_initials ON term(initials) WHERE initials IS NOT NULL;

        -- Substring search for queries of 3+ characters. Trigram cannot see
        -- shorter queries (FIELD-NOTES §3): search routes those to term_gram.
        CREATE VIRTUAL TABLE term_fts USING fts5(
            norm, content='term', content_rowid='id', tokenize='trigram'
        );
        CREATE TRIGGER term_ai AFTER INSERT ON term BEGIN
            INSERT INTO term_fts(rowid, norm) VALUES (new.id, new.norm);
        END;
        CREATE TRIGGER term_ad AFTER DELETE ON term BEGIN
            INSERT INTO term_fts(term_fts, rowid, norm) VALUES ('delete', old.id, old.norm);
        END;
        CREATE TRIGGER term_au AFTER UPDATE OF norm ON term BEGIN
            INSERT INTO term_fts(term_fts, rowid, norm) VALUES ('delete', old.id, old.norm);
            INSERT INTO term_fts(rowid, norm) VALUES (new.id, new.norm);
        END;

        -- Every 1- and 2-character piece of the Chinese and Korean terms: the
        -- index behind 1-2 character queries (涂布, 탭), which trigram cannot see.
        CREATE TABLE term_gram (
            gram TEXT NOT NULL,
            term_id INTEGER NOT NULL REFERENCES term(id) ON DELETE CASCADE,
            PRIMARY KEY (gram, term_id)
        ) WITHOUT ROWID;
        CREATE INDEX term_gram_term ON term_gram(term_id);

        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            detail TEXT
        );
        CREATE INDEX audit_entity ON audit(entity, entity_id);
        """
    )


def migrate_missing_queries(db: sqlite_utils.Database) -> None:
    """Lookups that found nothing: what the glossary lacks, for the leads."""
    execute_script(db, 
        """
        CREATE TABLE missing_query (
            id INTEGER PRIMARY KEY,
            query TEXT NOT NULL,
            norm TEXT NOT NULL,
            lang TEXT,
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX missing_query_norm ON missing_query(norm);
        """
    )


def log_missing(db: sqlite_utils.Database, query: str, lang: str | None, actor: str) -> None:
    query = scrub(query.strip()[:200])
    if query:
        db.execute("INSERT INTO missing_query (query, norm, lang, actor, at) VALUES (?, ?, ?, ?, ?)",
                    [query, normalize(query), lang, actor, utcnow()])


def missing_queries(db: sqlite_utils.Database, limit: int = 50) -> list[tuple[str, int, str]]:
    """Most asked missing queries: (query as last typed, times, last asked)."""
    return [tuple(r) for r in db.execute(
        "SELECT query, count(*) AS n, max(at) FROM missing_query GROUP BY norm "
        "ORDER BY n DESC, max(at) DESC LIMIT ?", [limit])]


def audit(db: sqlite_utils.Database, actor: str, action: str, entity: str,
          entity_id: str, detail: dict | None = None) -> None:
    """Record who did what, when. Call inside the write it describes."""
    db.execute(
        "INSERT INTO audit (at, actor, action, entity, entity_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [utcnow(), actor, action, entity, entity_id,
         json.dumps(detail, ensure_ascii=False) if detail else None],
    )


def glossary_rev(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = 'glossary_rev'").fetchone()[0])


def _bump_rev(db: sqlite_utils.Database) -> None:
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'glossary_rev'")


def term_keys(lang: str, text: str) -> dict:
    """The derived search columns of one term."""
    norm = normalize(text)
    keys = {"norm": norm, "flat": flat(norm), "script": script_of(norm),
            "pinyin": None, "initials": None}
    if lang == "zh":
        keys["pinyin"], keys["initials"] = pinyin_keys(norm)
    return keys


def cjk_grams(norm: str) -> set[str]:
    """1- and 2-character pieces of the Chinese/Korean runs of a normalised term."""
    grams: set[str] = set()
    for i, ch in enumerate(norm):
        if is_han(ch) or is_hangul(ch):
            grams.add(ch)
            if i + 1 < len(norm) and (is_han(norm[i + 1]) or is_hangul(norm[i + 1])):
                grams.add(norm[i:i + 2])
    return grams


# -- reading ---------------------------------------------------------------

def load_concepts(db: sqlite_utils.Database, ids: Iterable[str]) -> dict[str, Concept]:
    """Concepts by id, with terms (in stored order) and definitions."""
    ids = list(dict.fromkeys(ids))
    found: dict[str, Concept] = {}
    for start in range(0, len(ids), 500):  # stay under SQLite's variable limit
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(
            f"SELECT id, category, equipment, status, source, notes, version FROM concept WHERE id IN ({marks})",
            chunk,
        ):
            found[row[0]] = Concept(
                id=row[0], category=row[1], equipment=bool(row[2]), status=row[3],
                source=row[4], notes=row[5], version=row[6],
            )
        for cid, lang, text, type_, pos, gender in db.execute(
            f"SELECT concept_id, lang, text, type, pos, gender FROM term WHERE concept_id IN ({marks}) "
            "ORDER BY concept_id, position",
            chunk,
        ):
            found[cid].terms.append(Term(lang=lang, text=text, type=type_, pos=pos, gender=gender))
        for cid, lang, text in db.execute(
            f"SELECT concept_id, lang, text FROM definition WHERE concept_id IN ({marks})", chunk
        ):
            found[cid].definitions[lang] = text
        for cid, lang, by, at in db.execute(
            f"SELECT concept_id, lang, reviewed_by, reviewed_at FROM concept_review WHERE concept_id IN ({marks})",
            chunk,
        ):
            found[cid].reviews[lang] = (by, at)
    return found


def all_concepts(db: sqlite_utils.Database) -> list[Concept]:
    ids = [r[0] for r in db.execute("SELECT id FROM concept ORDER BY rowid")]
    loaded = load_concepts(db, ids)
    return [loaded[i] for i in ids]


@dataclass
class GlossaryStats:
    concepts: int
    equipment: int
    reviewed: int
    terms_by_lang: dict[str, int]
    missing_by_lang: dict[str, int]  # concepts with no preferred term in that language
    by_category: dict[str, int]
    rev: int


def stats(db: sqlite_utils.Database) -> GlossaryStats:
    one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    total = one("SELECT count(*) FROM concept")
    terms = dict(db.execute("SELECT lang, count(*) FROM term GROUP BY lang").fetchall())
    with_pref = dict(db.execute(
        "SELECT lang, count(DISTINCT concept_id) FROM term WHERE type = 'preferred' GROUP BY lang"
    ).fetchall())
    return GlossaryStats(
        concepts=total,
        equipment=one("SELECT count(*) FROM concept WHERE equipment"),
        reviewed=one("SELECT count(*) FROM concept WHERE status = 'reviewed'"),
        terms_by_lang={lang: terms.get(lang, 0) for lang in LANGS},
        missing_by_lang={lang: total - with_pref.get(lang, 0) for lang in LANGS},
        by_category=dict(db.execute(
            "SELECT category, count(*) FROM concept GROUP BY category ORDER BY 2 DESC"
        ).fetchall()),
        rev=glossary_rev(db),
    )


# -- writing ---------------------------------------------------------------

@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged"

    def __add__(self, other: "ImportReport") -> "ImportReport":
        return ImportReport(self.added + other.added, self.updated + other.updated,
                            self.unchanged + other.unchanged)


def _write_concept(db: sqlite_utils.Database, concept: Concept, now: str, exists: bool) -> None:
    row = (concept.category, int(concept.equipment), concept.status,
           concept.source, concept.notes, now, concept.id)
    if exists:
        _unreview_changed(db, concept)
        db.execute(
            "UPDATE concept SET category=?, equipment=?, status=?, source=?, notes=?, updated_at=?, "
            "version = version + 1 WHERE id=?", row,
        )
        db.execute("DELETE FROM term WHERE concept_id = ?", [concept.id])
        db.execute("DELETE FROM definition WHERE concept_id = ?", [concept.id])
    else:
        db.execute(
            "INSERT INTO concept (category, equipment, status, source, notes, updated_at, id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row + (now,),
        )
    for i, t in enumerate(concept.terms):
        keys = term_keys(t.lang, t.text)
        term_id = db.conn.execute(
            "INSERT INTO term (concept_id, lang, text, type, pos, gender, position, norm, flat, script, "
            "pinyin, initials) VALUES (:concept_id, :lang, :text, :type, :pos, :gender, :position, :norm, "
            ":flat, :script, :pinyin, :initials)",
            {"concept_id": concept.id, "lang": t.lang, "text": t.text, "type": t.type,
             "pos": t.pos, "gender": t.gender, "position": i, **keys},
        ).lastrowid
        grams = cjk_grams(keys["norm"])
        if grams:
            db.conn.executemany("INSERT INTO term_gram (gram, term_id) VALUES (?, ?)",
                                [(g, term_id) for g in grams])
    db.conn.executemany(
        "INSERT INTO definition (concept_id, lang, text) VALUES (?, ?, ?)",
        [(concept.id, lang, text) for lang, text in concept.definitions.items() if text],
    )


def _check_all(concepts: list[Concept]) -> None:
    seen: set[str] = set()
    for concept in concepts:
        validate_concept(concept, where=f"concept {concept.id!r}")
        if concept.id in seen:
            raise ValueError(f"concept {concept.id!r} appears twice")
        seen.add(concept.id)


def _upsert_chunk(db: sqlite_utils.Database, chunk: list[Concept], actor: str, now: str,
                  report: ImportReport, journal: str | None = None) -> None:
    """Write one chunk of checked concepts. With ``journal`` (an import id),
    first keep each changed concept as it was, so that the import can be
    undone (``rollback_import``)."""
    existing = load_concepts(db, [c.id for c in chunk])
    for concept in chunk:
        old = existing.get(concept.id)
        if old is not None:
            concept = _keep_genders(concept, old)
        if old is not None and old.key() == concept.key():
            report.unchanged += 1
            continue
        if journal is not None:
            db.execute("INSERT OR IGNORE INTO import_undo (import_id, concept_id, before) VALUES (?, ?, ?)",
                       [journal, concept.id, None if old is None else _concept_json(old)])
        _write_concept(db, concept, now, exists=old is not None)
        if old is None:
            report.added += 1
            audit(db, actor, "create", "concept", concept.id)
        else:
            report.updated += 1
            audit(db, actor, "update", "concept", concept.id)


def _keep_genders(concept: Concept, old: Concept) -> Concept:
    """A term the file gives no gender keeps the one stored (from the seed's
    lexicon, or an earlier file): a CSV without ``fr_gender``, or a TBX
    without grammaticalGender, must not wipe them. A gender the file gives wins."""
    stored = {(t.lang, t.text): t.gender for t in old.terms if t.gender}
    if not stored or all(t.gender or (t.lang, t.text) not in stored for t in concept.terms):
        return concept
    terms = [t if t.gender or (t.lang, t.text) not in stored else replace(t, gender=stored[(t.lang, t.text)])
             for t in concept.terms]
    return replace(concept, terms=terms)


def upsert_concepts(
    db: sqlite_utils.Database,
    concepts: list[Concept],
    actor: str,
    progress: Callable[[int], None] | None = None,
    external: dict[str, tuple[str, str]] | None = None,
) -> ImportReport:
    """Merge concepts by id: add new ones, replace changed ones, count the rest.

    Validates everything first, so that a bad concept raises before any row is
    written; run it inside one transaction and a failure leaves nothing behind.
    (A large file: ``import_in_batches``, which holds the write lock briefly.)
    """
    _check_all(concepts)
    report = ImportReport()
    now = utcnow()
    batch = 500
    for start in range(0, len(concepts), batch):
        chunk = concepts[start:start + batch]
        _upsert_chunk(db, chunk, actor, now, report)
        _record_external(db, chunk, external)
        if progress:
            progress(len(chunk))
    if report.added or report.updated:
        _bump_rev(db)
    return report


# -- large imports: short transactions, still all or nothing ------------------
#
# One transaction for 100,000 concepts held the write lock for about 80 s;
# a running bot could not write meanwhile. import_in_batches commits every
# IMPORT_BATCH concepts and journals what each batch replaced (import_undo).
# The import is finished by one small transaction (journal dropped, glossary
# revision bumped: the bot's in-memory index sees the new glossary at once);
# a failure rolls the journal back, and an import whose process died is
# rolled back by the next process that opens the database (recover_imports).

IMPORT_BATCH = 500


def migrate_import_journal(db: sqlite_utils.Database) -> None:
    execute_script(db,
        """
        CREATE TABLE import_run (
            id TEXT PRIMARY KEY,
            actor TEXT NOT NULL,
            pid INTEGER NOT NULL,      -- the importing process, to tell a crash from a run
            host TEXT NOT NULL,
            started_at TEXT NOT NULL
        );
        CREATE TABLE import_undo (
            import_id TEXT NOT NULL REFERENCES import_run(id) ON DELETE CASCADE,
            concept_id TEXT NOT NULL,
            before TEXT,               -- the concept as it was (JSON); NULL: it was new
            PRIMARY KEY (import_id, concept_id)
        ) WITHOUT ROWID;
        """
    )


def migrate_term_gender(db: sqlite_utils.Database) -> None:
    """Terms get a grammatical gender (French), for fitting articles to them."""
    db.execute("ALTER TABLE term ADD COLUMN gender TEXT")


def migrate_seed_fr_genders(db: sqlite_utils.Database) -> None:
    """French terms of a database seeded before the gender lexicon existed get
    its genders (only where unset: a gender someone gave is kept), so that an
    existing site's translations fit their articles too. On a new database
    this runs before the seed and changes nothing."""
    changed = 0
    for text, gender in seed_gender_lexicon().items():
        changed += db.execute("UPDATE term SET gender = ? WHERE lang = 'fr' AND text = ? AND gender IS NULL",
                              [gender, text]).rowcount
    if changed:
        _bump_rev(db)


def migrate_external_ids(db: sqlite_utils.Database) -> None:
    """Where imported concepts came from: a foreign file's concept ids are
    only unique inside that file, so each is kept with its source (the file
    name, or the name given on import). The concept id itself is derived
    from both (glossary.exchange.concept_id_for), so re-importing a source
    updates its own concepts; this table says which entry of which file a
    concept is."""
    execute_script(db,
        """
        CREATE TABLE concept_external (
            concept_id TEXT PRIMARY KEY REFERENCES concept(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            UNIQUE (source, external_id)
        );
        """
    )


def _record_external(db: sqlite_utils.Database, chunk: list[Concept],
                     external: dict[str, tuple[str, str]] | None) -> None:
    if not external:
        return
    db.conn.executemany(
        "INSERT OR REPLACE INTO concept_external (concept_id, source, external_id) VALUES (?, ?, ?)",
        [(c.id, *external[c.id]) for c in chunk if c.id in external])


def external_ids(db: sqlite_utils.Database, source: str | None = None) -> list[tuple[str, str, str]]:
    """(concept id, source, external id) of imported concepts, of one source or all."""
    sql = "SELECT concept_id, source, external_id FROM concept_external"
    params: list = []
    if source is not None:
        sql += " WHERE source = ?"
        params.append(source)
    return [tuple(row) for row in db.execute(sql + " ORDER BY source, rowid", params)]


def _concept_json(concept: Concept) -> str:
    return json.dumps({"id": concept.id, "category": concept.category, "equipment": concept.equipment,
                       "status": concept.status, "source": concept.source, "notes": concept.notes,
                       "terms": [[t.lang, t.text, t.type, t.pos, t.gender] for t in concept.terms],
                       "definitions": concept.definitions}, ensure_ascii=False)


def _concept_from_json(text: str) -> Concept:
    raw = json.loads(text)
    return Concept(id=raw["id"], category=raw["category"], equipment=raw["equipment"],
                   status=raw["status"], source=raw["source"], notes=raw["notes"],
                   # Journals written before terms had a gender hold four fields.
                   terms=[Term(*fields) for fields in raw["terms"]],
                   definitions=raw["definitions"])


def import_in_batches(write: Callable, concepts: list[Concept], actor: str,
                      progress: Callable[[int], None] | None = None,
                      batch: int = IMPORT_BATCH, pause: float = 0.05,
                      external: dict[str, tuple[str, str]] | None = None) -> ImportReport:
    """``upsert_concepts`` in short transactions, all or nothing.

    ``write(fn, *args)`` runs ``fn(db, *args)`` in one committed transaction
    (``Storage.write``). Everything is checked before the first write; if a
    batch fails, the batches already committed are undone before the error
    is raised. Between batches other writers get the lock (``pause``: another
    process waiting on it polls every 100 ms at most, so the lock must stay
    free a moment), and readers may see the batches committed so far.
    ``external`` (concept id -> (source, id in the file)) is recorded in
    concept_external with each batch."""
    _check_all(concepts)
    import_id = uuid.uuid4().hex
    write(_start_import, import_id, actor, os.getpid(), socket.gethostname())
    report = ImportReport()
    now = utcnow()
    try:
        for start in range(0, len(concepts), batch):
            chunk = concepts[start:start + batch]
            part = {c.id: external[c.id] for c in chunk if c.id in external} if external else None
            report += write(_import_chunk, import_id, chunk, actor, now, part)
            if progress:
                progress(len(chunk))
            time.sleep(pause)
        write(_finish_import, import_id, bool(report.added or report.updated))
    except BaseException:
        rollback_import(write, import_id)
        raise
    return report


def _start_import(db, import_id: str, actor: str, pid: int, host: str) -> None:
    db.execute("INSERT INTO import_run (id, actor, pid, host, started_at) VALUES (?, ?, ?, ?, ?)",
               [import_id, actor, pid, host, utcnow()])


def _import_chunk(db, import_id: str, chunk: list[Concept], actor: str, now: str,
                  external: dict[str, tuple[str, str]] | None = None) -> ImportReport:
    report = ImportReport()
    _upsert_chunk(db, chunk, actor, now, report, journal=import_id)
    _record_external(db, chunk, external)
    return report


def _finish_import(db, import_id: str, changed: bool) -> None:
    db.execute("DELETE FROM import_run WHERE id = ?", [import_id])  # and its journal (cascade)
    if changed:
        _bump_rev(db)


def rollback_import(write: Callable, import_id: str, batch: int = IMPORT_BATCH) -> int:
    """Put back what an unfinished import changed, a batch per transaction
    (each batch also drops its journal rows, so an interrupted rollback
    carries on where it stopped). Returns the number of concepts restored."""
    restored = 0
    while True:
        done = write(_rollback_chunk, import_id, batch)
        restored += done
        if done == 0:
            return restored


def _rollback_chunk(db, import_id: str, batch: int) -> int:
    rows = db.execute("SELECT concept_id, before FROM import_undo WHERE import_id = ? LIMIT ?",
                      [import_id, batch]).fetchall()
    now = utcnow()
    for concept_id, before in rows:
        if before is None:
            db.execute("DELETE FROM concept WHERE id = ?", [concept_id])
        else:
            _write_concept(db, _concept_from_json(before), now, exists=True)
        db.execute("DELETE FROM import_undo WHERE import_id = ? AND concept_id = ?", [import_id, concept_id])
    if not rows:
        actor = db.execute("SELECT actor FROM import_run WHERE id = ?", [import_id]).fetchone()
        if actor is not None:
            db.execute("DELETE FROM import_run WHERE id = ?", [import_id])
            audit(db, actor[0], "rollback", "import", import_id)
            _bump_rev(db)  # concepts may have changed and changed back: indexes rebuild
    return len(rows)


def recover_imports(write: Callable, read: Callable) -> list[str]:
    """Roll back the imports whose process is gone (killed, crashed); leave
    a running one alone. Called by each process that opens the database."""
    host = socket.gethostname()
    dead = []
    for import_id, pid, run_host in read(lambda db: db.execute(
            "SELECT id, pid, host FROM import_run").fetchall()):
        if run_host != host:  # another machine's import (a shared folder): cannot tell
            continue
        if pid == os.getpid() or _alive(pid):  # still running (a reused pid waits for its end)
            continue
        rollback_import(write, import_id)
        dead.append(import_id)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def delete_concept(db: sqlite_utils.Database, concept_id: str, actor: str) -> bool:
    gone = db.execute("DELETE FROM concept WHERE id = ?", [concept_id]).rowcount > 0
    if gone:
        audit(db, actor, "delete", "concept", concept_id)
        _bump_rev(db)
    return gone


def seed_files() -> list:
    return sorted(
        (f for f in resources.files("glossary").joinpath("seed").iterdir() if f.name.endswith(".csv")),
        key=lambda f: f.name,
    )


def gender_files() -> list:
    """The seed's French gender lexicons: ``seed/fr_gender*.tsv``."""
    return sorted(
        (f for f in resources.files("glossary").joinpath("seed").iterdir()
         if f.name.startswith("fr_gender") and f.name.endswith(".tsv")),
        key=lambda f: f.name,
    )


def read_gender_lexicon(data: bytes, name: str = "lexicon") -> dict[str, str]:
    """A ``term<TAB>gender`` file (UTF-8, header first) as {term text: m|f|n}.

    The seed CSVs could carry the gender in their ``fr_gender`` column; the
    lexicon keeps it in one reviewable list per author instead, so that a
    gender is written once per French text however many concepts use it."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GlossaryError(f"{name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")
    if not lines or lines[0].rstrip("\r").split("\t") != ["term", "gender"]:
        raise GlossaryError(f"{name}: line 1 must be the header 'term<TAB>gender'")
    lexicon: dict[str, str] = {}
    for number, line in enumerate(lines[1:], 2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2 or not cells[0] or cells[0] != cells[0].strip():
            raise GlossaryError(f"{name}, line {number}: expected 'term<TAB>gender', got {line!r}")
        term, gender = cells
        if gender not in GENDERS:
            raise GlossaryError(f"{name}, line {number}: gender {gender!r} is not one of {', '.join(GENDERS)}")
        if lexicon.get(term, gender) != gender:
            raise GlossaryError(f"{name}, line {number}: {term!r} is given two genders")
        lexicon[term] = gender
    return lexicon


def seed_gender_lexicon() -> dict[str, str]:
    """All the seed's gender lexicons in one; a term given two genders is an error."""
    merged: dict[str, str] = {}
    for f in gender_files():
        for term, gender in read_gender_lexicon(f.read_bytes(), f.name).items():
            if merged.get(term, gender) != gender:
                raise GlossaryError(f"{f.name}: {term!r} has gender {gender} here and {merged[term]} elsewhere")
            merged[term] = gender
    return merged


def apply_genders(concepts: Iterable[Concept], lexicon: dict[str, str], lang: str = "fr") -> set[str]:
    """Give the ``lang`` terms whose gender is unset the lexicon's gender (in
    place); a gender the CSV gave wins. Returns the lexicon entries used, so
    that a test can catch a row that names no term (a typo)."""
    used: set[str] = set()
    for concept in concepts:
        for i, term in enumerate(concept.terms):
            if term.lang == lang and term.text in lexicon:
                used.add(term.text)
                if term.gender is None:
                    concept.terms[i] = replace(term, gender=lexicon[term.text])
    return used


def seed_concepts() -> list[Concept]:
    """The shipped seed glossary, French genders applied."""
    from .exchange import read_csv  # here, so that the hot import path stays light

    concepts: list[Concept] = []
    for f in seed_files():
        concepts.extend(read_csv(f.read_bytes()))
    apply_genders(concepts, seed_gender_lexicon())
    return concepts


def seed(db: sqlite_utils.Database) -> ImportReport | None:
    """Load the shipped seed glossary once, on a new database."""
    done = db.execute("SELECT value FROM meta WHERE key = 'seed_version'").fetchone()
    if done:
        return None
    concepts = seed_concepts()
    report = upsert_concepts(db, concepts, actor="seed")
    db.execute("INSERT INTO meta (key, value) VALUES ('seed_version', ?)", [SEED_VERSION])
    return report


# -- per-language review, versions, history (issue 12: the glossary editor) ----
#
# A concept carries a review state for each language: a row in concept_review
# (who, when) means "reviewed", no row means "draft". Whatever writes a
# concept goes through _write_concept (the editor, the CLI, imports, an
# import's rollback), and that drops the review of every language whose terms
# or definition it changed, in the same transaction: a reviewed language can
# never hold text nobody reviewed. concept.version counts the writes, so an
# edit form can say which version it was made from.

def migrate_concept_review(db: sqlite_utils.Database) -> None:
    execute_script(db,
        """
        ALTER TABLE concept ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
        CREATE TABLE concept_review (
            concept_id TEXT NOT NULL REFERENCES concept(id) ON DELETE CASCADE,
            lang TEXT NOT NULL CHECK (lang IN ('zh', 'ko', 'ms', 'fr', 'en')),
            reviewed_by TEXT NOT NULL,   -- an audit actor: tg:ID, web:ID, cli:NAME
            reviewed_at TEXT NOT NULL,
            PRIMARY KEY (concept_id, lang)
        ) WITHOUT ROWID;
        CREATE INDEX concept_review_lang ON concept_review(lang);
        """
    )


def lang_contents(concept: Concept) -> dict[str, tuple]:
    """What a speaker of each language reviews: its terms (text, type, part
    of speech, gender) and its definition. Two concepts whose contents in a
    language are equal need no new review in it."""
    out: dict[str, tuple] = {}
    for lang in LANGS:
        terms = tuple(sorted((t.text, t.type, t.pos or "", t.gender or "") for t in concept.terms if t.lang == lang))
        out[lang] = (terms, concept.definitions.get(lang) or "")
    return out


def _unreview_changed(db: sqlite_utils.Database, concept: Concept) -> list[str]:
    """Before ``concept`` replaces the stored one: the languages it changes go
    back to draft. Returns them."""
    reviewed = [r[0] for r in db.execute("SELECT lang FROM concept_review WHERE concept_id = ?", [concept.id])]
    if not reviewed:
        return []
    old = Concept(id=concept.id)
    for lang, text, type_, pos, gender in db.execute(
            "SELECT lang, text, type, pos, gender FROM term WHERE concept_id = ?", [concept.id]):
        old.terms.append(Term(lang, text, type_, pos, gender))
    old.definitions = dict(db.execute("SELECT lang, text FROM definition WHERE concept_id = ?",
                                      [concept.id]).fetchall())
    before, after = lang_contents(old), lang_contents(concept)
    changed = [lang for lang in reviewed if before[lang] != after[lang]]
    if changed:
        db.conn.executemany("DELETE FROM concept_review WHERE concept_id = ? AND lang = ?",
                            [(concept.id, lang) for lang in changed])
    return changed


def concept_version(db: sqlite_utils.Database, concept_id: str) -> int | None:
    row = db.execute("SELECT version FROM concept WHERE id = ?", [concept_id]).fetchone()
    return row[0] if row else None


def save_concept(db: sqlite_utils.Database, concept: Concept) -> int:
    """Add or replace one concept (checked first); returns its new version.
    The languages it changes lose their review (see above). No audit row:
    the caller writes one saying what was done and why."""
    validate_concept(concept, where=f"concept {concept.id!r}")
    exists = concept_version(db, concept.id) is not None
    _write_concept(db, concept, utcnow(), exists=exists)
    _bump_rev(db)
    return concept_version(db, concept.id)


def remove_concept(db: sqlite_utils.Database, concept_id: str) -> bool:
    """Delete one concept without an audit row (the caller audits: a merge)."""
    gone = db.execute("DELETE FROM concept WHERE id = ?", [concept_id]).rowcount > 0
    if gone:
        _bump_rev(db)
    return gone


def set_reviewed(db: sqlite_utils.Database, concept_id: str, lang: str, actor: str) -> bool:
    """Mark one language of a concept reviewed by ``actor`` (audited).
    False when it already was (nothing written: a double click reviews once)."""
    if lang not in LANGS:
        raise GlossaryError(f"unknown language {lang!r}")
    if db.execute("SELECT 1 FROM concept_review WHERE concept_id = ? AND lang = ?",
                  [concept_id, lang]).fetchone():
        return False
    db.execute("INSERT INTO concept_review (concept_id, lang, reviewed_by, reviewed_at) VALUES (?, ?, ?, ?)",
               [concept_id, lang, actor, utcnow()])
    audit(db, actor, "review", "concept", concept_id, {"lang": lang})
    return True


def review_progress(db: sqlite_utils.Database) -> dict[str, dict[str, int]]:
    """Per language: concepts with a term in it, how many are reviewed, how
    many are drafts. {lang: {"concepts", "reviewed", "draft"}}, every language."""
    with_terms = dict(db.execute("SELECT lang, count(DISTINCT concept_id) FROM term GROUP BY lang").fetchall())
    reviewed = dict(db.execute("SELECT lang, count(*) FROM concept_review GROUP BY lang").fetchall())
    out = {}
    for lang in LANGS:
        total, done = with_terms.get(lang, 0), reviewed.get(lang, 0)
        out[lang] = {"concepts": total, "reviewed": done, "draft": max(total - done, 0)}
    return out


def concept_snapshot(concept: Concept) -> dict:
    """A concept's content as JSON data (what audit rows keep to revert)."""
    return json.loads(_concept_json(concept))


def concept_from_snapshot(data: dict) -> Concept:
    return _concept_from_json(json.dumps(data, ensure_ascii=False))


@dataclass
class AuditRow:
    id: int
    at: str
    actor: str
    action: str
    detail: dict | None


def history(db: sqlite_utils.Database, concept_id: str, limit: int = 100) -> list[AuditRow]:
    """The audit rows of one concept, newest first."""
    return [AuditRow(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else None) for r in db.execute(
        "SELECT id, at, actor, action, detail FROM audit WHERE entity = 'concept' AND entity_id = ? "
        "ORDER BY id DESC LIMIT ?", [concept_id, limit])]
