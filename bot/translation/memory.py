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
from datetime import datetime, timezone
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, replace
from importlib import metadata, resources
from pathlib import Path
from typing import Callable, Iterable, Iterator

import sqlite_utils
from lxml import etree
from rapidfuzz import fuzz, process

from glossary.exchange import XML_LANG, ReadReport, lang_tag, local_name, parse_xml, read_bytes
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
    #: lang -> the TMX <seg> content as written (inline codes <bpt>, <ept>,
    #: <ph>, <it>, <hi> kept), for variants that have codes; ``variants``
    #: holds the plain text that lookups compare.
    markup: dict[str, str] = field(default_factory=dict)
    changed: str = ""  # when the file says the unit was last changed (UTC, ISO 8601)
    #: Other translations of the same source, kept rather than overwritten:
    #: (lang, text, markup or "", changed). Lookups serve ``variants`` only.
    alternatives: list[tuple[str, str, str, str]] = field(default_factory=list)
    alternative: bool = False  # read from our export: this unit is another's alternative

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


def migrate_tmx_exchange(db: sqlite_utils.Database) -> None:
    """TMX as CAT tools write it: inline codes kept (markup), the file's date
    of a unit (changed), and other translations of one source kept as
    alternatives instead of being overwritten."""
    execute_script(db,
        """
        ALTER TABLE tm_variant ADD COLUMN markup TEXT;
        ALTER TABLE tm_unit ADD COLUMN changed TEXT NOT NULL DEFAULT '';
        CREATE TABLE tm_alternative (
            unit_id INTEGER NOT NULL REFERENCES tm_unit(id) ON DELETE CASCADE,
            lang TEXT NOT NULL,
            text TEXT NOT NULL,
            markup TEXT NOT NULL DEFAULT '',
            changed TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (unit_id, lang, text)
        ) WITHOUT ROWID;
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
        markup = {lang: _check_text(text, f"{lang} markup", 4 * MAX_TEXT_CHARS)
                  for lang, text in unit.markup.items() if lang in variants and text}
    except TMError as exc:
        raise TMError(f"{at}{exc}") from None
    return replace(unit, variants=variants, note=note, markup=markup)


# --------------------------------------------------------------------------
# Reading


def tm_rev(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT value FROM meta WHERE key = 'tm_rev'").fetchone()[0])


def _bump_rev(db: sqlite_utils.Database) -> None:
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'tm_rev'")


def _load(db: sqlite_utils.Database, where: str = "", params: list | None = None) -> list[Unit]:
    units: dict[int, Unit] = {}
    for uid, status, note, origin, changed in db.execute(
        f"SELECT id, status, note, origin, changed FROM tm_unit {where} ORDER BY id", params or []
    ):
        units[uid] = Unit({}, status=status, note=note, origin=origin, id=uid, changed=changed)
    if not units:
        return []
    sql = "SELECT unit_id, lang, text, markup FROM tm_variant"
    alt_sql = "SELECT unit_id, lang, text, markup, changed FROM tm_alternative"
    if where:  # one unit: use the primary key rather than scan
        sql += f" WHERE unit_id IN (SELECT id FROM tm_unit {where})"
        alt_sql += f" WHERE unit_id IN (SELECT id FROM tm_unit {where})"
    found: dict[int, dict[str, str]] = {}
    for uid, lang, text, markup in db.execute(sql, params or []):
        found.setdefault(uid, {})[lang] = text
        if markup:
            units[uid].markup[lang] = markup
    for uid, lang, text, markup, changed in db.execute(alt_sql + " ORDER BY unit_id, lang, text", params or []):
        units[uid].alternatives.append((lang, text, markup, changed))
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


def _write_variants(db: sqlite_utils.Database, unit_id: int, variants: dict[str, str],
                    markup: dict[str, str] | None = None) -> None:
    markup = markup or {}
    db.conn.executemany(
        "INSERT INTO tm_variant (unit_id, lang, text, norm, markup) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (unit_id, lang) DO UPDATE SET text = excluded.text, norm = excluded.norm, "
        "markup = excluded.markup",
        [(unit_id, lang, text, normalize(text), markup.get(lang)) for lang, text in variants.items()],
    )


def _insert(db: sqlite_utils.Database, unit: Unit, actor: str, now: str) -> int:
    unit_id = db.execute(
        "INSERT INTO tm_unit (status, origin, note, created_by, created_at, updated_at, changed) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [unit.status, unit.origin, unit.note, actor, now, now, unit.changed],
    ).lastrowid
    _write_variants(db, unit_id, unit.variants, unit.markup)
    _add_alternatives(db, unit_id, unit.alternatives)
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


@dataclass
class TMImportReport(ImportReport):
    """ImportReport, and how many translations were kept as alternatives
    because the memory already had another one for the same source."""

    alternatives: int = 0

    def __str__(self) -> str:
        text = super().__str__()
        if self.alternatives:
            text += (f"; {self.alternatives} other translation(s) of a source already held "
                     "kept as alternatives (the newer preferred)")
        return text


def _add_alternatives(db: sqlite_utils.Database, unit_id: int, alternatives) -> int:
    return sum(db.execute(
        "INSERT OR IGNORE INTO tm_alternative (unit_id, lang, text, markup, changed) VALUES (?, ?, ?, ?, ?)",
        [unit_id, lang, text, markup or "", changed or ""]).rowcount for lang, text, markup, changed in alternatives)


def _precise_now() -> str:
    # Finer than utcnow(): two imports within one second still have an order.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def import_units(db: sqlite_utils.Database, units: Iterable[Unit], actor: str) -> TMImportReport:
    """Merge units into the memory.

    The rule: an incoming unit is *the same* as the oldest stored unit that has
    its first variant (its source: for TMX the ``srclang`` one), compared as
    normalised text. That stored unit takes the incoming languages it lacks,
    the incoming note if it has one, and its status: the file's status when a
    text changed, else the higher of the two (a file never takes an approval
    back from an unchanged unit). Its origin stays. Any other unit is added.

    A translation that differs from the stored one is never a silent
    overwrite: both are kept, the newer preferred (served by lookups), the
    other as an alternative. Newer: the file's date for the unit (TMX
    changedate/creationdate), else the time of its import; on a tie (one
    file, no dates) the greater text, so that the result does not depend on
    the order of units in a file. A text the unit already holds, preferred
    or alternative, changes nothing: importing a file again is a no-op.

    Everything is validated before the first write; run inside one
    transaction (``Storage.write``) and a bad unit leaves nothing behind.
    """
    units = [validate_unit(u, where=f"unit {n}") for n, u in enumerate(units, 1)]
    report = TMImportReport()
    now = _precise_now()
    for unit in units:
        lang, text = next(iter(unit.variants.items()))
        row = db.execute(
            "SELECT min(unit_id) FROM tm_variant WHERE lang = ? AND norm = ?",
            [lang, normalize(text)],
        ).fetchone()
        if row[0] is None:
            _insert(db, replace(unit, alternatives=[]), actor, now)
            report.added += 1
            continue
        old = load_unit(db, row[0])
        old_date = old.changed or db.execute("SELECT updated_at FROM tm_unit WHERE id = ?",
                                             [old.id]).fetchone()[0]
        new_date = unit.changed or now
        variants, markup = dict(old.variants), dict(old.markup)
        known = {(k, normalize(t)) for k, t in old.variants.items()}
        known |= {(k, normalize(t)) for k, t, *_ in old.alternatives}
        alternatives, changed_texts = [], []
        for code, incoming in unit.variants.items():
            if (code, normalize(incoming)) in known:
                if code in variants and normalize(variants[code]) == normalize(incoming) \
                        and unit.markup.get(code) and not markup.get(code):
                    markup[code] = unit.markup[code]  # the same text, now with its codes
                continue
            if code not in variants:
                variants[code], markup[code] = incoming, unit.markup.get(code, "")
                changed_texts.append(code)
            elif not unit.alternative and (new_date, incoming) > (old_date, variants[code]):
                alternatives.append((code, variants[code], markup.get(code, ""), old_date))
                variants[code], markup[code] = incoming, unit.markup.get(code, "")
                changed_texts.append(code)
            else:
                alternatives.append((code, incoming, unit.markup.get(code, ""), new_date))
        if changed_texts:  # new texts: approved only if the file says so
            status = unit.status
        else:  # an approval may be added, never lost
            status = max(old.status, unit.status, key=STATUSES.index)
        note = unit.note or old.note
        changed = max(old.changed, unit.changed) if changed_texts else old.changed
        if not changed_texts and not alternatives and (status, note) == (old.status, old.note) \
                and markup == old.markup:
            report.unchanged += 1
            continue
        db.execute("UPDATE tm_unit SET status = ?, note = ?, updated_at = ?, changed = ? WHERE id = ?",
                   [status, note, now, changed, old.id])
        ordered = {code: variants[code] for code in LANGS if code in variants}
        _write_variants(db, old.id, ordered, {k: v for k, v in markup.items() if v})
        report.alternatives += _add_alternatives(db, old.id, alternatives)
        # A text that became the preferred one is no longer an alternative.
        for code in changed_texts:
            db.execute("DELETE FROM tm_alternative WHERE unit_id = ? AND lang = ? AND text = ?",
                       [old.id, code, variants[code]])
        audit(db, actor, "update", "tm_unit", str(old.id),
              {"langs": sorted(changed_texts), "status": status,
               "alternatives": [[code, text] for code, text, *_ in alternatives]})
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
#
# Read as CAT tools write it: any encoding the file declares (UTF-16 is common),
# language tags by BCP 47 rules (three-letter codes, scripts; Cantonese is not
# Mandarin), units outside our languages skipped and counted rather than the
# file refused, inline codes kept. Written as TMX 1.4b, valid against its DTD.

_STATUS_PROP = "x-shopbot-status"
_ORIGIN_PROP = "x-shopbot-origin"
_ALTERNATIVE_PROP = "x-shopbot-alternative-of"
#: Inline elements whose content is the original document's formatting code,
#: not sentence text: left out of the plain text (kept in the markup). <hi>
#: holds real text and is read through.
_CODE_ELEMENTS = {"bpt", "ept", "it", "ph", "ut"}
_INLINE = _CODE_ELEMENTS | {"hi", "sub"}
#: How we write our codes: "zh" alone does not say which script.
_TMX_LANG = {"zh": "zh-CN"}
TMX_DOCTYPE = '<!DOCTYPE tmx SYSTEM "tmx14.dtd">'
_TMX_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")


def read_tmx(source) -> list[Unit]:
    """Units from a TMX file (a path or bytes); see read_tmx_report."""
    return read_tmx_report(source)[0]


def read_tmx_report(source) -> tuple[list[Unit], ReadReport]:
    """Units, and a report of what was not imported.

    A malformed file (not XML, not TMX, an internal DTD subset, too large) is
    refused whole (TMError naming the line). Otherwise each unit that cannot
    be imported (fewer than two of our languages, a text too long...) is
    skipped and counted by reason, with its line. Traditional Chinese
    variants (zh-TW, zh-Hant...) become Simplified; the first variant of each
    unit is its source language (tu ``srclang``, else the header's, else the
    first tuv).
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
    default_src = lang_tag(header.get("srclang", "")).lang if header is not None else None
    report = ReadReport(kind="units")
    units: list[Unit] = []
    for tu in _elements(body):
        if local_name(tu) != "tu":
            continue
        report.held += 1
        if report.held > MAX_UNITS:
            raise TMError(f"line {tu.sourceline}: more than {MAX_UNITS} units in one file")
        try:
            units.append(_unit_from_tu(tu, default_src, report))
        except TMError as exc:
            report.skip(str(exc), tu.sourceline)
    report.imported = len(units)
    return units, report


def _elements(el: etree._Element) -> Iterator[etree._Element]:
    """Child elements, without comments and processing instructions."""
    return (child for child in el if isinstance(child.tag, str))


def _tmx_date(value: str | None) -> str:
    """A TMX date (YYYYMMDDThhmmssZ) as ISO 8601 UTC, "" if none or not one."""
    found = _TMX_DATE.match((value or "").strip())
    if not found:
        return ""
    y, mo, d, h, mi, sec = found.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{sec}+00:00"


def _unit_from_tu(tu: etree._Element, default_src: str | None, report: ReadReport) -> Unit:
    unit = Unit({}, origin="tmx")
    notes = []
    dates = [_tmx_date(tu.get("changedate")) or _tmx_date(tu.get("creationdate"))]
    for item in _elements(tu):
        name = local_name(item)
        if name == "note" and _plain(item):
            notes.append(_plain(item))
        elif name == "prop" and item.get("type") == _STATUS_PROP:
            unit.status = _plain(item)
        elif name == "prop" and item.get("type") == _ORIGIN_PROP:
            unit.origin = _plain(item)
        elif name == "prop" and item.get("type") == _ALTERNATIVE_PROP:
            unit.alternative = True
        elif name == "tuv":
            dates.append(_tmx_date(item.get("changedate")) or _tmx_date(item.get("creationdate")))
            _read_tuv(item, unit, report)
    if len(unit.variants) < 2:
        raise TMError(f"fewer than two of our languages ({', '.join(LANGS)})")
    unit.note = "\n".join(notes)
    unit.changed = max(dates)
    source = lang_tag(tu.get("srclang", "")).lang or default_src
    if source in unit.variants:  # the source first: import merges on it
        unit.variants = {source: unit.variants[source], **unit.variants}
    return validate_unit(unit)


def _read_tuv(tuv: etree._Element, unit: Unit, report: ReadReport) -> None:
    raw = (tuv.get(XML_LANG) or tuv.get("lang") or "").strip()  # "lang": TMX 1.1 and 1.2
    tag = lang_tag(raw)
    if tag.lang is None:
        report.other_language(raw or "(none)")
        return
    seg = next((el for el in _elements(tuv) if local_name(el) == "seg"), None)
    if seg is None:
        report.drop("<tuv> without a <seg> (left out)")
        return
    text, markup = _seg_text(seg), _seg_markup(seg)
    if tag.traditional:
        text, markup = to_simplified(text), to_simplified(markup)
        report.drop("Traditional Chinese segments converted to Simplified")
    # Two variants of one language (en-US and en-GB; zh-CN and zh-TW): the
    # first with text is kept.
    if text and tag.lang not in unit.variants:
        unit.variants[tag.lang] = text
        if markup:
            unit.markup[tag.lang] = markup
            report.drop("segments with inline codes (kept)")
    elif text:
        report.drop("second segments of one language in a unit (left out)")


def _seg_text(seg: etree._Element) -> str:
    """The plain sentence text of a <seg>: its text and that of <hi>, without
    the formatting codes of <bpt>, <ph>... (their tails are text). The space
    a code leaves between two words is one space, not two; spaces the text
    itself holds elsewhere stay as written (a round trip keeps them)."""
    parts = [seg.text or ""]
    for child in seg:
        if isinstance(child.tag, str):
            # NUL marks where a code was: it cannot occur in XML text.
            parts.append(_seg_text(child) if local_name(child) not in _CODE_ELEMENTS else "\x00")
        parts.append(child.tail or "")
    return _CODE_GAP.sub(lambda m: " " if m.group(0).strip("\x00") else "", "".join(parts)).strip()


#: The spaces and tabs around one or more removed codes.
_CODE_GAP = re.compile(r"[ \t]*(?:\x00[ \t]*)+")


def _seg_markup(seg: etree._Element) -> str:
    """The content of a <seg> as written, when it has inline elements; ""
    for plain text (then the text is all there is)."""
    if not any(isinstance(c.tag, str) for c in seg):
        return ""
    inner = etree.Element("seg")
    inner.text = seg.text
    for child in seg:
        if isinstance(child.tag, str):
            inner.append(_copy_inline(child))
        elif len(inner):  # a comment or PI: its tail is still text
            inner[-1].tail = (inner[-1].tail or "") + (child.tail or "")
        else:
            inner.text = (inner.text or "") + (child.tail or "")
    raw = etree.tostring(inner, encoding="unicode")
    return raw[len("<seg>"):-len("</seg>")] if raw.startswith("<seg>") else ""


def _copy_inline(el: etree._Element) -> etree._Element:
    """A namespace-free copy of an inline element (codes stay as written)."""
    copy = etree.Element(local_name(el), {k: v for k, v in el.attrib.items() if "}" not in k})
    copy.text = el.text
    for child in el:
        if isinstance(child.tag, str):
            copy.append(_copy_inline(child))
    copy.tail = el.tail
    return copy


def _plain(el: etree._Element) -> str:
    return "".join(el.itertext()).strip()


def tmx_bytes(units: Iterable[Unit], srclang: str = "en") -> bytes:
    """TMX 1.4b, UTF-8. Validates every unit before building anything.
    Inline codes are written back as they came; alternatives are units of
    their own, marked with a prop (read back as alternatives)."""
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
        for lang, text, markup, changed in unit.alternatives:
            # The unit with this one translation swapped: read back, it
            # merges on another language's text and lands as an alternative.
            others = [code for code in unit.variants if code != lang]
            if not others:
                continue
            alternative = Unit({**unit.variants, lang: text}, status="unreviewed", origin=unit.origin,
                               changed=changed, note=unit.note,
                               markup={**{k: v for k, v in unit.markup.items() if k != lang},
                                       **({lang: markup} if markup else {})})
            source = srclang if srclang in others else others[0]
            _tu_of(body, alternative, srclang, alternative_of=unit.id, tu_srclang=source)
    return etree.tostring(root.getroottree(), pretty_print=True, xml_declaration=True,
                          encoding="UTF-8", doctype=TMX_DOCTYPE)


def _tool_version() -> str:
    try:
        return metadata.version("shopbot")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "dev"


def _tu_of(body: etree._Element, unit: Unit, srclang: str, alternative_of: int | None = None,
           tu_srclang: str | None = None) -> None:
    tu = etree.SubElement(body, "tu")
    if tu_srclang and tu_srclang != srclang:
        tu.set("srclang", _TMX_LANG.get(tu_srclang, tu_srclang))
    if unit.id is not None:
        tu.set("tuid", str(unit.id))
    date = unit.changed
    if date:  # back to TMX's form: YYYYMMDDThhmmssZ
        tu.set("changedate", re.sub(r"[-:]", "", date[:19]) + "Z")
    for prop, value in ((_STATUS_PROP, unit.status), (_ORIGIN_PROP, unit.origin)):
        etree.SubElement(tu, "prop", type=prop).text = value
    if alternative_of is not None:
        etree.SubElement(tu, "prop", type=_ALTERNATIVE_PROP).text = str(alternative_of)
    if unit.note:
        etree.SubElement(tu, "note").text = unit.note
    # The header's source language first, for people reading the file.
    for lang in sorted(unit.variants, key=lambda lang: lang != srclang):
        tuv = etree.SubElement(tu, "tuv", {XML_LANG: _TMX_LANG.get(lang, lang)})
        seg = etree.SubElement(tuv, "seg")
        markup = unit.markup.get(lang)
        parsed = _parse_markup(markup) if markup else None
        if parsed is None:
            seg.text = unit.variants[lang]
        else:
            seg.text = parsed.text
            for child in parsed:
                seg.append(child)


def _parse_markup(markup: str) -> etree._Element | None:
    """A stored <seg> content back as elements; None if it is not (then the
    plain text is written: never a broken file)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        seg = etree.fromstring(f"<seg>{markup}</seg>", parser)
    except etree.XMLSyntaxError:
        return None
    if any(local_name(el) not in _INLINE for el in seg.iterdescendants() if isinstance(el.tag, str)):
        return None
    return seg


def write_tmx(units: Iterable[Unit], dest, srclang: str = "en") -> None:
    """Write units as a TMX 1.4b file (see tmx_bytes)."""
    Path(dest).write_bytes(tmx_bytes(units, srclang))
