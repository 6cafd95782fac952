"""Translation memory (TM): sentences already translated, served again.

A *unit* is one sentence in two to five of the working languages (TMX's
``<tu>``); any two of its variants form a sentence pair, so a unit with all
five languages serves all 20 directions.

    tm = TranslationMemory(storage.conn)
    tm.lookup("Arrêtez la machine", "fr", "zh")   # MemoryMatch(text="把设备停下来。", ...)
    storage.write(add_unit, {"fr": ..., "zh": ...}, status="unreviewed",
                  origin="correction", actor="u:42")

Storage follows ``glossary.store``: plain functions on a ``sqlite_utils.Database``
that never open a transaction (the caller runs writes through
``Storage.write``). Every write is audited and bumps ``meta.tm_rev`` in the
same transaction, which is how the in-memory lookup index, in this process or
another, learns that it is stale.

Matching compares texts folded by ``glossary.normalize.normalize`` (case,
accents, width, Traditional Chinese, invisible characters). The score of a
match is rapidfuzz ``fuzz.ratio`` of the two folded texts: 100 when they are
the same. Whether a match is served is decided without the punctuation at the
ends of either sentence (``sentence_key``): people on a phone leave out the
full stop, and a full-width 。 weighs a lot in a six-character Chinese
sentence. So "停机" finds "停机。" (the same sentence, score 80) whatever the
threshold, and "Stop the coater!" finds "Stop the coater." with score 93.75.

A fuzzy match is refused when the two sentences differ in a way a similarity
score does not weigh but a person on the line must: their numbers, their
alarm codes or their negations ("Stop line 4" never gets the translation of
"Stop line 3"; "Do not open the door" never gets "Open the door"; see
``safety_signature``).

TMX 1.4b is read and written here too, with the safe XML parsing of
``glossary.exchange``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from importlib import metadata, resources
from pathlib import Path
from typing import Callable, Iterable, Iterator

import sqlite_utils
from lxml import etree
from rapidfuzz import fuzz, process

from glossary.exchange import XML_LANG, lang_of, local_name, parse_xml, read_bytes
from glossary.model import LANGS, GlossaryError
from glossary.normalize import normalize, to_simplified
from glossary.store import ImportReport, audit, execute_script, utcnow

STATUSES: tuple[str, ...] = ("unreviewed", "approved")
#: Where a unit came from. Checked here, not by the schema, so that a new
#: origin needs no table rebuild.
ORIGINS: tuple[str, ...] = ("phrasebook", "tmx", "correction", "manual")

#: Longest sentence we store or look up. A TM holds sentences, not documents;
#: the cap also bounds what a hostile import or message can cost.
MAX_TEXT_CHARS = 2000
MAX_NOTE_CHARS = 4000
MAX_UNITS = 200_000  # per TMX file
DEFAULT_THRESHOLD = 85.0

PHRASEBOOK = "data/phrasebook.tmx"  # inside the bot package
PHRASEBOOK_VERSION = "1"  # bump when the shipped phrasebook changes

_LANG_BIT = {lang: 1 << i for i, lang in enumerate(LANGS)}


class TMError(ValueError):
    """Bad translation-memory data or TMX file; the message names the place."""


@dataclass
class Unit:
    """One sentence in several languages. ``variants`` maps a language code to
    the text; its first entry is the unit's source (what import merges on)."""

    variants: dict[str, str]
    status: str = "unreviewed"
    note: str = ""
    origin: str = "manual"
    id: int | None = None  # set on units read from the database

    def key(self) -> tuple:
        """A comparable form, without the id: what 'unchanged' means."""
        return (tuple(sorted(self.variants.items())), self.status, self.note, self.origin)


@dataclass(frozen=True)
class MemoryMatch:
    text: str  # the translation: the unit's variant in the target language
    source_text: str  # the stored sentence that matched, in the source language
    score: float  # fuzz.ratio of the normalised texts: 100.0 when they are equal
    unit_id: int
    status: str
    origin: str

    @property
    def exact(self) -> bool:
        return self.score >= 100.0


# --------------------------------------------------------------------------
# Keys: what is compared

# Unicode punctuation except dashes: a leading "-" may be a minus sign.
_EDGE_PUNCT = {"Po", "Ps", "Pe", "Pi", "Pf", "Pc"}


def sentence_key(norm: str) -> str:
    """A normalised text without the punctuation and spaces at either end:
    people on a phone leave out the full stop, the sentence stays the same."""
    start, end = 0, len(norm)
    while start < end and _is_edge(norm[start]):
        start += 1
    while end > start and _is_edge(norm[end - 1]):
        end -= 1
    return norm[start:end]


def _is_edge(ch: str) -> bool:
    return ch == " " or unicodedata.category(ch) in _EDGE_PUNCT


# Numbers and codes, in order. A code is letters then digits, maybe joined by
# - or _ (E-203, AL12B), and is compared without the joiner (E-203 = E203). A
# minus sign belongs to a number only where it cannot be a joiner ("-40").
_NUMBER_OR_CODE = re.compile(r"(?<![a-z0-9])(?:[a-z]+[-_]?\d[a-z0-9]*|-?\d+)|\d+")
_HAS_DIGIT = re.compile(r"\d").search
_JOINERS = str.maketrans("", "", "-_")
# Negation markers per language, on the sentence key (accents already stripped,
# Traditional already Simplified). Their number is compared, so that "don't"
# and "do not" agree but a sentence that differs by a "not" is no fuzzy match.
_NEGATION = {
    "en": re.compile(r"\b(?:not|no|never|nothing|nobody|none|cannot)\b|n['’]t\b"),
    "fr": re.compile(r"\b(?:ne|pas|jamais|rien|aucun|aucune|sans)\b|\bn['’]"),
    "ms": re.compile(r"\b(?:jangan|tidak|tak|bukan|belum|tiada|usah)\b"),
    "zh": re.compile(r"[不没别勿未无非禁]"),
    # 안 only as a word of its own (안 돼요), not inside 안전 (safety).
    "ko": re.compile(r"(?:^|(?<=\s))안(?=\s|돼|$)|않|못|없|금지|지\s?(?:마|말)"),
}


def safety_signature(key: str, lang: str) -> tuple:
    """What a fuzzy match must share with the query (a sentence key in ``lang``):
    its numbers and codes, in order, and how many negations it has."""
    tokens = ()
    if _HAS_DIGIT(key):  # most sentences have none: skip the costlier scan
        tokens = tuple(t if t[0] == "-" else t.translate(_JOINERS)
                       for t in _NUMBER_OR_CODE.findall(key))
    return tokens, len(_NEGATION[lang].findall(key))


# --------------------------------------------------------------------------
# Schema and validation


def migrate_v2(db: sqlite_utils.Database) -> None:
    """Translation units and their language variants."""
    execute_script(db,
        """
        INSERT INTO meta (key, value) VALUES ('tm_rev', '0');

        -- AUTOINCREMENT: a deleted unit's id is never given again, so the
        -- audit rows of one id are the history of one unit.
        CREATE TABLE tm_unit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            status TEXT NOT NULL DEFAULT 'unreviewed' CHECK (status IN ('unreviewed', 'approved')),
            origin TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        -- norm is glossary.normalize.normalize(text), computed at write time.
        CREATE TABLE tm_variant (
            unit_id INTEGER NOT NULL REFERENCES tm_unit(id) ON DELETE CASCADE,
            lang TEXT NOT NULL CHECK (lang IN ('zh', 'ko', 'ms', 'fr', 'en')),
            text TEXT NOT NULL,
            norm TEXT NOT NULL,
            PRIMARY KEY (unit_id, lang)
        ) WITHOUT ROWID;
        CREATE INDEX tm_variant_norm ON tm_variant(lang, norm);
        """
    )


# XML 1.0 cannot carry these (TMX export would fail), SQLite text should not
# (lone surrogates cannot even be encoded): refuse them at the door.
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _check_text(text: object, what: str, limit: int) -> str:
    if not isinstance(text, str):
        raise TMError(f"{what} is not text: {text!r}")
    if len(text) > limit:
        raise TMError(f"{what} is longer than {limit} characters")
    bad = _BAD_CHARS.search(text)
    if bad:
        name = "a NUL character" if bad.group() == "\x00" else f"the control character {bad.group()!r}"
        raise TMError(f"{what} contains {name}")
    return text.strip()


def validate_unit(unit: Unit, where: str = "") -> Unit:
    """The unit as it will be stored (texts stripped, blank variants dropped),
    or TMError naming ``where``."""
    at = f"{where}: " if where else ""
    try:
        if unit.status not in STATUSES:
            raise TMError(f"unknown status {unit.status!r} (one of: {', '.join(STATUSES)})")
        if unit.origin not in ORIGINS:
            raise TMError(f"unknown origin {unit.origin!r} (one of: {', '.join(ORIGINS)})")
        if not isinstance(unit.variants, dict):
            raise TMError("variants must map language codes to text")
        variants = {}
        for lang, text in unit.variants.items():
            if lang not in LANGS:
                raise TMError(f"unknown language {lang!r} (one of: {', '.join(LANGS)})")
            text = _check_text(text, f"{lang} text", MAX_TEXT_CHARS)
            if sentence_key(normalize(text)):  # else blank, punctuation or invisible
                variants[lang] = text
        if len(variants) < 2:
            raise TMError(f"a unit needs text in at least two languages, got {sorted(variants) or 'none'}")
        note = _check_text(unit.note, "note", MAX_NOTE_CHARS)
    except TMError as exc:
        raise TMError(f"{at}{exc}") from None
    return replace(unit, variants=variants, note=note)


# --------------------------------------------------------------------------
# Reading


def tm_rev(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = 'tm_rev'").fetchone()[0])


def _bump_rev(db: sqlite_utils.Database) -> None:
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'tm_rev'")


def _load(db: sqlite_utils.Database, where: str = "", params: list | None = None) -> list[Unit]:
    units: dict[int, Unit] = {}
    for uid, status, note, origin in db.execute(
        f"SELECT id, status, note, origin FROM tm_unit {where} ORDER BY id", params or []
    ):
        units[uid] = Unit({}, status=status, note=note, origin=origin, id=uid)
    if not units:
        return []
    sql = "SELECT unit_id, lang, text FROM tm_variant"
    if where:  # one unit: use the primary key rather than scan
        sql += f" WHERE unit_id IN (SELECT id FROM tm_unit {where})"
    found: dict[int, dict[str, str]] = {}
    for uid, lang, text in db.execute(sql, params or []):
        found.setdefault(uid, {})[lang] = text
    for uid, unit in units.items():
        unit.variants = {lang: found[uid][lang] for lang in LANGS if lang in found.get(uid, {})}
    return list(units.values())


def load_unit(db: sqlite_utils.Database, unit_id: int) -> Unit | None:
    units = _load(db, "WHERE id = ?", [unit_id])
    return units[0] if units else None


def all_units(db: sqlite_utils.Database) -> list[Unit]:
    """Every unit, oldest first, variants in the order of LANGS."""
    return _load(db)


# --------------------------------------------------------------------------
# Writing


def _write_variants(db: sqlite_utils.Database, unit_id: int, variants: dict[str, str]) -> None:
    db.conn.executemany(
        "INSERT INTO tm_variant (unit_id, lang, text, norm) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (unit_id, lang) DO UPDATE SET text = excluded.text, norm = excluded.norm",
        [(unit_id, lang, text, normalize(text)) for lang, text in variants.items()],
    )


def _insert(db: sqlite_utils.Database, unit: Unit, actor: str, now: str) -> int:
    unit_id = db.execute(
        "INSERT INTO tm_unit (status, origin, note, created_by, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [unit.status, unit.origin, unit.note, actor, now, now],
    ).lastrowid
    _write_variants(db, unit_id, unit.variants)
    audit(db, actor, "create", "tm_unit", str(unit_id),
          {"origin": unit.origin, "status": unit.status, "langs": list(unit.variants)})
    return unit_id


def add_unit(db: sqlite_utils.Database, variants: dict[str, str], *, status: str,
             origin: str, actor: str, note: str = "") -> int:
    """Store a new unit; returns its id. Raises TMError on bad data."""
    unit = validate_unit(Unit(dict(variants), status=status, note=note, origin=origin))
    unit_id = _insert(db, unit, actor, utcnow())
    _bump_rev(db)
    return unit_id


def set_status(db: sqlite_utils.Database, unit_id: int, status: str, actor: str) -> bool:
    """Approve a unit (or take approval back). False when the unit does not
    exist or already has that status."""
    if status not in STATUSES:
        raise TMError(f"unknown status {status!r} (one of: {', '.join(STATUSES)})")
    changed = db.execute(
        "UPDATE tm_unit SET status = ?, updated_at = ? WHERE id = ? AND status != ?",
        [status, utcnow(), unit_id, status],
    ).rowcount > 0
    if changed:
        audit(db, actor, "status", "tm_unit", str(unit_id), {"status": status})
        _bump_rev(db)
    return changed


def delete_unit(db: sqlite_utils.Database, unit_id: int, actor: str) -> bool:
    """Delete a unit (its variants go with it). The audit row keeps the texts."""
    unit = load_unit(db, unit_id)
    if unit is None:
        return False
    db.execute("DELETE FROM tm_unit WHERE id = ?", [unit_id])
    audit(db, actor, "delete", "tm_unit", str(unit_id), {"variants": unit.variants})
    _bump_rev(db)
    return True


def _merged(old: Unit, new: Unit) -> Unit:
    """``old`` after importing ``new`` (see import_units)."""
    variants = {**old.variants, **new.variants}
    if variants == old.variants:  # same texts: an approval may be added, never lost
        status = max(old.status, new.status, key=STATUSES.index)
    else:  # new texts: approved only if the file says so
        status = new.status
    return replace(old, variants={lang: variants[lang] for lang in LANGS if lang in variants},
                   status=status, note=new.note or old.note)


def import_units(db: sqlite_utils.Database, units: Iterable[Unit], actor: str) -> ImportReport:
    """Merge units into the memory.

    The rule: an incoming unit is *the same* as the oldest stored unit that has
    its first variant (its source: for TMX the ``srclang`` one), compared as
    normalised text. That stored unit then takes the incoming variants (languages
    the file lacks are kept), the incoming note if it has one, and its status:
    the file's status when a text changed, else the higher of the two (a file
    never takes an approval back from an unchanged unit). Its origin stays.
    Any other incoming unit is added.

    Everything is validated before the first write; run inside one
    transaction (``Storage.write``) and a bad unit leaves nothing behind.
    """
    units = [validate_unit(u, where=f"unit {n}") for n, u in enumerate(units, 1)]
    report = ImportReport()
    now = utcnow()
    for unit in units:
        lang, text = next(iter(unit.variants.items()))
        row = db.execute(
            "SELECT min(unit_id) FROM tm_variant WHERE lang = ? AND norm = ?",
            [lang, normalize(text)],
        ).fetchone()
        if row[0] is None:
            _insert(db, unit, actor, now)
            report.added += 1
            continue
        old = load_unit(db, row[0])
        new = _merged(old, unit)
        if new.key() == old.key():
            report.unchanged += 1
            continue
        db.execute("UPDATE tm_unit SET status = ?, note = ?, updated_at = ? WHERE id = ?",
                   [new.status, new.note, now, old.id])
        _write_variants(db, old.id, new.variants)
        audit(db, actor, "update", "tm_unit", str(old.id),
              {"langs": sorted(k for k in new.variants if new.variants[k] != old.variants.get(k)),
               "status": new.status})
        report.updated += 1
    if report.added or report.updated:
        _bump_rev(db)
    return report


def phrasebook_bytes() -> bytes:
    return resources.files("bot").joinpath(PHRASEBOOK).read_bytes()


def seed(db: sqlite_utils.Database) -> ImportReport | None:
    """Load the shipped phrasebook, once per phrasebook version (a newer
    version is merged by import_units' rule)."""
    done = db.execute("SELECT value FROM meta WHERE key = 'phrasebook_seed_version'").fetchone()
    if done and done[0] == PHRASEBOOK_VERSION:
        return None
    units = [replace(u, status="unreviewed", origin="phrasebook") for u in read_tmx(phrasebook_bytes())]
    report = import_units(db, units, actor="seed")
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('phrasebook_seed_version', ?)",
               [PHRASEBOOK_VERSION])
    return report


# --------------------------------------------------------------------------
# Lookup


class _LangIndex:
    """The sentences of one source language, sorted by safety signature, then
    by the length of their sentence key.

    The signature is the safety rule: a fuzzy match is only sought among the
    stored sentences with the same numbers, codes and negations (one slice of
    the sorted list), so 50,000 sentences that differ by a roll number cost a
    slice of one, not 50,000 scores. Length, because ``fuzz.ratio`` cannot
    reach the threshold between strings of very different lengths: only the
    part of the slice whose lengths can is scored.
    """

    def __init__(self, rows: Iterable[tuple[int, str, bool, str]], lang: str, rev: int):
        self.lang = lang
        self.rev = rev
        entries = []
        for unit_id, norm, approved, langs in rows:
            key = sentence_key(norm)
            # which languages the unit has: a match without the target is no match
            bits = sum(_LANG_BIT[code] for code in langs.split(","))
            entries.append((safety_signature(key, lang), len(key), key, norm, unit_id, bool(approved), bits))
        entries.sort(key=lambda entry: entry[:2])
        self.lengths = [entry[1] for entry in entries]
        self.keys = [entry[2] for entry in entries]
        self.norms = [entry[3] for entry in entries]
        self.units = [entry[4:] for entry in entries]  # (unit id, approved, language bits)
        self.slices: dict[tuple, tuple[int, int]] = {}
        for position, entry in enumerate(entries):
            first, _ = self.slices.get(entry[0], (position, position))
            self.slices[entry[0]] = (first, position + 1)

    def candidates(self, norm: str, target: str, threshold: float) -> list[tuple]:
        """(key score, score, approved, unit id) of the units that may answer
        the normalised query ``norm``, unsorted. The key score (sentence keys
        compared) decides; the score (normalised texts compared) is reported."""
        key = sentence_key(norm)
        first, last = self.slices.get(safety_signature(key, self.lang), (0, 0))
        # ratio <= 200·min(a, b) / (a + b): the lengths that can reach the
        # threshold, with one character of slack against rounding (the
        # scorer's cutoff does the exact work).
        shortest = int(len(key) * threshold / (200.0 - threshold)) - 1
        longest = int(len(key) * (200.0 - threshold) / threshold) + 1
        lo = bisect_left(self.lengths, shortest, first, last)
        hi = bisect_right(self.lengths, longest, lo, last)
        bit = _LANG_BIT[target]
        found = []
        for _, key_score, i in process.extract(key, self.keys[lo:hi], scorer=fuzz.ratio,
                                               score_cutoff=threshold, limit=None):
            unit_id, approved, langs = self.units[lo + i]
            if langs & bit:
                found.append((key_score, fuzz.ratio(norm, self.norms[lo + i]), approved, unit_id))
        return found


class TranslationMemory:
    """Lookups in the translation memory of one database.

    ``conn`` returns a connection usable by the calling thread (the
    application passes ``Storage.conn``). One in-memory index per source
    language is built on first use and rebuilt when ``tm_rev`` moves, also
    when another process wrote. Safe to share between threads.
    """

    def __init__(self, conn: Callable[[], sqlite_utils.Database],
                 threshold: float = DEFAULT_THRESHOLD):
        if not 0.0 < threshold <= 100.0:
            raise ValueError(f"threshold must be in (0, 100], not {threshold!r}")
        self._conn = conn
        self.threshold = float(threshold)
        self._indexes: dict[str, _LangIndex] = {}
        self._lock = threading.Lock()

    def lookup(self, text: str, source: str, target: str) -> MemoryMatch | None:
        """The stored translation of ``text`` from ``source`` into ``target``.

        Candidates are the stored sentences whose sentence key (see
        ``sentence_key``) scores at or above the threshold against the
        query's and whose numbers, codes and negations agree. The best key
        score wins (100: the same sentence), then the best score (the
        normalised texts, punctuation included: 100 is an exact match), then
        approved over unreviewed, then the newest unit. None when nothing fits.
        """
        for lang in (source, target):
            if lang not in LANGS:
                raise TMError(f"unknown language {lang!r} (one of: {', '.join(LANGS)})")
        if source == target:
            raise TMError(f"source and target are both {source!r}")
        # Cheap guard before folding: NFKC can only grow a text a few times over.
        if not isinstance(text, str) or len(text) > 4 * MAX_TEXT_CHARS:
            return None
        norm = normalize(text)
        if not sentence_key(norm) or len(norm) > MAX_TEXT_CHARS:
            return None
        ranked = sorted(self.index(source).candidates(norm, target, self.threshold), reverse=True)
        db = self._conn()
        for _, score, _, unit_id in ranked:
            match = _fetch(db, unit_id, source, target, score)
            if match is not None:  # else deleted since the index was built
                return match
        return None

    def rev(self) -> int:
        """The memory's revision: changes with every write (for caches)."""
        return tm_rev(self._conn())

    def index(self, lang: str) -> _LangIndex:
        db = self._conn()
        rev = tm_rev(db)
        index = self._indexes.get(lang)
        if index is not None and index.rev == rev:
            return index
        with self._lock:  # one thread rebuilds; the others wait for it
            index = self._indexes.get(lang)
            if index is None or index.rev != rev:
                index = self._indexes[lang] = _build_index(db, lang)
            return index


def _build_index(db: sqlite_utils.Database, lang: str) -> _LangIndex:
    with db.conn:  # rev and rows from one snapshot, so that they agree
        db.execute("BEGIN")
        rev = tm_rev(db)
        rows = db.execute(
            "SELECT v.unit_id, v.norm, u.status = 'approved', "
            "       (SELECT group_concat(w.lang) FROM tm_variant w WHERE w.unit_id = v.unit_id) "
            "FROM tm_variant v JOIN tm_unit u ON u.id = v.unit_id WHERE v.lang = ?",
            [lang],
        ).fetchall()
    return _LangIndex(rows, lang, rev)


def _fetch(db: sqlite_utils.Database, unit_id: int, source: str, target: str,
           score: float) -> MemoryMatch | None:
    row = db.execute(
        "SELECT s.text, t.text, u.status, u.origin FROM tm_unit u "
        "JOIN tm_variant s ON s.unit_id = u.id AND s.lang = ? "
        "JOIN tm_variant t ON t.unit_id = u.id AND t.lang = ? WHERE u.id = ?",
        [source, target, unit_id],
    ).fetchone()
    if row is None:
        return None
    return MemoryMatch(text=row[1], source_text=row[0], score=float(score),
                       unit_id=unit_id, status=row[2], origin=row[3])


# --------------------------------------------------------------------------
# TMX 1.4b

_STATUS_PROP = "x-shopbot-status"
_ORIGIN_PROP = "x-shopbot-origin"
#: Inline elements whose content is the original document's formatting code,
#: not sentence text: dropped with what they hold (<sub> lives inside them).
#: <hi> holds real text and is read through.
_CODE_ELEMENTS = {"bpt", "ept", "it", "ph", "ut"}
#: How we write our codes: "zh" alone does not say which script.
_TMX_LANG = {"zh": "zh-CN"}
TMX_DOCTYPE = '<!DOCTYPE tmx SYSTEM "tmx14.dtd">'


def read_tmx(source) -> list[Unit]:
    """Units from a TMX file (a path or bytes); see read_tmx_report."""
    return read_tmx_report(source)[0]


def read_tmx_report(source) -> tuple[list[Unit], dict[str, int]]:
    """Units, and the variants skipped: xml:lang as written -> count.

    Every unit is validated; any problem raises TMError naming the line, so a
    file is read whole or not at all. Traditional Chinese variants (zh-TW,
    zh-Hant...) become Simplified; the first variant of each unit is its
    source language (tu ``srclang``, else the header's, else the first tuv).
    """
    try:
        root = parse_xml(read_bytes(source))
    except GlossaryError as exc:  # the shared XML checks speak GlossaryError
        raise TMError(str(exc)) from None
    if local_name(root) != "tmx":
        raise TMError(f"line {root.sourceline}: root element <{local_name(root)}> is not <tmx>")
    header = next((el for el in _elements(root) if local_name(el) == "header"), None)
    body = next((el for el in _elements(root) if local_name(el) == "body"), None)
    if body is None:
        raise TMError(f"line {root.sourceline}: <tmx> has no <body>")
    default_src = lang_of(header.get("srclang", ""))[0] if header is not None else None
    units: list[Unit] = []
    skipped: dict[str, int] = {}
    for tu in _elements(body):
        if local_name(tu) != "tu":
            continue
        if len(units) >= MAX_UNITS:
            raise TMError(f"line {tu.sourceline}: more than {MAX_UNITS} units in one file")
        units.append(_unit_from_tu(tu, default_src, skipped))
    return units, skipped


def _elements(el: etree._Element) -> Iterator[etree._Element]:
    """Child elements, without comments and processing instructions."""
    return (child for child in el if isinstance(child.tag, str))


def _unit_from_tu(tu: etree._Element, default_src: str | None, skipped: dict[str, int]) -> Unit:
    line = tu.sourceline
    unit = Unit({}, origin="tmx")
    notes = []
    for item in _elements(tu):
        name = local_name(item)
        if name == "note" and _plain(item):
            notes.append(_plain(item))
        elif name == "prop" and item.get("type") == _STATUS_PROP:
            unit.status = _plain(item)
        elif name == "prop" and item.get("type") == _ORIGIN_PROP:
            unit.origin = _plain(item)
        elif name == "tuv":
            _read_tuv(item, unit.variants, skipped)
    if len(unit.variants) < 2:
        raise TMError(f"line {line}: <tu> has fewer than two languages we know")
    unit.note = "\n".join(notes)
    source = lang_of(tu.get("srclang", ""))[0] or default_src
    if source in unit.variants:  # the source first: import merges on it
        unit.variants = {source: unit.variants[source], **unit.variants}
    return validate_unit(unit, where=f"line {line}")


def _read_tuv(tuv: etree._Element, variants: dict[str, str], skipped: dict[str, int]) -> None:
    raw = tuv.get(XML_LANG) or tuv.get("lang")  # "lang": TMX 1.1 and 1.2
    if not raw:
        raise TMError(f"line {tuv.sourceline}: <tuv> has no xml:lang")
    lang, traditional = lang_of(raw)
    if lang is None:
        skipped[raw.strip()] = skipped.get(raw.strip(), 0) + 1
        return
    seg = next((el for el in _elements(tuv) if local_name(el) == "seg"), None)
    if seg is None:
        raise TMError(f"line {tuv.sourceline}: <tuv> has no <seg>")
    text = _seg_text(seg).strip()
    if traditional:
        text = to_simplified(text)
    # Two variants of one language (en-US and en-GB; zh-CN and zh-TW): the
    # first with text is kept.
    if text and lang not in variants:
        variants[lang] = text


def _seg_text(el: etree._Element) -> str:
    """The sentence text of a <seg>: its text and that of <hi>, without the
    formatting codes of <bpt>, <ph>... (their tails are text)."""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str) and local_name(child) not in _CODE_ELEMENTS:
            parts.append(_seg_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _plain(el: etree._Element) -> str:
    return "".join(el.itertext()).strip()


def tmx_bytes(units: Iterable[Unit], srclang: str = "en") -> bytes:
    """TMX 1.4b, UTF-8. Validates every unit before building anything."""
    if srclang not in LANGS:
        raise TMError(f"unknown language {srclang!r} (one of: {', '.join(LANGS)})")
    units = [validate_unit(u, where=f"unit {n}") for n, u in enumerate(units, 1)]
    root = etree.Element("tmx", version="1.4")
    etree.SubElement(root, "header", {
        "creationtool": "shopbot", "creationtoolversion": _tool_version(),
        "segtype": "sentence", "o-tmf": "shopbot", "adminlang": "en",
        "srclang": _TMX_LANG.get(srclang, srclang), "datatype": "plaintext",
    })
    body = etree.SubElement(root, "body")
    for unit in units:
        _tu_of(body, unit, srclang)
    return etree.tostring(root.getroottree(), pretty_print=True, xml_declaration=True,
                          encoding="UTF-8", doctype=TMX_DOCTYPE)


def _tool_version() -> str:
    try:
        return metadata.version("shopbot")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "dev"


def _tu_of(body: etree._Element, unit: Unit, srclang: str) -> None:
    tu = etree.SubElement(body, "tu")
    if unit.id is not None:
        tu.set("tuid", str(unit.id))
    for prop, value in ((_STATUS_PROP, unit.status), (_ORIGIN_PROP, unit.origin)):
        etree.SubElement(tu, "prop", type=prop).text = value
    if unit.note:
        etree.SubElement(tu, "note").text = unit.note
    # The header's source language first, for people reading the file.
    for lang in sorted(unit.variants, key=lambda lang: lang != srclang):
        tuv = etree.SubElement(tu, "tuv", {XML_LANG: _TMX_LANG.get(lang, lang)})
        etree.SubElement(tuv, "seg").text = unit.variants[lang]


def write_tmx(units: Iterable[Unit], dest, srclang: str = "en") -> None:
    """Write units as a TMX 1.4b file (see tmx_bytes)."""
    Path(dest).write_bytes(tmx_bytes(units, srclang))
