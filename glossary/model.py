"""The glossary's data model: concepts and their terms.

One concept per thing (the coater, the tab, the over-temperature alarm); each
concept has terms in the five working languages. These are plain dataclasses:
storage, search and import/export all speak them, nothing here touches SQLite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The five working languages, in the order columns and cards show them.
LANGS: tuple[str, ...] = ("zh", "ko", "ms", "fr", "en")

LANG_NAMES = {
    "zh": "中文",
    "ko": "한국어",
    "ms": "Bahasa Melayu",
    "fr": "Français",
    "en": "English",
}

#: Term types, in display order. An abbreviation is a term of its own right
#: (OCV, AGV); a deprecated term is kept so that people who type it are led to
#: the approved one, and so that translation can keep it out of its output.
TERM_TYPES: tuple[str, ...] = ("preferred", "admitted", "abbreviation", "deprecated")

PARTS_OF_SPEECH: tuple[str, ...] = ("noun", "verb", "adjective", "adverb", "other")

#: Grammatical gender of a term (of its head noun): masculine, feminine,
#: neuter. Only French of our languages has one; translation needs it to fit
#: the article to an enforced term (« le » → « la », « du » → « de la »).
GENDERS: tuple[str, ...] = ("m", "f", "n")
GENDERED_LANGS: tuple[str, ...] = ("fr",)

#: Process areas. Kept as a closed list so that filters and statistics group
#: cleanly; extend it here (and in a migration-free way: it is plain text).
CATEGORIES: tuple[str, ...] = (
    "electrode",  # mixing, coating, drying, calendering, slitting, notching
    "assembly",  # winding/stacking, tab welding, casing, filling, sealing
    "finishing",  # formation, aging, degassing, grading, OCV/IR sorting
    "module_pack",  # cell sorting, busbar welding, dispensing, EOL test
    "materials",
    "quality",  # defects, measurements, inspection
    "maintenance",
    "electrical",
    "safety",
    "logistics_it",  # AGV, MES, PLC, HMI, barcodes
    "facility",  # dry room, utilities
    "alarm",
    "general",
)

STATUSES: tuple[str, ...] = ("draft", "reviewed")

#: Concept ids are what import merges on and what TBX writes as an XML ID, so
#: they must be a valid xs:ID: a letter first, then letters, digits, - _ .
CONCEPT_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")

#: Longest term text we accept. Nothing in a glossary is longer; it also bounds
#: the work a hostile import can cause.
MAX_TERM_CHARS = 120
MAX_TEXT_CHARS = 4000  # definitions, notes, sources


class GlossaryError(ValueError):
    """Bad glossary data. The message is meant for a person and names the place."""


@dataclass(frozen=True)
class Term:
    lang: str
    text: str
    type: str = "preferred"
    pos: str | None = None
    gender: str | None = None


@dataclass
class Concept:
    id: str
    category: str = "general"
    equipment: bool = False
    status: str = "draft"
    source: str = ""
    notes: str = ""
    terms: list[Term] = field(default_factory=list)
    definitions: dict[str, str] = field(default_factory=dict)
    #: Per-language review: {lang: (reviewed by, at)}; a language not here is
    #: a draft. Read from ``concept_review``; not part of the concept's
    #: content (``key()``), so an import neither sets nor compares it.
    reviews: dict[str, tuple[str, str]] = field(default_factory=dict, compare=False)
    #: Bumped by every write of the concept: what an edit form carries so
    #: that a second writer is told instead of silently overwriting the first.
    version: int = field(default=0, compare=False)

    def terms_in(self, lang: str) -> list[Term]:
        """Terms of one language, preferred first, in the order they were given."""
        order = {t: i for i, t in enumerate(TERM_TYPES)}
        return sorted(
            (t for t in self.terms if t.lang == lang), key=lambda t: order[t.type]
        )

    def preferred(self, lang: str) -> Term | None:
        for term in self.terms_in(lang):
            if term.type == "preferred":
                return term
        return None

    def definition(self, lang: str) -> tuple[str, str] | None:
        """The definition in ``lang``, else in English: (lang, text)."""
        for code in (lang, "en"):
            if self.definitions.get(code):
                return code, self.definitions[code]
        return None

    def key(self) -> tuple:
        """A comparable form: what import uses to tell 'unchanged' from 'updated'."""
        return (
            self.id,
            self.category,
            self.equipment,
            self.status,
            self.source,
            self.notes,
            tuple(sorted((t.lang, t.type, t.text, t.pos or "", t.gender or "") for t in self.terms)),
            tuple(sorted((k, v) for k, v in self.definitions.items() if v)),
        )


def validate_concept(concept: Concept, where: str = "") -> None:
    """Raise GlossaryError naming ``where`` if the concept is not storable."""
    at = f"{where}: " if where else ""
    if not isinstance(concept.id, str) or not CONCEPT_ID_RE.fullmatch(concept.id):
        raise GlossaryError(
            f"{at}concept id {concept.id!r} is not valid "
            "(a letter, then letters, digits, '-', '_' or '.', at most 64)"
        )
    if concept.category not in CATEGORIES:
        raise GlossaryError(
            f"{at}unknown category {concept.category!r} "
            f"(one of: {', '.join(CATEGORIES)})"
        )
    if concept.status not in STATUSES:
        raise GlossaryError(f"{at}unknown status {concept.status!r} (draft or reviewed)")
    if not concept.terms:
        raise GlossaryError(f"{at}concept {concept.id!r} has no term")
    seen = set()
    for term in concept.terms:
        if term.lang not in LANGS:
            raise GlossaryError(f"{at}unknown language {term.lang!r} (one of: {', '.join(LANGS)})")
        if term.type not in TERM_TYPES:
            raise GlossaryError(f"{at}unknown term type {term.type!r}")
        if term.pos is not None and term.pos not in PARTS_OF_SPEECH:
            raise GlossaryError(f"{at}unknown part of speech {term.pos!r}")
        if term.gender is not None and term.gender not in GENDERS:
            raise GlossaryError(f"{at}unknown gender {term.gender!r} (expected one of {', '.join(GENDERS)})")
        text = term.text
        if not text or not text.strip() or text != text.strip():
            raise GlossaryError(f"{at}empty term, or spaces around it: {text!r}")
        if len(text) > MAX_TERM_CHARS:
            raise GlossaryError(f"{at}term longer than {MAX_TERM_CHARS} characters: {text[:40]!r}...")
        if any(ch in text for ch in "|\n\r\t\x00"):
            raise GlossaryError(f"{at}term contains '|', a tab or a line break: {text!r}")
        if (term.lang, term.text) in seen:
            raise GlossaryError(f"{at}term {text!r} ({term.lang}) is listed twice")
        seen.add((term.lang, term.text))
    for lang, text in list(concept.definitions.items()) + [
        ("source", concept.source),
        ("notes", concept.notes),
    ]:
        if lang not in LANGS and lang not in ("source", "notes"):
            raise GlossaryError(f"{at}definition in unknown language {lang!r}")
        if text and len(text) > MAX_TEXT_CHARS:
            raise GlossaryError(f"{at}{lang} text longer than {MAX_TEXT_CHARS} characters")
        if text and "\x00" in text:
            raise GlossaryError(f"{at}{lang} text contains a NUL character")
