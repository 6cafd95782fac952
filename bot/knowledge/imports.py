"""File imports with a preview: glossary CSV/TBX, memory TMX, fixes YAML/JSON.

The web console (``/files``) shows what an import would do before anyone
commits it. The preview is not a second implementation: it runs the real
import (``glossary.store.upsert_concepts``, ``memory.import_units``,
``fixes.import_fixes``, the same functions the CLI's imports end in) inside
a transaction that is then rolled back (on an in-memory snapshot of the
database, so the live write lock is not held meanwhile), and reads what it
did from the audit rows the import itself wrote. So what a preview says is what the
import does, and all or nothing holds as in the CLI: a file refused whole
imports nothing, a bad entry of a CSV or fix file refuses the file.

    parsed = read_upload("glossary", "terms.tbx", data)   # the CLI's readers; Refused
    outcome = await storage.aread(preview, parsed, actor)     # on a copy, rolled back
    token = await storage.awrite(keep_upload, person_id, parsed, outcome)
    outcome = await storage.awrite(commit, token, person_id, parsed, actor)  # or Changed

The file waits server-side under a random token (only its hash stored),
bound to the person who previewed it, with its SHA-256; the commit checks
the content is the one previewed and that the import still does exactly
what the preview showed (else nothing is written: ``Changed``).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any

import sqlite_utils

from glossary import exchange
from glossary import store as glossary_store
from glossary.model import GlossaryError
from glossary.store import audit, execute_script

from ..translation import memory as tm
from .files import read_fixes
from .fixes import FixError, import_fixes

#: Largest upload the console takes, and most entries. The CLI reads up to
#: 50 MB and commits a large glossary in batches; a web import is one
#: transaction, and writing a concept costs about 1 ms (its search keys:
#: pinyin, n-grams), so 10,000 hold the write lock some 10-20 s. Larger
#: files: `shopbot glossary import`.
MAX_UPLOAD = 4 * 1024 * 1024
MAX_ITEMS = 10_000
#: How long a previewed file waits for its commit.
UPLOAD_TTL = timedelta(hours=1)
#: Items listed per group in a report (the counts are always complete).
SHOW_ITEMS = 200

#: What each kind of file may be called.
EXTENSIONS = {".csv": "glossary", ".tbx": "glossary", ".tmx": "memory",
              ".yaml": "fixes", ".yml": "fixes", ".json": "fixes"}
KINDS = ("glossary", "memory", "fixes")


class Refused(ValueError):
    """The file is refused whole; the message names the line when it can."""


class Changed(Exception):
    """The commit would no longer do what the preview showed."""


@dataclass
class Parsed:
    """An upload read by the CLI's reader for its kind."""

    kind: str
    name: str
    data: bytes
    sha256: str
    items: list  # concepts, units or fixes, as the import takes them
    read: exchange.ReadReport  # held, imported, skipped by reason with lines
    where: dict = field(default_factory=dict)  # item key -> "line N"
    extra: dict = field(default_factory=dict)  # the import's other arguments


@dataclass(frozen=True)
class Item:
    key: str  # concept id, fix slug, unit id (or "new: source text")
    label: str  # what a person recognises
    where: str  # "line 12", or "" when the reader does not keep lines


@dataclass
class Outcome:
    added: list[Item] = field(default_factory=list)
    changed: list[Item] = field(default_factory=list)
    unchanged: int = 0

    def key(self) -> list:
        """What must be the same at the commit as in the preview."""
        return [sorted(i.key for i in self.added), sorted(i.key for i in self.changed), self.unchanged]


# -- reading -------------------------------------------------------------------

def clean_filename(name: str | None) -> str:
    """The upload's file name without folders or invisible characters."""
    name = (name or "").replace("\\", "/")
    name = PurePosixPath(name).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    return " ".join(name.split())[:120]


def kind_of(name: str) -> str | None:
    return EXTENSIONS.get(PurePosixPath(name.lower()).suffix)


def read_upload(name: str, data: bytes, source: str = "") -> Parsed:
    """Read an upload with the CLI's hardened reader for its extension
    (size-capped XML without DTDs or entities, YAML without aliases, strict
    CSV). Raises Refused with the reader's message (line numbers kept)."""
    name = clean_filename(name)
    kind = kind_of(name)
    if kind is None:
        raise Refused(f"{name or 'this file'}: use a .csv or .tbx (glossary), .tmx (memory), "
                      ".yaml, .yml or .json (fixes) file")
    if not data:
        raise Refused(f"{name}: the file is empty")
    if len(data) > MAX_UPLOAD:
        raise Refused(f"{name}: larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    digest = hashlib.sha256(data).hexdigest()
    try:
        if kind == "glossary":
            source = " ".join((source or "").split())[:120] or name
            reading = exchange.read_glossary(name, source=source, data=data)
            parsed = Parsed(kind, name, data, digest, reading.concepts, reading.report,
                            {cid: f"line {n}" for cid, n in reading.lines.items()},
                            {"external": reading.external})
        elif kind == "memory":
            units, report = tm.read_tmx_report(data)
            parsed = Parsed(kind, name, data, digest, units, report)
        else:
            items, where = read_fixes(PurePosixPath(name), exchange.decode_text(data))
            report = exchange.ReadReport(kind="fixes", held=len(items), imported=len(items))
            parsed = Parsed(kind, name, data, digest, items, report,
                            {item.slug: re.sub(r" \(fix \d+\)$", "", at) for item, at in zip(items, where)},
                            {"where": where})
    except (GlossaryError, tm.TMError, FixError, RecursionError) as exc:
        # Every reader stops deep nesting itself with a message of its own
        # (the tests upload one of each); RecursionError is the last guard.
        raise Refused(str(exc)) from None
    if len(parsed.items) > MAX_ITEMS:
        raise Refused(f"{name}: {len(parsed.items)} entries, more than the {MAX_ITEMS} a web import takes "
                      "(one transaction); import it with the shopbot command line, which commits in batches")
    return parsed


# -- importing: the real import, then its audit rows read back -----------------

def _apply(db: sqlite_utils.Database, parsed: Parsed, actor: str, photos_dir) -> Outcome:
    start = db.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()[0]
    try:
        if parsed.kind == "glossary":
            report = glossary_store.upsert_concepts(db, parsed.items, actor,
                                                    external=parsed.extra.get("external"))
        elif parsed.kind == "memory":
            report = tm.import_units(db, parsed.items, actor)
        else:
            report = import_fixes(db, parsed.items, actor, parsed.extra.get("where"), photos_dir=photos_dir)
    except (GlossaryError, tm.TMError, FixError, ValueError) as exc:
        raise Refused(str(exc)) from None
    rows = db.execute("SELECT action, entity, entity_id FROM audit WHERE id > ? AND actor = ? ORDER BY id",
                      [start, actor]).fetchall()
    outcome = Outcome(unchanged=report.unchanged)
    concepts = {c.id: c for c in parsed.items} if parsed.kind == "glossary" else {}
    for action, entity, entity_id in rows:
        item = _item(db, parsed, concepts, action, entity, entity_id)
        if item is not None:
            (outcome.added if item[0] else outcome.changed).append(item[1])
    return outcome


def _item(db, parsed: Parsed, concepts: dict, action: str, entity: str,
          entity_id: str) -> tuple[bool, Item] | None:
    """(added?, the item) for one audit row of the import; None for other rows."""
    if parsed.kind == "glossary" and entity == "concept" and action in ("create", "update"):
        concept = concepts.get(entity_id)
        head = concept and (concept.preferred("en") or (concept.terms[0] if concept.terms else None))
        label = head.text if head else entity_id
        return action == "create", Item(entity_id, label, parsed.where.get(entity_id, ""))
    if parsed.kind == "memory" and entity == "tm_unit" and action in ("create", "update"):
        row = db.execute("SELECT text FROM tm_variant WHERE unit_id = ? ORDER BY lang = 'en' DESC, lang "
                         "LIMIT 1", [int(entity_id)]).fetchone()
        label = row[0] if row else entity_id
        # A new unit's id is the database's choice: the preview and the
        # commit compare it by its text.
        return action == "create", Item(f"new:{label}" if action == "create" else entity_id, label[:200], "")
    if parsed.kind == "fixes" and entity == "fix" and action == "import":
        slug, version = db.execute("SELECT slug, version FROM fix WHERE id = ?", [int(entity_id)]).fetchone()
        return version == 1, Item(slug, slug, parsed.where.get(slug, ""))
    return None


def preview(db: sqlite_utils.Database, parsed: Parsed, actor: str, photos_dir=None) -> Outcome:
    """What importing ``parsed`` would do: the real import runs in a
    transaction that is rolled back, on a private in-memory copy of the
    database (SQLite's backup API, a consistent snapshot of ``db``, a reader
    connection): the live database's write lock is never taken, so a long
    preview does not hold up the bot's writes. Raises Refused."""
    copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        db.conn.backup(copy)
        copy.execute("PRAGMA foreign_keys = ON")
        copy.execute("BEGIN")
        try:
            return _apply(sqlite_utils.Database(copy), parsed, actor, photos_dir)
        finally:
            copy.execute("ROLLBACK")
    finally:
        copy.close()


# -- the upload waiting for its commit -----------------------------------------

def migrate_uploads(db: sqlite_utils.Database) -> None:
    """Files previewed on the web, waiting to be committed (at most an hour)."""
    execute_script(db, """
        CREATE TABLE console_upload (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            token_hash TEXT NOT NULL UNIQUE,   -- SHA-256 of the form's token
            person_id INTEGER NOT NULL REFERENCES person(user_id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('glossary', 'memory', 'fixes')),
            name TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            sha256 TEXT NOT NULL,
            data BLOB NOT NULL,
            outcome TEXT NOT NULL CHECK (json_valid(outcome)),  -- Outcome.key() of the preview
            created_at TEXT NOT NULL
        );
        """)


@dataclass(frozen=True)
class Upload:
    id: int
    kind: str
    name: str
    source: str
    sha256: str
    data: bytes
    outcome: list
    created_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def keep_upload(db: sqlite_utils.Database, person_id: int, parsed: Parsed, outcome: Outcome,
                source: str = "", *, now: datetime | None = None) -> str:
    """Keep a previewed file for its commit; returns the token (shown once)."""
    now = _now(now)
    db.execute("DELETE FROM console_upload WHERE created_at < ?",
               [(now - UPLOAD_TTL).isoformat(timespec="seconds")])
    token = secrets.token_urlsafe(24)
    db.execute("INSERT INTO console_upload (token_hash, person_id, kind, name, source, sha256, data, outcome, "
               "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               [_hash(token), person_id, parsed.kind, parsed.name, source, parsed.sha256, parsed.data,
                json.dumps(outcome.key(), ensure_ascii=False), now.isoformat(timespec="seconds")])
    return token


def get_upload(db: sqlite_utils.Database, token: Any, person_id: int, *,
               now: datetime | None = None) -> Upload | None:
    """The person's own upload behind ``token``, unexpired; else None."""
    if not isinstance(token, str) or not 20 <= len(token) <= 64 or not token.isascii():
        return None
    row = db.execute("SELECT id, kind, name, source, sha256, data, outcome, created_at FROM console_upload "
                     "WHERE token_hash = ? AND person_id = ?", [_hash(token), person_id]).fetchone()
    if row is None:
        return None
    upload = Upload(*row[:5], bytes(row[5]), json.loads(row[6]), datetime.fromisoformat(row[7]))
    if _now(now) - upload.created_at >= UPLOAD_TTL:
        return None
    return upload


def discard_upload(db: sqlite_utils.Database, token: Any, person_id: int) -> bool:
    if not isinstance(token, str):
        return False
    return db.execute("DELETE FROM console_upload WHERE token_hash = ? AND person_id = ?",
                      [_hash(token), person_id]).rowcount > 0


def reread(upload: Upload) -> Parsed:
    """The kept file read again, after checking it is the one previewed."""
    if hashlib.sha256(upload.data).hexdigest() != upload.sha256:
        raise Changed("the kept file is not the one previewed")
    return read_upload(upload.name, upload.data, upload.source)


def commit(db: sqlite_utils.Database, token: str, person_id: int, parsed: Parsed, actor: str,
           photos_dir=None) -> Outcome:
    """Import the kept file, exactly as previewed, once. Run in one write
    transaction (``Storage.write``): ``Changed`` (the file, or what the
    import would do, differs from the preview; or it was committed already)
    leaves nothing behind."""
    row = db.execute("SELECT id, sha256, outcome FROM console_upload WHERE token_hash = ? AND person_id = ?",
                     [_hash(token), person_id]).fetchone()
    if row is None:
        raise Changed("this file was imported or discarded already, or its hour has passed")
    upload_id, sha256, previewed = row
    if sha256 != parsed.sha256:
        raise Changed("the kept file is not the one previewed")
    outcome = _apply(db, parsed, actor, photos_dir)
    if outcome.key() != json.loads(previewed):
        raise Changed("the data changed since the preview")
    db.execute("DELETE FROM console_upload WHERE id = ?", [upload_id])
    audit(db, actor, "import", parsed.kind, parsed.name[:120],
          {"sha256": sha256, "added": len(outcome.added), "changed": len(outcome.changed),
           "unchanged": outcome.unchanged})
    return outcome
