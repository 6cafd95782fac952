"""HTML rendering shared by the routers: every user and glossary string is
escaped here, and long replies are split under Telegram's 4096 characters.
Also the one parser of the numbers people type and buttons carry."""

from __future__ import annotations

import re

from aiogram.utils.i18n import gettext as _
from aiogram import html

from glossary import LANGS, Concept, SearchResult

FLAGS = {"zh": "🇨🇳", "ko": "🇰🇷", "ms": "🇲🇾", "fr": "🇫🇷", "en": "🇬🇧"}
LIMIT = 4096


def q(text: str) -> str:
    return html.quote(text or "")


#: SQLite's integers are 64-bit; Telegram's ids fit in 52 bits.
MAX_ID = 2**53


def parse_int(text: str | None, *, signed: bool = False, high: int = MAX_ID) -> int | None:
    """A number typed in a command or carried by a button, else None.

    ASCII digits only (and a leading ``-`` when ``signed``), within
    ``high``: ``str.isdigit()`` also accepts ``²``, which ``int()`` refuses,
    and ``٣``, which it reads as 3; a 20-digit number overflows SQLite."""
    text = (text or "").strip()
    digits = text[1:] if signed and text.startswith("-") else text
    if not digits or len(digits) > 19 or not (digits.isascii() and digits.isdigit()):
        return None
    value = int(text)
    return value if abs(value) <= high else None


def concept_card(concept: Concept, lang: str, result: SearchResult | None = None) -> str:
    """The preferred term in every language, the definition in the reader's
    language (else English), and a warning when a deprecated term was typed."""
    head = concept.preferred(lang) or concept.preferred("en")
    lines = [f"<b>{q(head.text if head else concept.id)}</b>"]
    if result is not None and result.matched.type == "deprecated":
        lines.append("⚠️ " + _("«{term}» is deprecated: say «{preferred}».").format(
            term=q(result.matched.text), preferred=q(head.text if head else "")))
    for code in LANGS:
        term = concept.preferred(code)
        # ✓: a speaker of that language reviewed this concept's terms in it.
        mark = " ✓" if code in concept.reviews else ""
        lines.append(f"{FLAGS[code]} {q(term.text) if term else '—'}{mark}")
    definition = concept.definition(lang)
    if definition:
        lines.append("")
        lines.append(f"<i>{q(definition[1])}</i>")
    if concept.status != "reviewed":
        lines.append(_("(not yet reviewed)"))
    return "\n".join(lines)


def concept_details(concept: Concept, lang: str) -> str:
    """Every term with its type, for the "more" button."""
    labels = {"preferred": "", "admitted": _("admitted"), "abbreviation": _("abbreviation"),
              "deprecated": _("deprecated")}
    lines = [f"<b>{q(concept.id)}</b> · {q(concept.category)}"]
    for code in LANGS:
        parts = []
        for term in concept.terms_in(code):
            label = labels[term.type]
            text = f"<s>{q(term.text)}</s>" if term.type == "deprecated" else q(term.text)
            parts.append(f"{text} ({label})" if label else text)
        lines.append(f"{FLAGS[code]} " + (" · ".join(parts) or "—") + (" ✓" if code in concept.reviews else ""))
    for code in (lang, "en"):
        if concept.definitions.get(code):
            lines.append(f"\n<i>{q(concept.definitions[code])}</i>")
            break
    return "\n".join(lines)


_SENTENCE_END = re.compile(r"[.!?。！？](?=\s|$)|[。！？]")


def split_plain(text: str, limit: int = 3500) -> list[str]:
    """Cut plain text (before escaping: escaping can grow it) at line,
    sentence or word boundaries into pieces of at most ``limit`` characters."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        # A break right after the limit-th character is a good cut too:
        # each search reaches one character past the limit.
        cut = rest.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            # From limit // 2 - 1: a sentence ending at half the limit is a
            # cut as good as a line break there. Up to limit + 1: the
            # lookahead sees the character after a full stop at limit - 1
            # ("3.|50" is no sentence end); ends past the limit are left out.
            ends = [m.end() for m in _SENTENCE_END.finditer(rest, max(0, limit // 2 - 1), limit + 1)
                    if m.end() <= limit]
            cut = ends[-1] if ends else -1
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n ")
    if rest or not pieces:
        pieces.append(rest)
    return pieces


#: The most escaping makes of one character: ``&`` → ``&amp;``.
_MAX_GROWTH = 5


def quoted_pieces(text: str, limit: int) -> list[str]:
    """Plain ``text`` cut as split_plain does, each piece escaped and at most
    ``limit`` characters once escaped (``&`` grows to five).

    A piece that grew past the limit is cut again into pieces of
    ``limit // 5``, which fit whatever they hold. (Halving the limit until
    it fit never ended for a long run of ``&``: RecursionError.)"""
    out = []
    for piece in split_plain(text, limit):
        quoted = q(piece)
        if len(quoted) <= limit:
            out.append(quoted)
        else:
            out.extend(q(p) for p in split_plain(piece, max(1, limit // _MAX_GROWTH)))
    return out


def pack(blocks: list[str], limit: int = LIMIT) -> list[str]:
    """Join rendered blocks (each well-formed HTML) into messages under the limit."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}\n\n{block}" if current else block
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            messages.append(current)
        current = block[:limit]  # a single block is built under the limit by its caller
    if current:
        messages.append(current)
    return messages
