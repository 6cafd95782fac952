"""Text normalisation shared by storage, search and term spotting.

What a person types on a phone differs from the glossary in case, accents,
full-width letters, Traditional characters, invisible characters and spacing.
``normalize`` folds all of that away, the same way for terms and for queries:

* NFKC (full-width ``ＯＣＶ`` → ``OCV``, ligatures), then casefold;
* accents are stripped on Latin letters only: Hangul decomposes under NFD too,
  and must stay whole;
* Traditional Chinese → Simplified, character by character (OpenCC ``t2s``);
* format characters (zero-width spaces and joiners, BOM, bidi marks) are
  dropped, controls become spaces, dashes become ``-``, runs of spaces one.

``normalize_map`` does the same and also tells, for every character of the
result, which span of the original produced it: term spotting needs offsets
into the message the person wrote, not into the folded copy. ``normalize`` is
built on it so that there is exactly one folding rule.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import hangul_jamo
import opencc
from pypinyin import lazy_pinyin

_T2S = opencc.OpenCC("t2s")

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-")
_SPACE_RUN = re.compile(r"\s{2,}")
# Characters that separate parts of a term without meaning: "roll-to-roll",
# "roll to roll" and "rolltoroll" share one ``flat`` key; so do "E-stop" and "estop".
_FLAT_DROP = re.compile(r"[\s\-_./·・]+")


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD. JSON can carry
    one ("\\ud800", as Telegram may send it) and a command line can (bytes
    that are not UTF-8); UTF-8 cannot, so SQLite, logs and files refuse it."""
    return _SURROGATE.sub("\ufffd", text)


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def is_han(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x3134F
    )


def is_hangul(ch: str) -> bool:
    cp = ord(ch)
    return 0xAC00 <= cp <= 0xD7A3 or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F


def is_latin(ch: str) -> bool:
    """A Latin-script letter (ASCII or accented)."""
    if ch.isascii():
        return ch.isalpha()
    return ch.isalpha() and "LATIN" in unicodedata.name(ch, "")


def is_word_char(ch: str) -> bool:
    """Characters that glue Latin words together: a term must not start or end
    next to one of these ("tab" is not a term inside "stable" or "tab2")."""
    return ch.isdigit() or is_latin(ch)


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    """Fold one code point. Combining marks are handled by the caller."""
    if ch.isascii():
        if ch.isalnum() or ch == " ":
            return ch.lower()
        return " " if ch in "\t\n\r\x0b\x0c" else ("" if ord(ch) < 32 or ch == "\x7f" else ch)
    cat = unicodedata.category(ch)
    if cat == "Cf":  # zero-width space/joiner, bidi marks, BOM, soft hyphen
        return ""
    if cat in ("Cc", "Zs", "Zl", "Zp"):
        return " "
    if cat in ("Cs", "Co", "Cn"):  # lone surrogates, private use, unassigned
        return ""
    out = unicodedata.normalize("NFKC", ch).casefold().translate(_DASHES)
    if is_han(ch) or any(is_han(c) for c in out):
        out = _T2S.convert(out)
    # Strip accents from Latin letters (é → e). Hangul is left composed: NFD
    # would split 한 into jamo. Combining marks left over from NFKC (a spacing
    # cedilla becomes space + combining cedilla) are dropped too, so that
    # folding twice gives what folding once gave.
    if any(is_latin(c) for c in out):
        out = unicodedata.normalize("NFD", out)
    return unicodedata.normalize("NFC", "".join(c for c in out if not unicodedata.combining(c)))


def normalize_map(text: str) -> tuple[str, list[int], list[int]]:
    """Fold ``text``; return (folded, starts, ends) where folded[i] came from
    ``text[starts[i]:ends[i]]``."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        if unicodedata.combining(ch):
            # A combining accent belongs to the letter before it: extend that
            # letter's span and drop the accent (see _fold_char).
            if ends:
                ends[-1] = i + 1
            continue
        folded = _fold_char(ch)
        for c in folded:
            if c == " " and (not out or out[-1] == " "):
                if ends and out and out[-1] == " ":
                    ends[-1] = i + 1
                continue  # collapse runs, drop leading spaces
            out.append(c)
            starts.append(i)
            ends.append(i + 1)
    if out and out[-1] == " ":
        out.pop()
        starts.pop()
        ends.pop()
    return "".join(out), starts, ends


def normalize(text: str) -> str:
    """The folded form used for matching (see the module docstring)."""
    if text.isascii() and text.isprintable() and "  " not in text:
        return text.strip().lower()  # the common case, 20× faster
    return normalize_map(text)[0]


def to_simplified(text: str) -> str:
    """Traditional Chinese characters → Simplified (other text unchanged)."""
    return _T2S.convert(text)


def flat(norm: str) -> str:
    """A normalised term without separators ("e-stop" → "estop")."""
    return _FLAT_DROP.sub("", norm)


def script_of(text: str) -> str:
    """'han', 'hangul', 'latin', 'mixed' or 'other' for a (normalised) text."""
    found = set()
    for ch in text:
        if is_han(ch):
            found.add("han")
        elif is_hangul(ch):
            found.add("hangul")
        elif is_latin(ch):
            found.add("latin")
        elif ch.isalpha():
            found.add("other")
    if not found:
        return "other"
    return found.pop() if len(found) == 1 else "mixed"


def to_jamo(text: str) -> str:
    """Hangul syllables decomposed into jamo: typos then cost one letter, not a syllable."""
    return hangul_jamo.decompose(text)


_TONE_DIGITS = re.compile(r"(?<=[a-z])[1-5]")
_PINYIN_QUERY = re.compile(r"^[a-z1-5' ]+$")


def pinyin_keys(norm: str) -> tuple[str, str]:
    """(full pinyin, initials) of a normalised Chinese term, without tones or spaces.

    ``涂布机`` → ``("tubuji", "tbj")``. Latin parts (``OCV测试``) are kept as they are.
    ü is written u, as most people type it on a phone.
    """
    syllables = lazy_pinyin(norm, v_to_u=True, errors="default")
    full: list[str] = []
    initials: list[str] = []
    for syl in syllables:
        syl = flat(normalize(syl))
        if syl:
            full.append(syl)
            initials.append(syl[0])
    return "".join(full), "".join(initials)


def pinyin_query(norm: str) -> str | None:
    """The pinyin key of a query typed as pinyin (``tú bù jī``, ``tu2 bu4 ji1``,
    ``tubuji``), or None when it cannot be pinyin."""
    if not _PINYIN_QUERY.match(norm):
        return None
    key = _TONE_DIGITS.sub("", norm).replace("'", "").replace(" ", "")
    return key if key.isalpha() else None
