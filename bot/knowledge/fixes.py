"""The troubleshooting knowledge base: fixes that trainers explain once and
that stay findable, reviewed, in every language.

A plain service, no Telegram types, in three modules: this one says what a
fix is, its states, who may change it, and writes it; ``bot.knowledge.search`` finds
fixes (search, cards) and holds ``FixBase``, the facade for reads and the
multi-step operations (approve, then machine-translate); ``bot.knowledge.files``
reads and writes fix files and seeds the samples. Functions on a
``sqlite_utils.Database`` never open transactions (callers run writes
through ``Storage.write``).

    fix_id = storage.write(create_draft, author=42, equipment="coater", original_lang="zh",
                           symptom="涂布机张力报警", cause="", steps=["..."], safety=[], codes=["E-203"])
    storage.write(submit, fix_id, 42)

Rules (decided here where the issue left them open):

* States: draft → pending (submit) → approved | rejected; rejected → draft (the
  author revises); approved ⇄ archived. ``withdraw`` deletes a draft or pending
  fix (never approved by construction: nothing leads back from approved to
  either). Editing a pending fix keeps it pending. Anything else raises
  ``FixStateError``. Approving an approved fix is a no-op (``changed=False``).
* Who: only the author (a trainer or above) creates, edits, submits and
  withdraws; leads and admins review (approve, reject, archive, restore);
  trainers and above verify or correct translations; anyone known gives
  feedback on approved fixes. Actor ``system``, ``seed`` and ``cli:*`` are
  local processes with an admin's rights; any other actor is a Telegram user
  id checked against the ``person`` table.
* Every change (not votes) bumps ``fix.version``, stores a JSON snapshot in
  ``fix_version`` and writes one audit row, in the same transaction.
* Editing the original drops the machine translations (they translated the
  old text); verified ones stay until a person revisits them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

import sqlite_utils

from glossary.index import TermIndex
from glossary.model import LANGS
from glossary.normalize import is_han, is_hangul, normalize
from glossary.store import ImportReport, audit, execute_script, glossary_rev
from glossary.store import utcnow

from bot.people import directory as people
from bot.people import signin
from bot.translation import memory as tm

log = logging.getLogger(__name__)

STATUSES = ("draft", "pending", "approved", "rejected", "archived")
KINDS = ("original", "machine", "verified")
Actor = Union[int, str]


# Limits: a fix is a phone-sized card; they also bound what a hostile import costs.
MAX_SYMPTOM, MAX_CAUSE, MAX_ITEM = 500, 2000, 1000
MAX_STEPS, MAX_SAFETY, MAX_CODES, MAX_PHOTOS = 30, 10, 20, 10
MAX_QUERY = 200  # characters of a search query considered (after folding)
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,79}")
CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9._/-]{0,31}")


class FixError(ValueError):
    """Bad fix data or a refused request; the message can be shown as is."""


class FixStateError(FixError):
    """A transition the state machine does not allow."""


class FixNotFound(FixError, LookupError):
    pass


class FixPermissionError(FixError, PermissionError):
    pass


# --------------------------------------------------------------------------
# Data


@dataclass
class FixText:
    symptom: str
    cause: str = ""
    steps: list[str] = field(default_factory=list)
    safety: list[str] = field(default_factory=list)
    kind: str = "original"

    def fields(self) -> dict[str, Any]:
        return {"symptom": self.symptom, "cause": self.cause,
                "steps": list(self.steps), "safety": list(self.safety)}


@dataclass
class Photo:
    file_id: str | None = None
    local_path: str | None = None
    caption: str = ""


@dataclass
class FixData:
    """One fix as import, export and snapshots see it (the file format)."""

    slug: str | None
    equipment: str
    original_lang: str
    texts: dict[str, FixText]
    codes: list[str] = field(default_factory=list)
    author: str = "system"
    sample: bool = False
    status: str = "draft"
    reject_reason: str | None = None
    photos: list[Photo] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {"slug": self.slug, "sample": self.sample, "status": self.status,
               "equipment": self.equipment, "codes": list(self.codes),
               "original_lang": self.original_lang, "author": self.author,
               "photos": [asdict(p) for p in self.photos],
               "texts": {lang: {"kind": t.kind, **t.fields()} for lang, t in self.texts.items()}}
        if self.reject_reason:
            out["reject_reason"] = self.reject_reason
        return out


def fold_code(code: str) -> str:
    """The matching form of an alarm code: E-203, e203 and "E 203" are E203."""
    return re.sub(r"[^0-9A-Z]", "", unicodedata.normalize("NFKC", code).upper())


def is_cjk(ch: str) -> bool:
    return is_han(ch) or is_hangul(ch)


def typed_items(text: str) -> list[str]:
    """Steps or safety notes as a person types them (a chat message, a form's
    text box): one per line, blank lines dropped, "-" alone for none."""
    return [] if text.strip() == "-" else [line.strip() for line in text.splitlines() if line.strip()]


def typed_codes(text: str) -> list[str]:
    """Alarm codes as typed: separated by commas, semicolons, spaces or lines; "-" for none."""
    return [] if text.strip() == "-" else [c for c in re.split(r"[,;\s]+", text) if c]


def clean_code(code: Any) -> str:
    if not isinstance(code, (str, int)):
        raise FixError(f"code {clip_repr(code)} is not text")
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(code)).upper())
    if not CODE_RE.fullmatch(text) or not re.search(r"\d", text):
        raise FixError(f"code {clip_repr(code)} is not an alarm code (letters and digits, e.g. E-203)")
    return text


def _text(value: Any, what: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FixError(f"{what} must be text, not {type(value).__name__}")
    value = value.strip()
    if len(value) > limit:
        raise FixError(f"{what} is longer than {limit} characters")
    if tm._BAD_CHARS.search(value):
        raise FixError(f"{what} contains a control character")
    if required and not normalize(value).strip():
        raise FixError(f"{what} is empty")
    return value


def _items(value: Any, what: str, limit: int, required: bool = False) -> list[str]:
    if value is None:
        value = []
    if not isinstance(value, list):
        raise FixError(f"{what} must be a list of text")
    items = [_text(v, f"{what}[{i + 1}]", MAX_ITEM) for i, v in enumerate(value)]
    items = [v for v in items if v]
    if len(items) > limit:
        raise FixError(f"{what} has more than {limit} items")
    if required and not items:
        raise FixError(f"{what} needs at least one item")
    return items


def clean_text(raw: Any, where: str, *, kind: str | None = None) -> FixText:
    if isinstance(raw, FixText):
        raw = {"kind": raw.kind, **raw.fields()}
    if not isinstance(raw, dict):
        raise FixError(f"{where}: must be a mapping with symptom, cause, steps, safety")
    unknown = set(raw) - {"kind", "symptom", "cause", "steps", "safety"}
    if unknown:
        raise FixError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    kind = kind or raw.get("kind", "original")
    if kind not in KINDS:
        raise FixError(f"{where}.kind: {clip_repr(kind)} is not one of {', '.join(KINDS)}")
    return FixText(symptom=_text(raw.get("symptom"), f"{where}.symptom", MAX_SYMPTOM, True),
                   cause=_text(raw.get("cause"), f"{where}.cause", MAX_CAUSE),
                   steps=_items(raw.get("steps"), f"{where}.steps", MAX_STEPS, True),
                   safety=_items(raw.get("safety"), f"{where}.safety", MAX_SAFETY), kind=kind)


def clean_photos(raw: Any) -> list[Photo]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_PHOTOS:
        raise FixError(f"photos must be a list of at most {MAX_PHOTOS}")
    photos = []
    for i, p in enumerate(raw, 1):
        if isinstance(p, Photo):
            p = asdict(p)
        if not isinstance(p, dict) or set(p) - {"file_id", "local_path", "caption"}:
            raise FixError(f"photos[{i}]: a mapping of file_id, local_path, caption")
        photo = Photo(_text(p.get("file_id"), f"photos[{i}].file_id", 256) or None,
                      _text(p.get("local_path"), f"photos[{i}].local_path", 1024) or None,
                      _text(p.get("caption"), f"photos[{i}].caption", MAX_ITEM))
        if not (photo.file_id or photo.local_path):
            raise FixError(f"photos[{i}]: needs a file_id or a local_path")
        photos.append(photo)
    return photos


def photo_file(photos_dir: Path, local_path: str | None) -> Path | None:
    """The file a photo's ``local_path`` names, if it lies inside ``photos_dir``
    (symbolic links resolved; a relative path is taken from ``photos_dir``).

    The bot uploads a fix's local photos to whoever opens its card and deletes
    them when its author withdraws it: a fix file naming any other path could
    read or delete any file the bot can. Checked at import, and again before
    every read and every delete."""
    if not local_path:
        return None
    try:
        base = Path(photos_dir).resolve()
        path = (base / local_path).resolve()
    except (OSError, RuntimeError, ValueError):  # a NUL byte, a symlink loop
        return None
    return path if path != base and path.is_relative_to(base) else None


#: Authors a fix file may name besides a person: tags that give nobody rights.
AUTHOR_TAGS = ("import", "sample", "system")
MAX_AUTHOR = 64


def check_import(db, data: FixData, photos_dir: Path | None) -> None:
    """What a fix file may not claim: a photo outside the photos folder, or
    an author who is not a known person (that person would get the rights of
    an author over the fix: edit it, withdraw it and delete its photos)."""
    for i, photo in enumerate(data.photos, 1):
        if photo.local_path and (photos_dir is None or photo_file(photos_dir, photo.local_path) is None):
            raise FixError(f"photos[{i}].local_path {clip_repr(photo.local_path)}: must name a file "
                           f"inside the photos folder{f' ({photos_dir})' if photos_dir else ''}")
    author = data.author
    if author.isascii() and author.isdigit():
        # person_by_id, as for actors: a person of the web only (an id from
        # 2**53, 16 digits) writes fixes too, and their export reimports.
        # More than 19 digits is no id (above 2**63); int() is not asked
        # to read a huge digit string.
        if len(author) > 19 or signin.person_by_id(db, int(author)) is None:
            raise FixError(f"author {clip_repr(author)}: not a known person (/users in the bot lists them; "
                           "invite them first, or leave the author out)")
    elif author not in AUTHOR_TAGS and not author.startswith("cli:"):
        raise FixError(f"author {clip_repr(author)}: a known person's Telegram id, "
                       f"or one of {', '.join(AUTHOR_TAGS)}")


def clip_repr(value: Any, limit: int = 80) -> str:
    """``repr`` of a value for an error message, about ``limit`` characters at
    most: a 40 MB field must not become a 40 MB error line."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("…" if len(value) > limit else "")
    text = repr(value)  # bounded by the file's size, which is capped
    return text if len(text) <= limit else text[:limit] + "…"


def clean_fix(data: FixData) -> FixData:
    """The fix as it will be stored, or FixError naming the field."""
    if data.slug is not None and (not isinstance(data.slug, str) or not SLUG_RE.fullmatch(data.slug)):
        raise FixError(f"slug {clip_repr(data.slug)}: lower-case letters, digits and '-', at most 80")
    if not isinstance(data.equipment, str) or not data.equipment:
        raise FixError("equipment: a glossary concept id is required")
    if data.original_lang not in LANGS:
        raise FixError(f"original_lang {clip_repr(data.original_lang)} is not one of {', '.join(LANGS)}")
    if data.status not in STATUSES:
        raise FixError(f"status {clip_repr(data.status)} is not one of {', '.join(STATUSES)}")
    if not isinstance(data.texts, dict) or data.original_lang not in data.texts:
        raise FixError(f"texts: the original language ({data.original_lang}) needs a text")
    texts = {}
    for lang, raw in data.texts.items():
        if lang not in LANGS:
            raise FixError(f"texts: unknown language {clip_repr(lang)}")
        texts[lang] = clean_text(raw, f"texts.{lang}")
        if (lang == data.original_lang) != (texts[lang].kind == "original"):
            raise FixError(f"texts.{lang}.kind: only the original language's text is 'original'")
    if not isinstance(data.codes, list) or len(data.codes) > MAX_CODES:
        raise FixError(f"codes must be a list of at most {MAX_CODES}")
    codes = list(dict.fromkeys(clean_code(c) for c in data.codes))
    if data.status == "rejected" and not (data.reject_reason or "").strip():
        raise FixError("a rejected fix needs a reject_reason")
    return FixData(slug=data.slug, equipment=data.equipment, original_lang=data.original_lang,
                   texts={lang: texts[lang] for lang in LANGS if lang in texts}, codes=codes,
                   author=str(data.author), sample=bool(data.sample), status=data.status,
                   reject_reason=_text(data.reject_reason, "reject_reason", MAX_CAUSE) or None,
                   photos=clean_photos(data.photos))


# --------------------------------------------------------------------------
# Schema


def migrate_fixes(db: sqlite_utils.Database) -> None:
    """Fixes, their texts per language, photos, codes, versions, votes, searches."""
    langs = ", ".join(f"'{lang}'" for lang in LANGS)
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    execute_script(db, f"""
        -- AUTOINCREMENT: a withdrawn fix's id is never given again, so the audit
        -- rows of one id are the history of one fix.
        CREATE TABLE fix (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            slug TEXT NOT NULL UNIQUE,
            equipment TEXT NOT NULL REFERENCES concept(id),
            codes TEXT NOT NULL DEFAULT '[]',          -- JSON list, as displayed
            original_lang TEXT NOT NULL CHECK (original_lang IN ({langs})),
            author TEXT NOT NULL,                      -- Telegram user id, or 'sample'...
            sample INTEGER NOT NULL DEFAULT 0 CHECK (sample IN (0, 1)),
            status TEXT NOT NULL CHECK (status IN ({statuses})),
            reject_reason TEXT,
            version INTEGER NOT NULL DEFAULT 0,
            worked INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX fix_status ON fix(status);
        CREATE INDEX fix_equipment ON fix(equipment, status);
        -- The few fixes anyone voted on: what ranking needs to break ties.
        CREATE INDEX fix_voted ON fix(id, worked, failed) WHERE worked > 0 OR failed > 0;

        -- norm: glossary.normalize of all the fields, what full-text search reads.
        CREATE TABLE fix_text (
            id INTEGER PRIMARY KEY,
            snippet_id INTEGER NOT NULL REFERENCES fix(id) ON DELETE CASCADE,
            lang TEXT NOT NULL CHECK (lang IN ({langs})),
            symptom TEXT NOT NULL,
            cause TEXT NOT NULL DEFAULT '',
            steps TEXT NOT NULL DEFAULT '[]',
            safety TEXT NOT NULL DEFAULT '[]',
            kind TEXT NOT NULL CHECK (kind IN ('original', 'machine', 'verified')),
            norm TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (snippet_id, lang)
        );
        -- Trigram: substrings in every script, CJK included, without a word
        -- segmenter (unicode61 would make a whole Chinese sentence one token).
        CREATE VIRTUAL TABLE fix_fts USING fts5(
            norm, content='fix_text', content_rowid='id', tokenize='trigram'
        );
        CREATE TRIGGER fix_text_ai AFTER INSERT ON fix_text BEGIN
            INSERT INTO fix_fts(rowid, norm) VALUES (new.id, new.norm);
        END;
        CREATE TRIGGER fix_text_ad AFTER DELETE ON fix_text BEGIN
            INSERT INTO fix_fts(fix_fts, rowid, norm) VALUES ('delete', old.id, old.norm);
        END;
        CREATE TRIGGER fix_text_au AFTER UPDATE OF norm ON fix_text BEGIN
            INSERT INTO fix_fts(fix_fts, rowid, norm) VALUES ('delete', old.id, old.norm);
            INSERT INTO fix_fts(rowid, norm) VALUES (new.id, new.norm);
        END;

        CREATE TABLE fix_photo (
            snippet_id INTEGER NOT NULL REFERENCES fix(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            file_id TEXT,
            local_path TEXT,
            caption TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (snippet_id, position)
        ) WITHOUT ROWID;

        -- code: folded (E203); digits: its number alone (203), a weaker match.
        -- Key columns first: SQLite 3.40's integrity_check wrongly reports
        -- "NULL value" in a WITHOUT ROWID table whose NOT NULL column precedes one.
        CREATE TABLE fix_code (
            code TEXT NOT NULL,
            snippet_id INTEGER NOT NULL REFERENCES fix(id) ON DELETE CASCADE,
            digits TEXT NOT NULL,
            PRIMARY KEY (code, snippet_id)
        ) WITHOUT ROWID;
        CREATE INDEX fix_code_digits ON fix_code(digits);
        CREATE INDEX fix_code_snippet ON fix_code(snippet_id);

        -- Glossary concepts the texts mention (spotted at write time, any
        -- language): how a French query finds a fix written in Chinese. Derived
        -- data, so no foreign key to concept.
        CREATE TABLE fix_concept (
            concept_id TEXT NOT NULL,
            snippet_id INTEGER NOT NULL REFERENCES fix(id) ON DELETE CASCADE,
            PRIMARY KEY (concept_id, snippet_id)
        ) WITHOUT ROWID;
        CREATE INDEX fix_concept_snippet ON fix_concept(snippet_id);

        CREATE TABLE fix_version (
            snippet_id INTEGER NOT NULL REFERENCES fix(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            why TEXT NOT NULL,
            snapshot TEXT NOT NULL,
            PRIMARY KEY (snippet_id, version)
        ) WITHOUT ROWID;

        CREATE TABLE fix_feedback (
            snippet_id INTEGER NOT NULL REFERENCES fix(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL,
            worked INTEGER NOT NULL CHECK (worked IN (0, 1)),
            at TEXT NOT NULL,
            PRIMARY KEY (snippet_id, user_id)
        ) WITHOUT ROWID;

        -- Every search, for /stats; results = 0 is a question the base cannot answer.
        CREATE TABLE fix_search (
            id INTEGER PRIMARY KEY,
            query TEXT NOT NULL,
            norm TEXT NOT NULL,
            lang TEXT,
            results INTEGER NOT NULL,
            user_id TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX fix_search_norm ON fix_search(norm);
    """)


# --------------------------------------------------------------------------
# Actors and permissions

_LOCAL_ACTORS = ("system", "seed")


def actor_tag(actor: Actor) -> str:
    return f"tg:{actor}" if isinstance(actor, int) else actor


def actor_role(db: sqlite_utils.Database, actor: Actor) -> str | None:
    """The actor's role: local processes are admins, Telegram ids per ``person``."""
    if isinstance(actor, bool):
        return None
    if isinstance(actor, int):
        # person_by_id: people of the web only (ids from 2**53 up) act here too.
        person = signin.person_by_id(db, actor)
        return person.role if person else None
    if isinstance(actor, str) and (actor in _LOCAL_ACTORS or actor.startswith("cli:")):
        return "admin"
    return None  # a Telegram id passed as text is a mistake: refuse, do not guess


def _require(db, actor: Actor, needed: str, doing: str, role: str | None = None) -> str:
    role = role or actor_role(db, actor)
    if not people.can(role, needed):
        raise FixPermissionError(f"only a {needed} or above can {doing}")
    return role


def _require_author(db, fix: dict, actor: Actor, doing: str, role: str | None = None) -> None:
    role = _require(db, actor, "trainer", doing, role)
    # Local processes (system, cli) may act for anyone; people only on their own fixes.
    if fix["author"] != _author(actor) and not (isinstance(actor, str) and role == "admin"):
        raise FixPermissionError(f"only the author of fix {fix['id']} can {doing}")


def _author(actor: Actor) -> str:
    return str(actor)


# --------------------------------------------------------------------------
# Reading


def fix_row(db, fix_id: int) -> dict:
    cursor = db.execute("SELECT * FROM fix WHERE id = ?", [fix_id])
    row = cursor.fetchone()
    if row is None:
        raise FixNotFound(f"no fix #{fix_id}")
    return dict(zip((d[0] for d in cursor.description), row))


def load_texts(db, fix_id: int) -> dict[str, FixText]:
    rows = db.execute("SELECT lang, symptom, cause, steps, safety, kind FROM fix_text "
                      "WHERE snippet_id = ?", [fix_id]).fetchall()
    found = {r[0]: FixText(r[1], r[2], json.loads(r[3]), json.loads(r[4]), r[5]) for r in rows}
    return {lang: found[lang] for lang in LANGS if lang in found}


def load_fix(db, fix_id: int) -> FixData:
    """A stored fix in the file format (what export writes and snapshots keep)."""
    r = fix_row(db, fix_id)
    photos = [Photo(*p) for p in db.execute(
        "SELECT file_id, local_path, caption FROM fix_photo WHERE snippet_id = ? ORDER BY position",
        [fix_id])]
    return FixData(slug=r["slug"], equipment=r["equipment"], original_lang=r["original_lang"],
                   texts=load_texts(db, fix_id), codes=json.loads(r["codes"]), author=r["author"],
                   sample=bool(r["sample"]), status=r["status"], reject_reason=r["reject_reason"],
                   photos=photos)


def all_fixes(db) -> list[FixData]:
    return [load_fix(db, r[0]) for r in db.execute("SELECT id FROM fix ORDER BY id")]


# --------------------------------------------------------------------------
# Writing: content, versions


_INDEXES: dict[str, TermIndex] = {}
_INDEX_LOCK = threading.Lock()


def term_index(db) -> TermIndex:
    """The glossary's spotting index for write-time use, cached per database
    file and glossary revision. (``Glossary.index`` opens its own read
    transaction, which cannot run inside the writer's BEGIN IMMEDIATE.)"""
    key = db.execute("PRAGMA database_list").fetchone()[2]
    rev = glossary_rev(db)
    with _INDEX_LOCK:
        index = _INDEXES.get(key)
        if index is None or index.rev != rev:
            index = _INDEXES[key] = TermIndex(
                db.execute("SELECT id, concept_id, lang, type, norm FROM term ORDER BY concept_id, id"),
                rev)
        return index


def _norm_text(t: FixText) -> str:
    return normalize("\n".join([t.symptom, t.cause, *t.steps, *t.safety]))


def concepts_in(spot, text: str, depth: int = 0) -> set[str]:
    """Concepts of the glossary terms in ``text`` (``spot``: a spotting
    function), and of the terms inside them: spotting keeps the longest term
    (张力报警, the tension alarm), but the text also speaks of 张力 (tension) and
    报警 (alarm), and a person may ask for either."""
    found: set[str] = set()
    for hit in spot(text):
        found.update(hit.concept_ids)
        inner = hit.text
        if depth >= 3 or len(inner) < 3:
            continue
        # Cut off the first and the last unit: a Chinese or Korean character,
        # or a word. Mixed terms of the seed (CCD检测, CNT导电浆料) are cut
        # around their characters too, so that 检测 and 导电浆料 are found.
        cuts = [i for i in range(1, len(inner))
                if inner[i].isspace() or is_cjk(inner[i]) or is_cjk(inner[i - 1])]
        parts = [inner[cuts[0]:].strip(), inner[:cuts[-1]].strip()] if cuts else []
        for part in parts:
            found |= concepts_in(spot, part, depth + 1)
    return found


def _refresh_concepts(db, fix_id: int) -> None:
    """Re-spot the glossary concepts the fix's texts mention, in every language."""
    spot = term_index(db).spot
    concepts: set[str] = set()
    for t in load_texts(db, fix_id).values():
        concepts |= concepts_in(spot, "\n".join([t.symptom, t.cause, *t.steps, *t.safety]))
    db.execute("DELETE FROM fix_concept WHERE snippet_id = ?", [fix_id])
    db.conn.executemany("INSERT INTO fix_concept (concept_id, snippet_id) VALUES (?, ?)",
                        [(c, fix_id) for c in sorted(concepts)])


# The concepts a fix mentions are spotted when it is saved, with the glossary
# of that moment. A glossary import can add a term that old fixes contain: the
# glossary revision they were last spotted at (meta 'fix_concepts_rev') says
# when all must be spotted again. That goes in chunks, one transaction each,
# so that the bot's own writes (another process, perhaps) never wait long.
REINDEX_CHUNK = 100


def concepts_stale(db) -> bool:
    """Whether the glossary changed since the fixes' concepts were spotted."""
    row = db.execute("SELECT value FROM meta WHERE key = 'fix_concepts_rev'").fetchone()
    return row is None or int(row[0]) != glossary_rev(db)


def migrate_respot_mixed_terms(db: sqlite_utils.Database) -> None:
    """Mixed-script terms (CCD检测) are now cut around their Chinese or Korean
    characters (``concepts_in``): forget when the fixes were spotted, so that
    the next start spots them all again (in the background, ``respot_fixes``)."""
    db.execute("DELETE FROM meta WHERE key = 'fix_concepts_rev'")


def reindex_chunk(db, after_id: int, rev: int, limit: int = REINDEX_CHUNK) -> list[int]:
    """Spot the concepts of the next ``limit`` fixes after ``after_id``; their
    ids. None left ([]): the fixes are marked spotted at glossary revision
    ``rev``, the one the run started with (if the glossary moved since, they
    stay stale and the next run starts over)."""
    ids = [r[0] for r in db.execute("SELECT id FROM fix WHERE id > ? ORDER BY id LIMIT ?",
                                    [after_id, limit])]
    for fix_id in ids:
        _refresh_concepts(db, fix_id)
    if not ids and glossary_rev(db) == rev:
        mark_concepts_fresh(db)
    return ids


def mark_concepts_fresh(db) -> None:
    """Record that every fix was spotted with the glossary as it is now."""
    db.execute("INSERT INTO meta (key, value) VALUES ('fix_concepts_rev', ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [str(glossary_rev(db))])


def reindex_concepts(write, read, progress=None, chunk: int = REINDEX_CHUNK) -> int:
    """Spot every fix's concepts again if the glossary changed since the last
    time; how many fixes were done. ``write``/``read``: ``Storage.write`` and
    ``Storage.read`` (blocking: from a thread, not the event loop).
    ``progress(n)`` is called after each chunk."""
    done = 0
    while read(concepts_stale):
        rev, after = read(glossary_rev), 0
        while ids := write(reindex_chunk, after, rev, chunk):
            done, after = done + len(ids), ids[-1]
            if progress:
                progress(done)
    return done


def _put_text(db, fix_id: int, lang: str, t: FixText, actor: Actor, now: str) -> None:
    db.execute(
        "INSERT INTO fix_text (snippet_id, lang, symptom, cause, steps, safety, kind, norm, "
        "updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (snippet_id, lang) DO UPDATE SET symptom = excluded.symptom, "
        "cause = excluded.cause, steps = excluded.steps, safety = excluded.safety, "
        "kind = excluded.kind, norm = excluded.norm, updated_by = excluded.updated_by, "
        "updated_at = excluded.updated_at",
        [fix_id, lang, t.symptom, t.cause, json.dumps(t.steps, ensure_ascii=False),
         json.dumps(t.safety, ensure_ascii=False), t.kind, _norm_text(t), actor_tag(actor), now])


def _put_codes(db, fix_id: int, codes: list[str]) -> None:
    db.execute("DELETE FROM fix_code WHERE snippet_id = ?", [fix_id])
    rows = {(fold_code(c), re.sub(r"\D", "", c).lstrip("0") or "0") for c in codes}
    db.conn.executemany("INSERT INTO fix_code (code, digits, snippet_id) VALUES (?, ?, ?)",
                        [(code, digits, fix_id) for code, digits in sorted(rows)])


def _put_photos(db, fix_id: int, photos: list[Photo]) -> None:
    db.execute("DELETE FROM fix_photo WHERE snippet_id = ?", [fix_id])
    db.conn.executemany(
        "INSERT INTO fix_photo (snippet_id, position, file_id, local_path, caption) VALUES (?, ?, ?, ?, ?)",
        [(fix_id, i, p.file_id, p.local_path, p.caption) for i, p in enumerate(photos)])


def _check_equipment(db, concept_id: str) -> None:
    if not db.execute("SELECT 1 FROM concept WHERE id = ?", [concept_id]).fetchone():
        raise FixError(f"equipment {clip_repr(concept_id)} is not a glossary concept")


def _make_slug(db, data: FixData) -> str:
    """equipment + the symptom's Latin letters (or the codes, or a hash for a
    Chinese/Korean symptom), made unique with -2, -3..."""
    symptom = data.texts[data.original_lang].symptom
    ascii_words = unicodedata.normalize("NFKD", symptom).encode("ascii", "ignore").decode().lower()
    tail = "-".join(re.findall(r"[a-z0-9]+", ascii_words)[:6])
    if not tail:
        tail = "-".join(fold_code(c).lower() for c in data.codes[:2]) or \
            hashlib.sha1(symptom.encode()).hexdigest()[:8]
    # Cut, then strip: a cut that falls just after a hyphen left it at the end.
    base = re.sub(r"[^a-z0-9-]+", "-", f"{data.equipment.lower()}-{tail}")[:72].strip("-")
    slug, n = base, 1
    while db.execute("SELECT 1 FROM fix WHERE slug = ?", [slug]).fetchone():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _write_content(db, fix_id: int, data: FixData, actor: Actor, now: str) -> None:
    """Replace everything a fix holds (texts, codes, photos, mentions)."""
    db.execute("DELETE FROM fix_text WHERE snippet_id = ? AND lang NOT IN (%s)"
               % ",".join("?" * len(data.texts)), [fix_id, *data.texts])
    for lang, t in data.texts.items():
        _put_text(db, fix_id, lang, t, actor, now)
    _put_codes(db, fix_id, data.codes)
    _put_photos(db, fix_id, data.photos)
    _refresh_concepts(db, fix_id)


def _record(db, fix_id: int, actor: Actor, why: str, detail: dict | None = None) -> int:
    """A change happened: next version, its snapshot, one audit row."""
    version = db.execute("UPDATE fix SET version = version + 1, updated_at = ? WHERE id = ? "
                         "RETURNING version", [utcnow(), fix_id]).fetchone()[0]
    snapshot = json.dumps(load_fix(db, fix_id).to_dict(), ensure_ascii=False, sort_keys=True)
    db.execute("INSERT INTO fix_version (snippet_id, version, at, actor, why, snapshot) "
               "VALUES (?, ?, ?, ?, ?, ?)", [fix_id, version, utcnow(), actor_tag(actor), why, snapshot])
    audit(db, actor_tag(actor), why, "fix", str(fix_id), {"version": version, **(detail or {})})
    return version


def _insert_fix(db, data: FixData, actor: Actor, why: str) -> int:
    _check_equipment(db, data.equipment)
    now = utcnow()
    slug = data.slug or _make_slug(db, data)
    fix_id = db.execute(
        "INSERT INTO fix (slug, equipment, codes, original_lang, author, sample, status, "
        "reject_reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [slug, data.equipment, json.dumps(data.codes), data.original_lang, data.author,
         int(data.sample), data.status, data.reject_reason, now, now]).lastrowid
    _write_content(db, fix_id, data, actor, now)
    _record(db, fix_id, actor, why)
    return fix_id


def create_draft(db, *, author: Actor, equipment: str, original_lang: str, symptom: str,
                 cause: str = "", steps: list[str], safety: list[str] | None = None,
                 codes: list[str] | None = None, photos: list | None = None,
                 slug: str | None = None, role: str | None = None) -> int:
    """A new draft by a trainer (or above); returns its id."""
    _require(db, author, "trainer", "write a fix", role)
    data = clean_fix(FixData(
        slug=slug, equipment=equipment, original_lang=original_lang, codes=list(codes or []),
        texts={original_lang: FixText(symptom, cause, list(steps or []), list(safety or []))},
        author=_author(author), photos=list(photos or [])))
    return _insert_fix(db, data, author, "create")


def update_draft(db, fix_id: int, actor: Actor, *, role: str | None = None, **changes: Any) -> int:
    """Edit a draft, pending or rejected fix (a rejected one goes back to draft;
    a pending one stays pending). ``changes``: any of create_draft's content
    arguments. Returns the new version."""
    allowed = {"equipment", "original_lang", "symptom", "cause", "steps", "safety", "codes", "photos"}
    if set(changes) - allowed:
        raise FixError(f"cannot change {', '.join(sorted(set(changes) - allowed))}")
    fix = fix_row(db, fix_id)
    _require_author(db, fix, actor, "edit this fix", role)
    if fix["status"] not in ("draft", "pending", "rejected"):
        raise FixStateError(f"fix {fix_id} is {fix['status']}: only drafts, pending and rejected fixes can be edited")
    old = load_fix(db, fix_id)
    text = old.texts[old.original_lang].fields()
    text.update({k: v for k, v in changes.items() if k in text})
    lang = changes.get("original_lang", old.original_lang)
    # Machine texts translated the old original: they go. Verified ones stay.
    texts = {k: t for k, t in old.texts.items() if t.kind == "verified" and k != lang}
    texts[lang] = FixText(**text)
    status = "draft" if fix["status"] == "rejected" else fix["status"]
    data = clean_fix(FixData(
        slug=old.slug, equipment=changes.get("equipment", old.equipment), original_lang=lang,
        texts=texts, codes=list(changes.get("codes", old.codes)), author=old.author,
        sample=old.sample, status=status, photos=list(changes.get("photos", old.photos))))
    _check_equipment(db, data.equipment)
    db.execute("UPDATE fix SET equipment = ?, original_lang = ?, codes = ?, status = ?, "
               "reject_reason = NULL WHERE id = ?",
               [data.equipment, data.original_lang, json.dumps(data.codes), status, fix_id])
    _write_content(db, fix_id, data, actor, utcnow())
    return _record(db, fix_id, actor, "edit", {"status": status})


# --------------------------------------------------------------------------
# The state machine

#: (action, from status) → to status. Who may do it is checked per action.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("submit", "draft"): "pending",
    ("approve", "pending"): "approved",
    ("reject", "pending"): "rejected",
    ("archive", "approved"): "archived",
    ("restore", "archived"): "approved",
}
REVIEW_ACTIONS = ("approve", "reject", "archive", "restore")


def _transition(db, fix_id: int, actor: Actor, action: str, role: str | None,
                reason: str | None = None) -> bool:
    fix = fix_row(db, fix_id)
    if action in REVIEW_ACTIONS:
        _require(db, actor, "lead", f"{action} fixes", role)
    else:
        _require_author(db, fix, actor, f"{action} this fix", role)
    if (action, fix["status"]) in (("approve", "approved"), ("reject", "rejected")):
        # Idempotent: a double tap, a redelivered update or a second lead at
        # the same time decides once (the first reason stands).
        return False
    target = TRANSITIONS.get((action, fix["status"]))
    if target is None:
        allowed = sorted(s for (a, s) in TRANSITIONS if a == action)
        raise FixStateError(f"cannot {action} fix {fix_id}: it is {fix['status']} "
                            f"(only a {' or '.join(allowed)} fix can be)")
    db.execute("UPDATE fix SET status = ?, reject_reason = ? WHERE id = ?",
               [target, reason if target == "rejected" else None, fix_id])
    _record(db, fix_id, actor, action, {"from": fix["status"], "to": target,
                                         **({"reason": reason} if reason else {})})
    return True


def submit(db, fix_id: int, actor: Actor, role: str | None = None) -> None:
    _transition(db, fix_id, actor, "submit", role)


def approve(db, fix_id: int, actor: Actor, role: str | None = None) -> bool:
    """Approve a pending fix. False (and nothing written) if already approved."""
    return _transition(db, fix_id, actor, "approve", role)


def reject(db, fix_id: int, actor: Actor, reason: str, role: str | None = None) -> bool:
    """Reject a pending fix with a reason. False (nothing written) if it was rejected already."""
    reason = _text(reason, "reason", MAX_CAUSE) if isinstance(reason, str) else ""
    if not normalize(reason).strip():  # zero-width characters alone are no reason
        raise FixError("a rejection needs a reason the author can act on")
    return _transition(db, fix_id, actor, "reject", role, reason)


def archive(db, fix_id: int, actor: Actor, role: str | None = None) -> None:
    _transition(db, fix_id, actor, "archive", role)


def restore(db, fix_id: int, actor: Actor, role: str | None = None) -> None:
    _transition(db, fix_id, actor, "restore", role)


def adopt_sample(db, fix_id: int, actor: Actor, role: str | None = None) -> bool:
    """A lead checked a sample fix against this line: from now on it is the
    site's own procedure, shown without the "example, not validated" banner.
    False when it was not a sample (adopted already, or never one)."""
    fix = fix_row(db, fix_id)
    _require(db, actor, "lead", "validate a sample fix for this site", role)
    if not fix["sample"]:
        return False
    db.execute("UPDATE fix SET sample = 0 WHERE id = ?", [fix_id])
    _record(db, fix_id, actor, "adopt")
    return True


def remove_samples(db, actor: Actor) -> int:
    """Delete every sample fix no lead has validated for this site; each one's
    content stays in the audit trail. The samples are not seeded again."""
    removed = 0
    for (fix_id,) in db.execute("SELECT id FROM fix WHERE sample = 1").fetchall():
        snapshot = load_fix(db, fix_id).to_dict()
        db.execute("DELETE FROM fix WHERE id = ?", [fix_id])
        audit(db, actor_tag(actor), "remove sample", "fix", str(fix_id), {"snapshot": snapshot})
        removed += 1
    return removed


def withdraw(db, fix_id: int, actor: Actor, role: str | None = None) -> list[str]:
    """Delete a draft or pending fix entirely; the audit row keeps its content.
    Returns the local photo paths that no other fix names any more: the
    caller may delete those files (one file can serve two fixes)."""
    fix = fix_row(db, fix_id)
    _require_author(db, fix, actor, "withdraw this fix", role)
    if fix["status"] not in ("draft", "pending"):
        raise FixStateError(f"cannot withdraw fix {fix_id}: it is {fix['status']} "
                            "(only a draft or pending fix can be)")
    snapshot = load_fix(db, fix_id).to_dict()
    db.execute("DELETE FROM fix WHERE id = ?", [fix_id])
    audit(db, actor_tag(actor), "withdraw", "fix", str(fix_id), {"snapshot": snapshot})
    return unused_photos(db, [p.get("local_path") for p in snapshot.get("photos", [])])


def unused_photos(db, paths: list[str | None]) -> list[str]:
    """The local photo paths among ``paths`` that no fix names any more: the
    caller may delete those files (one file can serve two fixes)."""
    return sorted(path for path in {p for p in paths if p} if db.execute(
        "SELECT 1 FROM fix_photo WHERE local_path = ? LIMIT 1", [path]).fetchone() is None)


def create_and_submit(db, **fields) -> int:
    """A new fix, submitted for review in ONE transaction: a fix is never left
    behind as a half-finished draft (the bot's /newfix and the web's form)."""
    fix_id = create_draft(db, **fields)
    submit(db, fix_id, fields["author"], fields.get("role"))
    return fix_id


def can_read(role: str | None, viewer: Actor, status: str, author: str) -> bool:
    """Who may read a fix: anyone known an approved one; leads and admins any;
    the author their own (a draft, a pending or a rejected fix)."""
    return people.can(role, "lead") or (role is not None and (
        status == "approved" or author == _author(viewer)))


# --------------------------------------------------------------------------
# Translations, corrections, feedback


def add_machine_texts(db, fix_id: int, texts: dict[str, FixText], actor: Actor) -> list[str]:
    """Store machine translations of an approved fix for the languages that
    still have no text (a person's text is never overwritten). Returns them."""
    fix = fix_row(db, fix_id)
    if fix["status"] != "approved":
        return []
    have = set(load_texts(db, fix_id))
    added = [lang for lang in texts if lang not in have]
    now = utcnow()
    for lang in added:
        _put_text(db, fix_id, lang, clean_text(texts[lang], f"texts.{lang}", kind="machine"), actor, now)
    if added:
        _refresh_concepts(db, fix_id)
        _record(db, fix_id, actor, "translate", {"langs": added})
    return added


def _translation(db, fix_id: int, lang: str) -> tuple[dict, FixText | None]:
    fix = fix_row(db, fix_id)
    if lang not in LANGS:
        raise FixError(f"unknown language {clip_repr(lang)}")
    if fix["status"] != "approved":
        raise FixStateError(f"fix {fix_id} is {fix['status']}: translations are reviewed once it is approved")
    if lang == fix["original_lang"]:
        raise FixStateError(f"{lang} is the original language of fix {fix_id}, not a translation")
    return fix, load_texts(db, fix_id).get(lang)


def verify_text(db, fix_id: int, lang: str, actor: Actor, role: str | None = None) -> bool:
    """A speaker confirms a machine translation. False if it was verified already."""
    _require(db, actor, "trainer", "verify translations", role)
    _, text = _translation(db, fix_id, lang)
    if text is None:
        raise FixStateError(f"fix {fix_id} has no {lang} text to verify")
    if text.kind == "verified":
        return False
    db.execute("UPDATE fix_text SET kind = 'verified', updated_by = ?, updated_at = ? "
               "WHERE snippet_id = ? AND lang = ?", [actor_tag(actor), utcnow(), fix_id, lang])
    _record(db, fix_id, actor, "verify", {"lang": lang})
    return True


def _pairs(original: FixText, old: FixText | None, new: FixText) -> list[tuple[str, str]]:
    """(original, corrected) sentence pairs for the fields the person changed.
    Steps and safety items pair by position only when the counts agree: a
    correction that merged two steps says nothing reliable about either."""
    before = old.fields() if old else {}
    pairs = []
    for name in ("symptom", "cause"):
        a, b = getattr(original, name), getattr(new, name)
        if a and b and b != before.get(name):
            pairs.append((a, b))
    for name in ("steps", "safety"):
        a, b, was = getattr(original, name), getattr(new, name), before.get(name, [])
        if len(a) == len(b):
            pairs += [(x, y) for i, (x, y) in enumerate(zip(a, b)) if i >= len(was) or was[i] != y]
    return pairs


def correct_text(db, fix_id: int, lang: str, symptom: str, cause: str, steps: list[str],
                 safety: list[str], actor: Actor, role: str | None = None) -> list[int]:
    """A speaker corrects (or writes) the ``lang`` text: it becomes 'verified',
    and every corrected field becomes an approved translation-memory unit
    (origin 'correction'), so the next translation says it right. Returns the
    new unit ids."""
    _require(db, actor, "trainer", "correct translations", role)
    fix, old = _translation(db, fix_id, lang)
    new = clean_text({"symptom": symptom, "cause": cause, "steps": steps, "safety": safety},
                     f"texts.{lang}", kind="verified")
    original = load_texts(db, fix_id)[fix["original_lang"]]
    _put_text(db, fix_id, lang, new, actor, utcnow())
    units = [tm.add_unit(db, {fix["original_lang"]: a, lang: b}, status="approved",
                         origin="correction", actor=actor_tag(actor), note=f"fix {fix['slug']}")
             for a, b in _pairs(original, old, new)]
    _refresh_concepts(db, fix_id)
    _record(db, fix_id, actor, "correct", {"lang": lang, "tm_units": units})
    return units


def feedback(db, fix_id: int, user_id: int, worked: bool) -> tuple[int, int]:
    """One vote per person and fix, changeable. Returns (worked, failed)."""
    if actor_role(db, user_id) is None:
        raise FixPermissionError("only registered people can rate fixes")
    if fix_row(db, fix_id)["status"] != "approved":
        raise FixStateError(f"fix {fix_id} is not approved")
    db.execute("INSERT INTO fix_feedback (snippet_id, user_id, worked, at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (snippet_id, user_id) DO UPDATE SET worked = excluded.worked, at = excluded.at",
               [fix_id, user_id, int(bool(worked)), utcnow()])
    return db.execute(
        "UPDATE fix SET worked = (SELECT count(*) FROM fix_feedback WHERE snippet_id = :id AND worked), "
        "failed = (SELECT count(*) FROM fix_feedback WHERE snippet_id = :id AND NOT worked) "
        "WHERE id = :id RETURNING worked, failed", {"id": fix_id}).fetchone()


def log_search(db, query: str, lang: str | None, results: int, user: Actor | None) -> None:
    query = query.strip()[:MAX_QUERY] if isinstance(query, str) else ""
    if query:
        db.execute("INSERT INTO fix_search (query, norm, lang, results, user_id, at) VALUES (?, ?, ?, ?, ?, ?)",
                   [query, normalize(query), lang, results,
                    None if user is None else actor_tag(user), utcnow()])


# --------------------------------------------------------------------------
# Import (files: bot/knowledge/files.py)


def import_fixes(db, items: list[FixData], actor: Actor, where: list[str] | None = None, *,
                 photos_dir: Path | None = None) -> ImportReport:
    """Merge fixes by slug: add, replace what changed, count the rest. Checks
    everything first; inside one transaction, a bad fix leaves nothing behind.
    ``where`` names each item in errors (e.g. "line 12"). Local photo paths
    must lie inside ``photos_dir`` (none is accepted without it)."""
    where = where or [f"item {i}" for i in range(1, len(items) + 1)]
    cleaned, seen = [], {}
    for at, item in zip(where, items):
        try:
            data = clean_fix(item)
            _check_equipment(db, data.equipment)
            check_import(db, data, photos_dir)
        except FixError as exc:
            raise FixError(f"{at}: {exc}") from None
        if data.slug is None:
            raise FixError(f"{at}: a slug is required in a file (it is what import merges on)")
        if data.slug in seen:
            raise FixError(f"{at}: slug {clip_repr(data.slug)} also at {seen[data.slug]}")
        seen[data.slug] = at
        cleaned.append(data)
    report = ImportReport()
    for data in cleaned:
        row = db.execute("SELECT id FROM fix WHERE slug = ?", [data.slug]).fetchone()
        if row is None:
            _insert_fix(db, data, actor, "import")
            report.added += 1
        elif load_fix(db, row[0]).to_dict() == data.to_dict():
            report.unchanged += 1
        else:
            db.execute("UPDATE fix SET equipment = ?, codes = ?, original_lang = ?, author = ?, "
                       "sample = ?, status = ?, reject_reason = ? WHERE id = ?",
                       [data.equipment, json.dumps(data.codes), data.original_lang, data.author,
                        int(data.sample), data.status, data.reject_reason, row[0]])
            _write_content(db, row[0], data, actor, utcnow())
            _record(db, row[0], actor, "import")
            report.updated += 1
    return report
