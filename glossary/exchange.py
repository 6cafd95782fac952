"""Glossary import and export: the CSV format of docs/glossary-csv.md and TBX.

Readers return a fully validated list of concepts or raise GlossaryError with a
message naming the line; nothing is ever half-read, so the caller can import
the list as a whole. Writers validate first and only then touch the file.

TBX is read in both of its common forms, ISO 30042:2019 TBX-Basic
(``tbx/text/body/conceptEntry/langSec/termSec``) and TBX 2008
(``martif/text/body/termEntry/langSet/tig|ntig``), by one walker that knows
both element names; it is written as TBX-Basic 2019.
"""

from __future__ import annotations

import codecs
import contextvars
import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from glossary.model import (
    CATEGORIES,
    CONCEPT_ID_RE,
    GENDERED_LANGS,
    GENDERS,
    LANGS,
    MAX_TERM_CHARS,
    MAX_TEXT_CHARS,
    PARTS_OF_SPEECH,
    Concept,
    GlossaryError,
    Term,
    validate_concept,
)
from glossary.normalize import to_simplified

FORMATS: tuple[str, ...] = ("csv", "tbx")
#: What export can write: "tbx" is TBX-Basic v3 (ISO 30042:2019); "tbx2008"
#: the martif form most CAT tools and translate-toolkit read. Both are read
#: by the one TBX reader.
EXPORT_FORMATS: tuple[str, ...] = (*FORMATS, "tbx2008")
_EXTENSIONS = {".csv": "csv", ".tbx": "tbx", ".xml": "tbx"}

#: Limits on what one import may cost, whatever the file claims.
MAX_INPUT_BYTES = 50 * 1024 * 1024
MAX_CONCEPTS = 200_000

# --------------------------------------------------------------------------
# Shared helpers


def read_bytes(source) -> bytes:
    """The raw content of a path or of bytes, refusing oversized input."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            if path.stat().st_size > MAX_INPUT_BYTES:  # refuse before reading
                raise _too_big()
            data = path.read_bytes()
        except OSError as exc:
            raise GlossaryError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise _too_big()
    return data


def _too_big() -> GlossaryError:
    return GlossaryError(f"file larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB")


def _line_at(data: bytes | str, offset: int) -> int:
    """The line (from 1) of ``offset`` in raw bytes or in decoded text."""
    return data.count(b"\n" if isinstance(data, bytes) else "\n", 0, offset) + 1


def decode_text(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); otherwise an error naming the line."""
    if b"\x00" in data:
        line = _line_at(data, data.index(b"\x00"))
        raise GlossaryError(f"line {line}: contains NUL bytes (UTF-16? save as UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GlossaryError(f"not UTF-8 (line {_line_at(data, exc.start)})") from None


def _check_concepts(concepts: list[Concept], lines: list[int]) -> None:
    """Validate each concept, and refuse a concept id used twice."""
    first_line: dict[str, int] = {}
    for concept, line in zip(concepts, lines):
        validate_concept(concept, where=f"line {line}")
        if concept.id in first_line:
            raise GlossaryError(
                f"line {line}: concept id {concept.id!r} is already used on line "
                f"{first_line[concept.id]}"
            )
        first_line[concept.id] = line


def _count_guard(count: int) -> None:
    if count > MAX_CONCEPTS:
        raise GlossaryError(f"more than {MAX_CONCEPTS} concepts in one file")


def _write_checked(concepts: Iterable[Concept]) -> list[Concept]:
    concepts = list(concepts)
    for number, concept in enumerate(concepts, 1):
        validate_concept(concept, where=f"concept {number} ({concept.id!r})")
    return concepts


# --------------------------------------------------------------------------
# CSV

_CONCEPT_COLUMNS = ("id", "category", "equipment", "status", "source", "notes")
#: Term columns: suffix -> term type ("" is the bare language column).
_TERM_COLUMNS = {"": "preferred", "_admitted": "admitted",
                 "_abbreviation": "abbreviation", "_deprecated": "deprecated"}
CSV_COLUMNS: tuple[str, ...] = _CONCEPT_COLUMNS + tuple(
    lang + suffix
    for lang in LANGS
    for suffix in (*_TERM_COLUMNS, "_pos", *(("_gender",) if lang in GENDERED_LANGS else ()), "_definition")
)
_LANG_COLUMNS = frozenset(CSV_COLUMNS[len(_CONCEPT_COLUMNS):])

_YES = {"yes", "true", "1"}
_NO = {"no", "false", "0", ""}
#: First characters that make a spreadsheet evaluate a cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _needs_quote(cell: str) -> bool:
    # Also true for a cell that merely *looks* escaped ("'=x"), so that
    # un-escaping on import is the exact inverse of escaping on export.
    if cell.startswith(_FORMULA_START):
        return True
    return cell.startswith("'") and _needs_quote(cell[1:])


def _escape_cell(cell: str) -> str:
    return "'" + cell if _needs_quote(cell) else cell


def _unescape_cell(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and _needs_quote(cell[1:]) else cell


def _split_multi(cell: str) -> list[str]:
    return [piece.strip() for piece in cell.split("|") if piece.strip()]


def read_csv(source) -> list[Concept]:
    """Concepts from a glossary CSV (a path or bytes)."""
    return read_csv_lines(source)[0]


def read_csv_lines(source) -> tuple[list[Concept], list[int]]:
    """Concepts from a glossary CSV, and the line each starts on."""
    text = decode_text(read_bytes(source))
    # strict: a quote left open is an error, not a cell that swallows the
    # rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = _read_header(next(reader, None))
        concepts, lines = [], []
        line = reader.line_num  # last physical line read; a row starts on line + 1
        for row in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank line, or a spreadsheet's empty trailing row
            if len(row) != len(header):
                raise GlossaryError(
                    f"line {start}: {len(row)} cells, the header has {len(header)}"
                )
            concepts.append(_concept_from_row(dict(zip(header, row)), start))
            lines.append(start)
            _count_guard(len(concepts))
    except csv.Error as exc:
        raise GlossaryError(f"line {reader.line_num}: {exc}") from None
    _check_concepts(concepts, lines)
    return concepts, lines


def _read_header(row: list[str] | None) -> list[str]:
    if row is None:
        raise GlossaryError("line 1: the file is empty, expected a header row")
    header = [name.strip().lower() for name in row]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise GlossaryError(
            f"line 1: unknown column(s) {', '.join(map(repr, unknown))}"
        )
    doubled = sorted({name for name in header if header.count(name) > 1})
    if doubled:
        raise GlossaryError(f"line 1: column(s) given twice: {', '.join(doubled)}")
    if "id" not in header:
        raise GlossaryError("line 1: the header has no 'id' column")
    if not _LANG_COLUMNS.intersection(header):
        raise GlossaryError(
            f"line 1: the header has no language column ({', '.join(LANGS)})"
        )
    return header


def _concept_from_row(row: dict[str, str], line: int) -> Concept:
    cells = {name: _unescape_cell(value).strip() for name, value in row.items()}
    concept = Concept(
        id=cells["id"],
        category=cells.get("category", "").lower() or "general",
        equipment=_parse_equipment(cells.get("equipment", ""), line),
        status=cells.get("status", "").lower() or "draft",
        source=cells.get("source", ""),
        notes=cells.get("notes", ""),
    )
    for lang in LANGS:
        terms = [
            Term(lang, text, term_type)
            for suffix, term_type in _TERM_COLUMNS.items()
            for text in _split_multi(cells.get(lang + suffix, ""))
        ]
        terms = _apply_pos(terms, cells.get(lang + "_pos", ""), line, lang)
        if lang in GENDERED_LANGS:
            terms = _apply_gender(terms, cells.get(lang + "_gender", ""), line, lang)
        concept.terms += terms
        if cells.get(lang + "_definition"):
            concept.definitions[lang] = cells[lang + "_definition"]
    return concept


def _parse_equipment(value: str, line: int) -> bool:
    value = value.lower()
    if value in _YES or value in _NO:
        return value in _YES
    raise GlossaryError(f"line {line}: equipment must be 'yes' or empty, not {value!r}")


def _apply_pos(terms: list[Term], cell: str, line: int, lang: str) -> list[Term]:
    """Give terms their part of speech from an ``L_pos`` cell (both forms)."""
    return _apply_per_term(terms, cell, line, lang, "pos", PARTS_OF_SPEECH, "part of speech")


def _apply_gender(terms: list[Term], cell: str, line: int, lang: str) -> list[Term]:
    """Give terms their gender from an ``L_gender`` cell (both forms)."""
    return _apply_per_term(terms, cell, line, lang, "gender", GENDERS, "gender")


def _apply_per_term(terms: list[Term], cell: str, line: int, lang: str,
                    attribute: str, allowed: tuple[str, ...], what: str) -> list[Term]:
    """A per-term attribute from its cell: one value for every term of the
    language (``noun``), or ``term=value`` pairs separated by `` | ``."""
    column = f"{lang}_{attribute}"

    def check(value: str) -> str:
        if value.lower() not in allowed:
            raise GlossaryError(f"line {line}: {column}: unknown {what} {value!r} "
                                f"(one of: {', '.join(allowed)})")
        return value.lower()

    pieces = _split_multi(cell)
    if len(pieces) == 1 and "=" not in pieces[0]:  # one value for the language
        value = check(pieces[0])
        return [replace(t, **{attribute: value}) for t in terms]
    by_text = {}
    for piece in pieces:
        # rpartition: a term may contain '=', a value never does.
        text, eq, value = (part.strip() for part in piece.rpartition("="))
        if not eq:
            raise GlossaryError(f"line {line}: {column}: expected term={attribute}, got {piece!r}")
        if text not in {t.text for t in terms}:
            raise GlossaryError(f"line {line}: {column} names {text!r}, not a {lang} term")
        by_text[text] = check(value)
    return [replace(t, **{attribute: by_text.get(t.text)}) for t in terms]


def write_csv(concepts: Iterable[Concept], dest) -> None:
    """Write concepts as glossary CSV, UTF-8 with a BOM, all columns."""
    Path(dest).write_bytes(csv_bytes(concepts))


def csv_bytes(concepts: Iterable[Concept]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for concept in _write_checked(concepts):
        cells = _row_of(concept)
        writer.writerow(_escape_cell(cells.get(name, "")) for name in CSV_COLUMNS)
    return out.getvalue().encode("utf-8-sig")


def _row_of(concept: Concept) -> dict[str, str]:
    cells = {
        "id": concept.id,
        "category": concept.category,
        "equipment": "yes" if concept.equipment else "",
        "status": concept.status,
        "source": concept.source,
        "notes": concept.notes,
    }
    for lang in LANGS:
        terms = [t for t in concept.terms if t.lang == lang]
        for suffix, term_type in _TERM_COLUMNS.items():
            cells[lang + suffix] = " | ".join(t.text for t in terms if t.type == term_type)
        cells[lang + "_pos"] = _per_term_cell(terms, "pos")
        if lang in GENDERED_LANGS:
            cells[lang + "_gender"] = _per_term_cell(terms, "gender")
        cells[lang + "_definition"] = concept.definitions.get(lang, "")
    return cells


def _per_term_cell(terms: list[Term], attribute: str) -> str:
    values = [getattr(t, attribute) for t in terms]
    if len(set(values)) <= 1:  # compact form: one value (or none) for the language
        return next(iter(values), None) or ""
    return " | ".join(f"{t.text}={v}" for t, v in zip(terms, values) if v)


# --------------------------------------------------------------------------
# TBX
#
# Read: TBX 2008 (``martif/text/body/termEntry/langSet/tig|ntig``) and TBX v3
# (ISO 30042:2019, ``tbx/text/body/conceptEntry/langSec/termSec``), DCA style
# (``<termNote type="partOfSpeech">``) and DCT style (``<min:partOfSpeech>``),
# TBX-Basic, TBX-Min and anything in between, by one walker that looks at data
# categories, not dialects. Written: TBX-Basic v3 DCA (valid against the core
# RelaxNG schema and the TBX-Basic Schematron) or, with ``tbx2008``, martif.

TBX_NS = "urn:iso:std:iso:30042:ed-2"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
#: The schemas the TBX-Basic export names: the ones LTAC-Global's own
#: TBX-Basic 1.2.1 samples name (the older "integrated" schema is gone).
_SCHEMA_PIS = (
    'href="https://raw.githubusercontent.com/LTAC-Global/TBX_Core_RNG/master/TBXcoreStructV03.rng" '
    'type="application/xml" schematypens="http://relaxng.org/ns/structure/1.0"',
    'href="https://raw.githubusercontent.com/LTAC-Global/TBX-Basic_dialect/master/'
    'DCA/TBX-Basic_DCA.sch" type="application/xml" '
    'schematypens="http://purl.oclc.org/dsdl/schematron"',
)
#: What our exports say in their header: a file that says it was written by
#: shopbot carries shopbot's own concept ids, and is merged on them.
EXPORT_MARK = "shopbot glossary export"

_ENTRY = {"conceptEntry", "termEntry"}
_LANG_SEC = {"langSec", "langSet"}
#: termEntry inside a langSec: the first TBX-Min (2014), where it is one term.
_TERM_SEC = {"termSec", "tig", "ntig", "termEntry"}
#: Elements whose @type is the data category (DCA style). In DCT style the
#: element's own name, in a namespace of its own, is the data category.
_TYPED = {"descrip", "admin", "termNote", "ref", "xref", "transac", "transacNote",
          "descripNote", "adminNote"}

# The one place that maps term types to and from TBX.
_TYPE_TO_TBX = {  # type -> (administrativeStatus, termType or None)
    "preferred": ("preferredTerm-admn-sts", None),
    "admitted": ("admittedTerm-admn-sts", None),
    "abbreviation": ("admittedTerm-admn-sts", "abbreviation"),
    "deprecated": ("deprecatedTerm-admn-sts", None),
}
#: administrativeStatus (without "-admn-sts"), normativeAuthorization and
#: TBX-Min's usageStatus values, lower-cased -> our type.
_STATUS_FROM_TBX = {
    "preferredterm": "preferred", "standardizedterm": "preferred", "legalterm": "preferred",
    "regulatedterm": "preferred", "preferred": "preferred",
    "admittedterm": "admitted", "admitted": "admitted",
    "deprecatedterm": "deprecated", "supersededterm": "deprecated", "deprecated": "deprecated",
    "notrecommended": "deprecated", "obsolete": "deprecated", "superseded": "deprecated",
}
_STATUS_CATEGORIES = ("administrativeStatus", "normativeAuthorization", "usageStatus", "termStatus")
_ABBREVIATION_TYPES = {"abbreviation", "acronym", "shortform", "initialism", "clippedterm"}
_POS_FROM_TBX = {**{p: p for p in PARTS_OF_SPEECH}, "propernoun": "noun", "n": "noun",
                 "v": "verb", "adj": "adjective", "adv": "adverb"}
_GENDER_FROM_TBX = {"masculine": "m", "feminine": "f", "neuter": "n", "m": "m", "f": "f", "n": "n"}
_GENDER_TO_TBX = {"m": "masculine", "f": "feminine", "n": "neuter"}
_REVIEWED = {"consolidatedelement", "finalizedelement"}
#: Data categories we read into notes, with the label they get there.
_NOTE_LABELS = {
    "context": "Context", "source": "Source", "customerSubset": "Customer",
    "projectSubset": "Project", "crossReference": "See also",
    "externalCrossReference": "See also", "xGraphic": "Image",
    "geographicalUsage": "Geographical usage", "termLocation": "Term location",
    "example": "Example", "explanation": "Explanation", "usageNote": "Usage",
    "customer": "Customer", "note": "Note",
}
#: An internal DTD subset is where entity bombs live; TBX never needs one.
#: A DOCTYPE with an internal subset, its external id quoted or not (a ">"
#: inside quotes once hid the subset from a simpler pattern). The parsed
#: document's docinfo is checked too, whatever the text looked like.
_INTERNAL_SUBSET = re.compile(r"""<!DOCTYPE(?:[^>\["']|"[^"]*"|'[^']*')*\[""")
_DOCTYPE_OR_COMMENT = re.compile(r"<!--.*?-->|(<!DOCTYPE)", re.S)


# -- language tags (BCP 47) ---------------------------------------------------

#: Primary language subtags (two- and three-letter, ISO 639-1/2/3) -> ours.
#: Chinese is Mandarin written in Chinese characters: zh, zho, chi and cmn.
#: yue (Cantonese), wuu, hak, nan... are other languages, not taken as zh.
_PRIMARY = {
    "zh": "zh", "zho": "zh", "chi": "zh", "cmn": "zh",
    "ko": "ko", "kor": "ko",
    "ms": "ms", "msa": "ms", "may": "ms", "zsm": "ms", "zlm": "ms",
    "fr": "fr", "fra": "fr", "fre": "fr",
    "en": "en", "eng": "en",
}
#: Grandfathered and extlang forms (RFC 5646 §2.2.2, §2.2.8) for Chinese.
_CHINESE_FORMS = {"zh-guoyu": "cmn", "zh-hakka": "hak", "zh-xiang": "hsn",
                  "zh-min": "nan", "zh-min-nan": "nan"}
_TRADITIONAL_REGIONS = {"tw", "hk", "mo"}
#: Scripts our languages are stored in; a tag naming another (ms-Arab: Jawi;
#: ko-Hani: Hanja) is not the language we hold.
_SCRIPTS = {"zh": {"hans", "hant"}, "ko": {"kore", "hang"}, "ms": {"latn"},
            "fr": {"latn"}, "en": {"latn"}}


@dataclass(frozen=True)
class LangTag:
    """A language tag read by BCP 47 rules: ``lang`` is ours or None, with why."""

    lang: str | None
    traditional: bool = False
    why: str = ""


def lang_tag(raw: str | None) -> LangTag:
    """Our language for an xml:lang value, by BCP 47 rules (case-insensitive,
    ``_`` taken as ``-``): two- and three-letter primary subtags, Chinese
    extlangs (``zh-cmn-Hans`` is Mandarin, ``zh-yue`` Cantonese), scripts
    (``Hant`` and, without a script, the regions TW/HK/MO are Traditional:
    converted to Simplified by the readers) and private use (``x-``: not ours)."""
    text = (raw or "").strip().replace("_", "-").lower()
    if not text:
        return LangTag(None, why="no language tag")
    for form, replacement in _CHINESE_FORMS.items():
        if text == form or text.startswith(form + "-"):
            text = replacement + text[len(form):]
    subtags = text.split("-")
    primary, rest = subtags[0], subtags[1:]
    if primary == "zh" and rest and len(rest[0]) == 3 and rest[0].isalpha():
        primary, rest = rest[0], rest[1:]  # extlang: zh-yue = yue, zh-cmn = cmn
    lang = _PRIMARY.get(primary)
    if lang is None:
        return LangTag(None, why=f"not one of our languages ({', '.join(LANGS)})")
    script = next((s for s in rest if len(s) == 4 and s.isalpha()), None)
    if script and script not in _SCRIPTS[lang]:
        return LangTag(None, why=f"{lang} in the script {script.title()}, not ours")
    traditional = lang == "zh" and (
        script == "hant" or (script is None and bool(_TRADITIONAL_REGIONS.intersection(rest))))
    return LangTag(lang, traditional)


# -- what a reader tells: imported, skipped, dropped ---------------------------

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
#: Line numbers a warning names, per reason.
SHOW_LINES = 5


@dataclass
class ReadReport:
    """What a reader made of a file: how many entries (TBX concepts, TMX units)
    it holds, how many were imported, and the rest counted by reason."""

    kind: str = "entries"  # what is counted: "concepts" or "units"
    held: int = 0
    imported: int = 0
    skipped: dict[str, list[int]] = field(default_factory=dict)  # reason -> lines
    dropped: dict[str, int] = field(default_factory=dict)  # what was left out -> count
    languages: dict[str, int] = field(default_factory=dict)  # other languages' terms/variants
    source: str = ""
    native: bool = False  # the file is our own export: its ids are ours

    def skip(self, reason: str, line: int | None) -> None:
        # Quoted specifics ('c1', 'x'...) out, so that one reason counts once.
        self.skipped.setdefault(_QUOTED.sub("…", reason), []).append(line or 0)

    def drop(self, what: str, count: int = 1) -> None:
        self.dropped[what] = self.dropped.get(what, 0) + count

    def other_language(self, tag: str, count: int = 1) -> None:
        self.languages[tag] = self.languages.get(tag, 0) + count

    @property
    def skipped_count(self) -> int:
        return sum(len(lines) for lines in self.skipped.values())

    def warnings(self) -> list[str]:
        """One line for a person per reason."""
        lines = []
        for reason, where in sorted(self.skipped.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(str(n) for n in where[:SHOW_LINES]) + (", …" if len(where) > SHOW_LINES else "")
            lines.append(f"skipped {len(where)} {self._noun(len(where))}: {reason} (line {shown})")
        for tag, count in sorted(self.languages.items()):
            what = "term(s)" if self.kind == "concepts" else "segment(s)"
            lines.append(f"skipped {count} {what} in language {tag!r}")
        for what, count in sorted(self.dropped.items()):
            lines.append(f"{what}: {count}")
        return lines

    def _noun(self, n: int) -> str:
        singular = {"concepts": "concept", "units": "unit"}.get(self.kind, "entry")
        return singular if n == 1 else self.kind

    def as_dict(self) -> dict:
        return {
            "source": self.source, "held": self.held, "imported": self.imported,
            "skipped": self.skipped_count, "native_ids": self.native,
            "skipped_by_reason": {r: {"count": len(l), "lines": l[:SHOW_LINES]}
                                  for r, l in self.skipped.items()},
            "other_languages": dict(self.languages), "notes": dict(self.dropped),
        }


class _Skip(Exception):
    """This entry is left out; the message says why."""


# -- ids -------------------------------------------------------------------------

def _digest(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode("utf-8")).hexdigest()[:8]


def _slug(text: str, limit: int) -> str:
    """ASCII letters, digits, '.', '-' and '_' of ``text`` (others as '_')."""
    folded = unicodedata.normalize("NFKD", text)
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", folded.encode("ascii", "ignore").decode() or "_")
    return out.strip("_.-")[:limit]


def normalise_id(external: str) -> str:
    """A valid concept id for any id text: itself if valid, else its ASCII
    slug with a digest of the original (so two different ids never meet)."""
    external = " ".join(external.split())
    if CONCEPT_ID_RE.fullmatch(external):
        return external
    slug = _slug(external, 48)
    if not slug[:1].isalpha():
        slug = "x" + slug
    return f"{slug}.{_digest(external)}"


def source_name(path) -> str:
    """The default provenance of a file: its name, without the folders."""
    return Path(str(path)).name


def concept_id_for(source: str, external: str) -> str:
    """The concept id of entry ``external`` of a foreign file: stable (the
    same file imported again updates the same concepts) and distinct per
    source (two files' ``c1`` are two concepts)."""
    stem = _slug(Path(source).stem if "." in source else source, 20) or "src"
    if not stem[:1].isalpha():
        stem = "x" + stem
    return f"{stem}.{_slug(external, 30) or 'c'}.{_digest(source, external)}"


# -- reading ---------------------------------------------------------------------

@dataclass
class Reading:
    """A file read for import: the concepts, where each came from, the report."""

    concepts: list[Concept]
    external: dict[str, tuple[str, str]]  # concept id -> (source, id in the file)
    report: ReadReport
    lines: dict[str, int] = field(default_factory=dict)  # concept id -> its line in the file


def read_tbx(source) -> list[Concept]:
    """Concepts from a TBX file (any dialect), a path or bytes."""
    return read_tbx_report(source)[0]


def read_tbx_report(source, origin: str | None = None) -> tuple[list[Concept], ReadReport]:
    reading = read_tbx_reading(source, origin)
    return reading.concepts, reading.report


def read_tbx_reading(source, origin: str | None = None) -> Reading:
    """Read a TBX file, importing what can be imported and counting the rest.

    ``origin`` names where the file comes from (its file name, or what the
    person said): its concept ids are then kept as external ids of that
    source, and each gets a concept id of its own (``concept_id_for``). With
    no origin, or for a file shopbot exported, the file's ids are used
    (normalised to valid concept ids). A malformed file raises GlossaryError.
    """
    root = parse_xml(read_bytes(source))
    body = _body(root)
    report = ReadReport(kind="concepts", source=origin or "")
    ours = _is_our_export(root)
    report.native = origin is None or ours
    fold = _FOLD.set(not ours)
    try:
        return _read_entries(body, root, report, origin)
    finally:
        _FOLD.reset(fold)


def _read_entries(body, root, report: ReadReport, origin: str | None) -> Reading:
    file_lang = (root.get(XML_LANG) or "en")
    concepts: list[Concept] = []
    external: dict[str, tuple[str, str]] = {}
    seen_ids: dict[str, int] = {}
    generated: dict[str, int] = {}
    lines: dict[str, int] = {}
    for entry in body:
        if not isinstance(entry.tag, str) or local_name(entry) not in _ENTRY:
            continue
        report.held += 1
        _count_guard(report.held)
        line = entry.sourceline
        try:
            concept = _concept_from_entry(entry, report, file_lang)
            ext = " ".join((entry.get("id") or "").split())
            if not ext:  # ids are optional in TBX 2008: one from the entry's first term
                first = concept.terms[0]
                base = f"{first.lang}:{first.text}"
                generated[base] = generated.get(base, 0) + 1
                ext = base if generated[base] == 1 else f"{base}~{generated[base]}"
            if ext in seen_ids:
                raise _Skip(f"its id is already used on line {seen_ids[ext]}")
            seen_ids[ext] = line
            concept.id = normalise_id(ext) if report.native else concept_id_for(origin, ext)
            validate_concept(concept)
        except (_Skip, GlossaryError) as exc:
            report.skip(str(exc), line)
            continue
        if not report.native:
            external[concept.id] = (origin, ext)
        concepts.append(concept)
        lines[concept.id] = line
    report.imported = len(concepts)
    return Reading(concepts, external, report, lines)


def _is_our_export(root: etree._Element) -> bool:
    return any(local_name(p) == "p" and _text(p) == EXPORT_MARK
               for p in root.iter() if isinstance(p.tag, str) and local_name(p) == "p")


def parse_xml(data: bytes) -> etree._Element:
    """The root of an XML document, parsed safely: no DTD, no entity
    expansion, no network. The encoding is the file's: a BOM, else its XML
    declaration (UTF-16, windows-1254...); UTF-8 text is read as UTF-8 even
    under a wrong declaration. Also used for TMX (bot.translation.memory)."""
    text = decode_xml(data)  # our own decoding, for a message naming the line
    found = _INTERNAL_SUBSET.search(text)
    if found:
        raise _subset_refused(text, found.start())
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
        encoding="utf-8",  # we decoded it: lxml reads our UTF-8, whatever was declared
    )
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise GlossaryError(f"line {exc.lineno}: malformed XML: {exc.msg}") from None
    dtd = root.getroottree().docinfo.internalDTD  # there for any DOCTYPE: look inside
    if dtd is not None and (any(True for _ in dtd.iterentities()) or dtd.elements()):
        # The DOCTYPE's own line, not that of "<!DOCTYPE" quoted in a comment.
        at = next((m.start(1) for m in _DOCTYPE_OR_COMMENT.finditer(text) if m.group(1)), 0)
        raise _subset_refused(text, at)
    return root


def _subset_refused(text: str, at: int) -> GlossaryError:
    """The refusal of both locks, naming the line of offset ``at``."""
    return GlossaryError(f"line {_line_at(text, at)}: a DOCTYPE with an internal subset is refused")


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
#: No BOM: the first bytes of "<?" tell UTF-16 (XML 1.0, appendix F).
_BOMLESS = ((b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"))
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def decode_xml(data: bytes) -> str:
    """The text of an XML file, decoded as it says (see parse_xml)."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), None)
    encoding = encoding or next((enc for start, enc in _BOMLESS if data.startswith(start)), None)
    if encoding is None:
        try:
            return decode_text(data)  # UTF-8 whatever the declaration: the common mislabel
        except GlossaryError as utf8_error:
            declared = _DECLARED.match(data)
            name = declared.group(1).decode("ascii").lower() if declared else ""
            if name and not _known(name):
                raise GlossaryError(f"line 1: unknown encoding {name!r}") from None
            if not name or codecs.lookup(name).name == "utf-8":
                raise utf8_error from None
            encoding = name
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise GlossaryError(f"not {encoding} (line {_line_at(data, exc.start)})") from None
    return text.lstrip("\ufeff")


def _known(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def local_name(el: etree._Element) -> str:
    """The tag without its namespace."""
    return etree.QName(el).localname


#: Fold white space in element text: yes for other tools' files (pretty
#: printed, a definition spread over indented lines), no for our own exports,
#: which are read back exactly.
_FOLD: contextvars.ContextVar[bool] = contextvars.ContextVar("fold", default=True)


def _text(el: etree._Element) -> str:
    text = "".join(el.itertext())
    return " ".join(text.split()) if _FOLD.get() else text.strip()


def _body(root: etree._Element) -> etree._Element:
    if local_name(root).lower() not in ("tbx", "martif"):  # <TBX>: TBX-Min 2014
        raise GlossaryError(
            f"line {root.sourceline}: root element <{local_name(root)}> is not <tbx> or <martif>"
        )
    for text in root:
        if isinstance(text.tag, str) and local_name(text) == "text":
            for body in text:
                if isinstance(body.tag, str) and local_name(body) == "body":
                    return body
        elif isinstance(text.tag, str) and local_name(text) == "body":  # TBX-Min 2014
            return text
    raise GlossaryError(f"line {root.sourceline}: <{local_name(root)}> has no <text>/<body>")


@dataclass
class _Item:
    """One data category of an entry, language or term: its name (DCA @type
    or DCT element name), the element, and the group members that qualify it
    (the source of a definition in a descripGrp)."""

    category: str
    el: etree._Element
    extras: list


def _items(el: etree._Element) -> Iterator[_Item]:
    """The data categories directly in ``el``, groups opened."""
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child)
        if name == "termGrp":  # TBX 2008 ntig: the term and its termNotes
            yield from _items(child)
        elif name == "transacGrp":
            yield _Item("transacGrp", child, [])
        elif name.endswith("Grp"):
            members = list(_items(child))
            if members:
                yield _Item(members[0].category, members[0].el, members[1:])
        else:
            yield _Item(_category(child), child, [])


def _category(el: etree._Element) -> str:
    name = local_name(el)
    namespace = etree.QName(el).namespace
    if namespace not in (None, TBX_NS):  # DCT: the element is the category
        return name
    if name in _TYPED:
        return el.get("type") or name
    return name


def _concept_from_entry(entry: etree._Element, report: ReadReport, file_lang: str) -> Concept:
    concept = Concept(id="")
    notes: list[str] = []
    extra: list[str] = []
    history: list[str] = []
    for item in _items(entry):
        cat, el, text = item.category, item.el, _text(item.el)
        if cat in _LANG_SEC:
            _read_lang_sec(el, concept, report, extra)
        elif cat == "subjectField":
            if text.lower() in CATEGORIES:
                concept.category = text.lower()
            elif text:  # free text: kept, and the category stays general
                extra.append(f"Subject field: {text}")
        elif cat == "projectSubset" and text == "equipment":
            concept.equipment = True
        elif cat == "projectSubset" and text == "reviewed":
            concept.status = "reviewed"
        elif cat == "elementWorkingStatus":
            concept.status = "reviewed" if text.lower() in _REVIEWED else "draft"
        elif cat == "source" and not concept.source:
            concept.source = text
        elif cat == "note" and text:
            notes.append(_text_kept(el))
        elif cat == "definition" and text:
            said = el.get(XML_LANG) or file_lang
            tag = lang_tag(said)
            if tag.lang is None:  # not one of ours: kept in the notes, its language named
                extra.append(f"Definition ({said}): {text}")
            else:
                _add_definition(concept, tag, text, extra, report)
            extra += _extras(item, f"Definition ({tag.lang or said})")
        elif cat == "transacGrp":
            history.append(_transaction(el))
        elif text or el.get("target"):
            extra.append(_note_line(cat, el))
    if history:
        extra.append("History: " + "; ".join(h for h in history if h))
    if not concept.terms:
        if report.languages or any(True for _ in entry.iter(*_tags(_LANG_SEC))):
            raise _Skip(f"no term in {', '.join(LANGS)}")
        raise _Skip("no term")
    concept.notes = _capped("\n".join(notes + extra), report, "notes")
    concept.source = _capped(concept.source, report, "source")
    return concept


def _tags(names) -> list[str]:
    return [n for name in names for n in (name, f"{{{TBX_NS}}}{name}")]


def _text_kept(el: etree._Element) -> str:
    """A note's text, its line breaks kept (ours are written that way)."""
    text = "".join(el.itertext()).strip()
    if not _FOLD.get():
        return text
    return "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())


def _capped(text: str, report: ReadReport, what: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    report.drop(f"{what} cut to {MAX_TEXT_CHARS} characters")
    return text[:MAX_TEXT_CHARS - 1] + "…"


def _note_line(cat: str, el: etree._Element, prefix: str = "") -> str:
    label = _NOTE_LABELS.get(cat, cat)
    text = _text(el)
    target = el.get("target")
    if target and target != text:
        text = f"{target} ({text})" if text else target
    return f"{prefix}{label}: {text}"


def _extras(item: _Item, what: str) -> list[str]:
    return [_note_line(x.category, x.el, f"{what} ") for x in item.extras
            if _text(x.el) or x.el.get("target")]


def _transaction(el: etree._Element) -> str:
    parts = [_text(x.el) for x in _items(el) if _text(x.el)]
    return " ".join(parts)


def _add_definition(concept: Concept, tag: LangTag, text: str, extra: list[str],
                    report: ReadReport) -> None:
    if tag.traditional:
        text = to_simplified(text)
    if not concept.definitions.get(tag.lang):
        concept.definitions[tag.lang] = _capped(text, report, "definition")
    elif concept.definitions[tag.lang] != text:
        extra.append(f"Definition ({tag.lang}): {text}")


def _read_lang_sec(sec: etree._Element, concept: Concept, report: ReadReport,
                   extra: list[str]) -> None:
    raw = (sec.get(XML_LANG) or "").strip()
    tag = lang_tag(raw)
    term_secs = [i for i in _items(sec) if i.category in _TERM_SEC]
    if tag.lang is None:
        report.other_language(raw or "(none)", len(term_secs))
        return
    lang = tag.lang
    if tag.traditional:
        report.drop("Traditional Chinese terms converted to Simplified", len(term_secs))
    simplify = to_simplified if tag.traditional else (lambda s: s)
    parsed = []
    for item in _items(sec):
        if item.category in _TERM_SEC:
            term = _read_term_sec(item.el, lang, simplify, report, extra)
            if term is not None:
                parsed.append(term)
        elif item.category == "definition" and _text(item.el):
            _add_definition(concept, tag, _text(item.el), extra, report)
            extra.extend(_extras(item, f"Definition ({lang})"))
        elif item.category == "transacGrp":
            report.drop("change records below concept level (not kept)")
        elif item.category == "note" and _text(item.el):
            extra.append(f"Note ({lang}): {_text(item.el)}")
        elif _text(item.el) or item.el.get("target"):
            extra.append(_note_line(item.category, item.el, f"({lang}) "))
    # TBX 2008 files often keep the definition with a term instead.
    for *_, definition in parsed:
        if definition:
            _add_definition(concept, tag, definition, extra, report)
    texts = {t.text for t in concept.terms if t.lang == lang}
    new_terms = []
    for term, _ in parsed:
        if term.text not in texts:  # zh-CN and zh-TW may give the same term
            texts.add(term.text)
            new_terms.append(term)
    concept.terms += _resolve_types(new_terms, concept.preferred(lang) is not None)


def _read_term_sec(sec: etree._Element, lang: str, simplify, report: ReadReport,
                   extra: list[str]):
    """(Term with type None if not stated, definition) of a termSec/tig/ntig;
    None (counted) for one we cannot keep."""
    text = status = term_type = pos = gender = None
    definition = ""
    infos = []
    for item in _items(sec):
        cat, el = item.category, item.el
        value = _text(el)
        if cat == "term" and text is None:
            text = simplify(value)
        elif cat == "partOfSpeech":
            pos = _POS_FROM_TBX.get(value.lower().replace(" ", ""), "other")
        elif cat in _STATUS_CATEGORIES:
            mapped = _STATUS_FROM_TBX.get(value.lower().removesuffix("-admn-sts"))
            if mapped is None:
                report.drop(f"unknown {cat} values (term kept, type from its place)")
            status = status or mapped
        elif cat == "termType":
            term_type = value
        elif cat == "grammaticalGender":
            gender = _GENDER_FROM_TBX.get(value.lower())
        elif cat == "definition":
            definition = definition or simplify(value)
        elif cat == "transacGrp":
            report.drop("change records below concept level (not kept)")
        elif value or el.get("target"):
            infos.append((item, cat))
    if not text:
        report.drop(f"<{local_name(sec)}> without a <term> (left out)")
        return None
    for item, cat in infos:
        extra.append(_note_line(cat, item.el, f"{lang} «{text}» "))
        extra.extend(_extras(item, f"{lang} «{text}» {_NOTE_LABELS.get(cat, cat)}"))
    if len(text) > MAX_TERM_CHARS or any(ch in text for ch in "|\t\r\n\x00"):
        report.drop("terms too long or with '|' (left out)")
        return None
    type_ = status
    if type_ != "deprecated" and (term_type or "").lower().replace(" ", "") in _ABBREVIATION_TYPES:
        type_ = "abbreviation"  # being short matters, unless it is deprecated
    if lang not in GENDERED_LANGS:
        gender = None
    return Term(lang, text, type_, pos, gender), definition


def _resolve_types(terms: list[Term], has_preferred: bool) -> list[Term]:
    """Terms with a type; one without a stated status is preferred if it is
    the first such of a language with no explicit preferred, else admitted."""
    has_preferred = has_preferred or any(t.type == "preferred" for t in terms)
    result = []
    for term in terms:
        if term.type is None:
            term = replace(term, type="admitted" if has_preferred else "preferred")
            has_preferred = True
        result.append(term)
    return result


# -- writing -----------------------------------------------------------------------

def write_tbx(concepts: Iterable[Concept], dest, dialect: str = "tbx") -> None:
    """Write concepts as TBX-Basic (ISO 30042:2019, DCA style) or, with
    ``dialect="tbx2008"``, TBX 2008 (martif), UTF-8."""
    Path(dest).write_bytes(tbx_bytes(concepts, dialect))


def tbx_bytes(concepts: Iterable[Concept], dialect: str = "tbx") -> bytes:
    v3 = dialect == "tbx"
    ns = TBX_NS if v3 else None
    if v3:
        root = etree.Element(f"{{{TBX_NS}}}tbx", nsmap={None: TBX_NS})
        root.set("type", "TBX-Basic")
        root.set("style", "dca")
        for pi in _SCHEMA_PIS:
            root.addprevious(etree.ProcessingInstruction("xml-model", pi))
        header = _sub(root, ns, "tbxHeader")
    else:
        root = etree.Element("martif", type="TBX")
        header = _sub(root, ns, "martifHeader")
    root.set(XML_LANG, "en")
    _sub(_sub(_sub(header, ns, "fileDesc"), ns, "sourceDesc"), ns, "p", EXPORT_MARK)
    body = _sub(_sub(root, ns, "text"), ns, "body")
    for number, concept in enumerate(_write_checked(concepts), 1):
        try:
            _entry_of(body, concept, ns, v3)
        except ValueError as exc:  # lxml refuses control characters in text
            raise GlossaryError(f"concept {number} ({concept.id!r}): {exc}") from None
    doctype = None if v3 else '<!DOCTYPE martif SYSTEM "TBXcoreStructV02.dtd">'
    return etree.tostring(root.getroottree(), pretty_print=True, xml_declaration=True,
                          encoding="UTF-8", doctype=doctype)


def _sub(parent: etree._Element, ns: str | None, tag: str, text: str | None = None, **attrs: str):
    el = etree.SubElement(parent, f"{{{ns}}}{tag}" if ns else tag, attrs)
    el.text = text
    return el


def _entry_of(body: etree._Element, concept: Concept, ns: str | None, v3: bool) -> None:
    entry = _sub(body, ns, "conceptEntry" if v3 else "termEntry", id=concept.id)
    _sub(entry, ns, "descrip", concept.category, type="subjectField")
    if concept.equipment:
        _sub(entry, ns, "admin", "equipment", type="projectSubset")
    if concept.source:
        _sub(entry, ns, "admin", concept.source, type="source")
    # TBX-Basic has no elementWorkingStatus: a "reviewed" project subset there.
    if v3 and concept.status == "reviewed":
        _sub(entry, ns, "admin", "reviewed", type="projectSubset")
    elif not v3:
        _sub(entry, ns, "admin", _WORKING_STATUS[concept.status], type="elementWorkingStatus")
    if concept.notes:
        _sub(entry, ns, "note", concept.notes)
    for lang in LANGS:
        terms = [t for t in concept.terms if t.lang == lang]
        definition = concept.definitions.get(lang)
        if definition and not terms:
            # A language section needs a term: a definition alone stands at
            # concept level, its language said (TBX-Basic allows both).
            _sub(entry, ns, "descrip", definition, type="definition").set(XML_LANG, lang)
    for lang in LANGS:
        terms = [t for t in concept.terms if t.lang == lang]
        if not terms:
            continue
        sec = _sub(entry, ns, "langSec" if v3 else "langSet")
        sec.set(XML_LANG, lang)
        if concept.definitions.get(lang):
            _sub(sec, ns, "descrip", concept.definitions[lang], type="definition")
        for term in terms:
            term_sec = _sub(sec, ns, "termSec" if v3 else "tig")
            _sub(term_sec, ns, "term", term.text)
            if term.pos:
                _sub(term_sec, ns, "termNote", term.pos, type="partOfSpeech")
            if term.gender:
                _sub(term_sec, ns, "termNote", _GENDER_TO_TBX[term.gender], type="grammaticalGender")
            status, term_type = _TYPE_TO_TBX[term.type]
            if term_type:
                _sub(term_sec, ns, "termNote", term_type, type="termType")
            _sub(term_sec, ns, "termNote", status, type="administrativeStatus")


_WORKING_STATUS = {"draft": "workingElement", "reviewed": "consolidatedElement"}


# --------------------------------------------------------------------------
# Choosing the format


def format_of(path, fmt: str | None = None) -> str:
    """The format named by ``fmt``, else the one the file extension says."""
    if fmt is not None:
        if fmt not in EXPORT_FORMATS:
            raise GlossaryError(f"unknown format {fmt!r} (one of: {', '.join(EXPORT_FORMATS)})")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise GlossaryError(
            f"cannot tell the format of {Path(path).name!r}: "
            f"use a {', '.join(_EXTENSIONS)} file"
        )
    return _EXTENSIONS[suffix]


def _reads_as(fmt: str) -> str:
    return "csv" if fmt == "csv" else "tbx"


def read_glossary(path, fmt: str | None = None, source: str | None = None,
                  data: bytes | None = None) -> Reading:
    """A glossary file read for import. CSV is our own format: its ids are
    ours. A TBX file's ids belong to its source (``source``, else the file
    name; see read_tbx_reading), unless shopbot wrote the file. ``data``: the
    file's content (an upload), ``path`` then only names it."""
    content = path if data is None else data
    if _reads_as(format_of(path, fmt)) == "csv":
        concepts, lines = read_csv_lines(content)
        report = ReadReport(kind="concepts", held=len(concepts), imported=len(concepts),
                            source=source or source_name(path), native=True)
        return Reading(concepts, {}, report, {c.id: n for c, n in zip(concepts, lines)})
    return read_tbx_reading(content, source or source_name(path))


def read_file_report(path, fmt: str | None = None) -> tuple[list[Concept], list[str]]:
    """Concepts (the file's own ids) and warnings for a person."""
    if _reads_as(format_of(path, fmt)) == "csv":
        return read_csv(path), []
    concepts, report = read_tbx_report(path)
    return concepts, report.warnings()


def read_file(path, fmt: str | None = None) -> list[Concept]:
    return read_file_report(path, fmt)[0]


def write_file(concepts: Iterable[Concept], path, fmt: str | None = None) -> None:
    Path(path).write_bytes(file_bytes(concepts, path, fmt))


def file_bytes(concepts: Iterable[Concept], path, fmt: str | None = None) -> bytes:
    """The export file's content, CSV or TBX by ``fmt`` or the extension."""
    fmt = format_of(path, fmt)
    return csv_bytes(concepts) if fmt == "csv" else tbx_bytes(concepts, fmt)
