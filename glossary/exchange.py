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

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from lxml import etree

from glossary.model import (
    CATEGORIES,
    GENDERED_LANGS,
    GENDERS,
    LANGS,
    PARTS_OF_SPEECH,
    Concept,
    GlossaryError,
    Term,
    validate_concept,
)

FORMATS: tuple[str, ...] = ("csv", "tbx")
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


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


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
    return concepts


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

TBX_NS = "urn:iso:std:iso:30042:ed-2"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_SCHEMA_PIS = (
    'href="https://raw.githubusercontent.com/LTAC-Global/TBX-Basic_dialect/master/'
    'DCA/TBXcoreStructV03_TBX-Basic_integrated.rng" type="application/xml" '
    'schematypens="http://relaxng.org/ns/structure/1.0"',
    'href="https://raw.githubusercontent.com/LTAC-Global/TBX-Basic_dialect/master/'
    'DCA/TBX-Basic_DCA.sch" type="application/xml" '
    'schematypens="http://purl.oclc.org/dsdl/schematron"',
)

# Element names of the two forms: 2019 first, 2008 second.
_ENTRY = {"conceptEntry", "termEntry"}
_LANG_SEC = {"langSec", "langSet"}
_TERM_SEC = {"termSec", "tig", "ntig"}
#: Group elements read as if their content stood in the parent. Only the head
#: kind is taken: the <admin type="source"> of a definition in a descripGrp is
#: not the concept's source.
_GROUPS = {"descripGrp": {"descrip"}, "adminGrp": {"admin"},
           "termNoteGrp": {"termNote"}, "termGrp": {"term", "termNote"}}

# The one place that maps term types to and from TBX (both forms).
_TYPE_TO_TBX = {  # type -> (administrativeStatus, termType or None)
    "preferred": ("preferredTerm-admn-sts", None),
    "admitted": ("admittedTerm-admn-sts", None),
    "abbreviation": ("admittedTerm-admn-sts", "abbreviation"),
    "deprecated": ("deprecatedTerm-admn-sts", None),
}
_STATUS_FROM_TBX = {  # lower-cased administrativeStatus -> type
    **{sts.lower(): t for t, (sts, term_type) in _TYPE_TO_TBX.items() if not term_type},
    "supersededterm-admn-sts": "deprecated",
}
_ABBREVIATION_TYPES = {"abbreviation", "acronym", "shortform", "initialism"}
_POS_FROM_TBX = {**{p: p for p in PARTS_OF_SPEECH}, "propernoun": "noun"}
_WORKING_STATUS = {"draft": "workingElement", "reviewed": "consolidatedElement"}
_REVIEWED = {"consolidatedelement", "finalizedelement"}
_TRADITIONAL_SUBTAGS = {"tw", "hk", "mo", "hant"}
#: An internal DTD subset is where entity bombs live; TBX never needs one.
#: A DOCTYPE with an internal subset, its external id quoted or not (a ">"
#: inside quotes once hid the subset from a simpler pattern). The parsed
#: document's docinfo is checked too, whatever the text looked like.
_INTERNAL_SUBSET = re.compile(r"""<!DOCTYPE(?:[^>\["']|"[^"]*"|'[^']*')*\[""")


def _term_type(status: str | None, term_type: str | None) -> str | None:
    """Our type from a TBX administrativeStatus and termType (None: not stated)."""
    stated = _STATUS_FROM_TBX.get((status or "").lower())
    if stated != "deprecated" and (term_type or "").lower() in _ABBREVIATION_TYPES:
        return "abbreviation"  # being short matters, unless it is deprecated
    return stated


def read_tbx(source) -> list[Concept]:
    """Concepts from a TBX file (TBX-Basic 2019 or TBX 2008), a path or bytes."""
    return read_tbx_report(source)[0]


def read_tbx_report(source) -> tuple[list[Concept], dict[str, int]]:
    """Concepts, and the languages skipped: xml:lang as written -> term count."""
    root = parse_xml(read_bytes(source))
    body = _body(root)
    skipped: dict[str, int] = {}
    concepts, lines = [], []
    for entry in _children(body):
        if local_name(entry) not in _ENTRY:
            continue
        concepts.append(_concept_from_entry(entry, skipped))
        lines.append(entry.sourceline)
        _count_guard(len(concepts))
    _check_concepts(concepts, lines)
    return concepts, skipped


def parse_xml(data: bytes) -> etree._Element:
    """The root of an XML document, parsed safely: UTF-8 only, no DTD, no
    entity expansion, no network. Also used for TMX (bot.translation.memory)."""
    text = decode_text(data)  # our own check, for a message naming the line
    found = _INTERNAL_SUBSET.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        raise GlossaryError(f"line {line}: a DOCTYPE with an internal subset is refused")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
        encoding="utf-8",  # whatever the declaration says: we checked UTF-8
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise GlossaryError(f"line {exc.lineno}: malformed XML: {exc.msg}") from None
    dtd = root.getroottree().docinfo.internalDTD  # there for any DOCTYPE: look inside
    if dtd is not None and (any(True for _ in dtd.iterentities()) or dtd.elements()):
        line = text.count("\n", 0, max(text.find("<!DOCTYPE"), 0)) + 1
        raise GlossaryError(f"line {line}: a DOCTYPE with an internal subset is refused")
    return root


def local_name(el: etree._Element) -> str:
    """The tag without its namespace."""
    return etree.QName(el).localname


def _children(el: etree._Element) -> Iterator[etree._Element]:
    """Child elements (no comments, PIs or entities), with groups flattened."""
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child)
        if name in _GROUPS:
            yield from (c for c in _children(child) if local_name(c) in _GROUPS[name])
        else:
            yield child


def _text(el: etree._Element) -> str:
    return "".join(el.itertext()).strip()


def _typed(el: etree._Element, kind: str, type_: str) -> bool:
    return local_name(el) == kind and el.get("type") == type_


def _body(root: etree._Element) -> etree._Element:
    if local_name(root) not in ("tbx", "martif"):
        raise GlossaryError(
            f"line {root.sourceline}: root element <{local_name(root)}> is not <tbx> or <martif>"
        )
    for text in _children(root):
        if local_name(text) == "text":
            for body in _children(text):
                if local_name(body) == "body":
                    return body
    raise GlossaryError(f"line {root.sourceline}: <{local_name(root)}> has no <text>/<body>")


def _concept_from_entry(entry: etree._Element, skipped: dict[str, int]) -> Concept:
    line, name = entry.sourceline, local_name(entry)
    concept = Concept(id=(entry.get("id") or "").strip())  # stripped, as in CSV
    if not concept.id:
        raise GlossaryError(f"line {line}: <{name}> has no id")
    skipped_before = sum(skipped.values())
    entry_definition = ""
    notes = []
    for item in _children(entry):
        if _typed(item, "descrip", "subjectField"):
            category = _text(item).lower()
            # Foreign files put free text here; it is not an error.
            concept.category = category if category in CATEGORIES else "general"
        elif _typed(item, "admin", "projectSubset") and _text(item) == "equipment":
            concept.equipment = True
        elif _typed(item, "admin", "source"):
            concept.source = _text(item)
        elif _typed(item, "admin", "elementWorkingStatus"):
            concept.status = "reviewed" if _text(item).lower() in _REVIEWED else "draft"
        elif local_name(item) == "note" and _text(item):
            notes.append(_text(item))
        elif _typed(item, "descrip", "definition"):
            entry_definition = entry_definition or _text(item)
        elif local_name(item) in _LANG_SEC:
            _read_lang_sec(item, concept, skipped)
    concept.notes = "\n".join(notes)
    # A definition with no language (TBX 2008 termEntry level) counts as English.
    if entry_definition and not concept.definitions.get("en"):
        concept.definitions["en"] = entry_definition
    if not concept.terms and sum(skipped.values()) > skipped_before:
        raise GlossaryError(
            f"line {line}: concept {concept.id!r} has terms only in languages "
            f"other than {', '.join(LANGS)}"
        )
    return concept


def lang_of(raw: str) -> tuple[str | None, bool]:
    """(our language code or None, whether the text is Traditional Chinese)."""
    subtags = raw.strip().replace("_", "-").lower().split("-")
    lang = subtags[0] if subtags[0] in LANGS else None
    return lang, lang == "zh" and bool(_TRADITIONAL_SUBTAGS.intersection(subtags[1:]))


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc  # loaded on first use: it reads its dictionaries then

    # Bare config name: opencc >= 1.1 appends ".json" itself.
    return opencc.OpenCC("t2s")


def _read_lang_sec(sec: etree._Element, concept: Concept, skipped: dict[str, int]) -> None:
    raw = sec.get(XML_LANG)
    if not raw:
        raise GlossaryError(f"line {sec.sourceline}: <{local_name(sec)}> has no xml:lang")
    lang, traditional = lang_of(raw)
    term_secs = [item for item in _children(sec) if local_name(item) in _TERM_SEC]
    if lang is None:
        skipped[raw.strip()] = skipped.get(raw.strip(), 0) + len(term_secs)
        return
    simplify = _t2s().convert if traditional else (lambda s: s)
    definition = next(
        (_text(i) for i in _children(sec) if _typed(i, "descrip", "definition")), ""
    )
    parsed = [_read_term_sec(term_sec) for term_sec in term_secs]
    # TBX 2008 files often keep the definition with a term instead.
    definition = definition or next((d for *_, d in parsed if d), "")
    if definition and not concept.definitions.get(lang):
        concept.definitions[lang] = simplify(definition)
    texts = {t.text for t in concept.terms if t.lang == lang}
    new_terms = []
    for text, type_, pos, _ in parsed:
        text = simplify(text)
        if text not in texts:  # zh-CN and zh-TW may give the same term
            texts.add(text)
            new_terms.append((text, type_, pos))
    concept.terms += _resolve_types(lang, new_terms, concept.preferred(lang) is not None)


def _read_term_sec(sec: etree._Element) -> tuple[str, str | None, str | None, str]:
    """(text, type or None if not stated, pos, definition) of one termSec/tig/ntig."""
    text = status = term_type = pos = None
    definition = ""
    for item in _children(sec):
        if local_name(item) == "term" and text is None:
            text = _text(item)
        elif _typed(item, "termNote", "partOfSpeech"):
            pos = _POS_FROM_TBX.get(_text(item).lower(), "other")
        elif _typed(item, "termNote", "administrativeStatus"):
            status = _text(item)
        elif _typed(item, "termNote", "termType"):
            term_type = _text(item)
        elif _typed(item, "descrip", "definition"):
            definition = definition or _text(item)
    if not text:
        raise GlossaryError(f"line {sec.sourceline}: <{local_name(sec)}> has no <term>")
    return text, _term_type(status, term_type), pos, definition


def _resolve_types(lang: str, terms, has_preferred: bool) -> list[Term]:
    """Terms with a type; one without a stated status is preferred if it is
    the first such of a language with no explicit preferred, else admitted."""
    has_preferred = has_preferred or any(type_ == "preferred" for _, type_, _ in terms)
    result = []
    for text, type_, pos in terms:
        if type_ is None:
            type_ = "admitted" if has_preferred else "preferred"
            has_preferred = True
        result.append(Term(lang, text, type_, pos))
    return result


def write_tbx(concepts: Iterable[Concept], dest) -> None:
    """Write concepts as TBX-Basic (ISO 30042:2019, DCA style), UTF-8."""
    Path(dest).write_bytes(tbx_bytes(concepts))


def tbx_bytes(concepts: Iterable[Concept]) -> bytes:
    root = etree.Element("tbx", nsmap={None: TBX_NS})
    root.set("type", "TBX-Basic")
    root.set("style", "dca")
    root.set(XML_LANG, "en")
    for pi in _SCHEMA_PIS:
        root.addprevious(etree.ProcessingInstruction("xml-model", pi))
    header = _sub(root, "tbxHeader")
    _sub(_sub(_sub(header, "fileDesc"), "sourceDesc"), "p", "shopbot glossary export")
    body = _sub(_sub(root, "text"), "body")
    for number, concept in enumerate(_write_checked(concepts), 1):
        try:
            _entry_of(body, concept)
        except ValueError as exc:  # lxml refuses control characters in text
            raise GlossaryError(f"concept {number} ({concept.id!r}): {exc}") from None
    return etree.tostring(
        root.getroottree(), pretty_print=True, xml_declaration=True, encoding="UTF-8"
    )


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str):
    el = etree.SubElement(parent, f"{{{TBX_NS}}}{tag}", attrs)
    el.text = text
    return el


def _entry_of(body: etree._Element, concept: Concept) -> None:
    entry = _sub(body, "conceptEntry", id=concept.id)
    _sub(entry, "descrip", concept.category, type="subjectField")
    if concept.equipment:
        _sub(entry, "admin", "equipment", type="projectSubset")
    if concept.source:
        _sub(entry, "admin", concept.source, type="source")
    _sub(entry, "admin", _WORKING_STATUS[concept.status], type="elementWorkingStatus")
    if concept.notes:
        _sub(entry, "note", concept.notes)
    for lang in LANGS:
        terms = [t for t in concept.terms if t.lang == lang]
        definition = concept.definitions.get(lang)
        if not terms and not definition:
            continue
        # A definition-only langSec is outside the TBX-Basic schema, but
        # dropping the definition would lose data; our reader accepts it.
        sec = _sub(entry, "langSec")
        sec.set(XML_LANG, lang)
        if definition:
            _sub(sec, "descrip", definition, type="definition")
        for term in terms:
            _term_sec_of(sec, term)


def _term_sec_of(sec: etree._Element, term: Term) -> None:
    term_sec = _sub(sec, "termSec")
    _sub(term_sec, "term", term.text)
    if term.pos:
        _sub(term_sec, "termNote", term.pos, type="partOfSpeech")
    status, term_type = _TYPE_TO_TBX[term.type]
    if term_type:
        _sub(term_sec, "termNote", term_type, type="termType")
    _sub(term_sec, "termNote", status, type="administrativeStatus")


# --------------------------------------------------------------------------
# Choosing the format


def format_of(path, fmt: str | None = None) -> str:
    """The format named by ``fmt``, else the one the file extension says."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise GlossaryError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise GlossaryError(
            f"cannot tell the format of {Path(path).name!r}: "
            f"use a {', '.join(_EXTENSIONS)} file"
        )
    return _EXTENSIONS[suffix]


def read_file_report(path, fmt: str | None = None) -> tuple[list[Concept], list[str]]:
    """Concepts and warnings for a person (e.g. the languages a TBX skipped)."""
    if format_of(path, fmt) == "csv":
        return read_csv(path), []
    concepts, skipped = read_tbx_report(path)
    warnings = [
        f"skipped {count} term(s) in language {lang!r}"
        for lang, count in sorted(skipped.items())
    ]
    return concepts, warnings


def read_file(path, fmt: str | None = None) -> list[Concept]:
    return read_file_report(path, fmt)[0]


def write_file(concepts: Iterable[Concept], path, fmt: str | None = None) -> None:
    Path(path).write_bytes(file_bytes(concepts, path, fmt))


def file_bytes(concepts: Iterable[Concept], path, fmt: str | None = None) -> bytes:
    """The export file's content, CSV or TBX by ``fmt`` or the extension."""
    return (csv_bytes if format_of(path, fmt) == "csv" else tbx_bytes)(concepts)
