"""Message text before translation: sentences, language, and what to leave alone.

* ``split_sentences`` cuts a chat message into pieces a translation model can
  take, keeping every offset and every space so that ``join_segments`` puts the
  translations back with the sender's own layout. It is ours because the stock
  argostranslate splitter downloads a model (stanza) and fails offline.
* ``detect_language`` tells which of our five languages a short message is
  in: Hangul and Han decide by script; Latin text goes to py3langid restricted
  to en/fr/ms, and the sender's profile language breaks ties on short text.
* ``segments_by_script`` gives the runs of a mixed-script message
  ("涂布机 stopped again") so a caller can translate each from its own language.
* ``is_translatable`` says when a text (``E-203``, ``12.5 mm``, ``OK 👍``) is
  better returned as it is.

Alarm codes, numbers with their units, URLs, e-mail addresses, file names and
emoji are never letters: they tell nothing about the language.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass

from glossary.model import LANGS
from glossary.normalize import is_han, is_hangul, is_latin

DEFAULT_MAX_CHARS = 400

# ---------------------------------------------------------------- sentences


@dataclass(frozen=True, slots=True)
class Segment:
    """One sentence: ``text == source[start:end]``, stripped; ``trailing`` is
    what follows up to the next segment; ``leading`` is what precedes the first
    segment (empty on every other one)."""

    text: str
    start: int
    end: int
    trailing: str
    leading: str = ""


_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_TERMINATOR = re.compile(r"[.!?…。！？｡]+")
_CJK_STOPS = frozenset("。！？｡")  # end a sentence with no space after them
_OPENERS = "\"'([{«“‘「『（【《〈‹"
_CLOSERS = frozenset("\"')]}»”’」』）】》〉›")
_FOLLOWING = re.compile(r"\s*(\S?)")
_SPACES = re.compile(r"\s*")
# A dot after these does not end a sentence. Initials ("U.S.", "e.g.", "M.")
# and numbered list markers are recognised by shape instead (_is_abbreviation).
_ABBREVIATIONS = frozenset({
    "etc", "approx", "appx", "ca", "vs", "cf", "fig", "figs", "ref", "incl", "dept",
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr",
    "env", "mme", "mlle", "ex", "p.ex", "c.-à-d", "resp",  # French
    "dll", "dsb", "sdn", "bhd", "tel",  # Malay: dan lain-lain, dan sebagainya, Sdn. Bhd.
})
_NUMBER_SIGNS = frozenset({"no", "nr"})  # "No. 3" but "No. The roller is fine."


def _is_wide(ch: str) -> bool:
    """Full-width characters (Han, Hangul, kana, 。): CJK writing needs no spaces."""
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _is_closer(ch: str) -> bool:
    """Closing quotes and brackets, emoji (with variation selectors and skin
    tones) and invisible format characters (zero-width space, bidi marks)."""
    return (ch in _CLOSERS or unicodedata.category(ch) in ("So", "Cf") or ch == "\ufe0f"
            or 0x1F3FB <= ord(ch) <= 0x1F3FF)


def _skip_closers(line: str, i: int) -> int:
    """End of the closers after a terminator. Spaces before a closer are
    crossed: French writes "Arrête ! »", chat writes "Done! 👍"."""
    j = i
    while j < len(line) and (_is_closer(line[j]) or line[j] in " \u00a0\u202f"):
        j += 1
        if _is_closer(line[j - 1]):
            i = j
    return i


def _is_abbreviation(line: str, dot: int, following: str) -> bool:
    start = dot
    while start > 0 and not line[start - 1].isspace():
        start -= 1
    token = line[start:dot].lstrip(_OPENERS)
    low = token.lower()
    if low in _NUMBER_SIGNS:
        return following.isdigit() or following == "#"
    if low in _ABBREVIATIONS:
        return True
    if token and all(len(p) == 1 and is_latin(p) for p in token.split(".")):
        return True  # initials: "U.S.", "e.g.", "M. Dupont"
    # "1." or "2.3." opening a line is a list marker, not a sentence
    opens_line = _SPACES.match(line).end() == start  # no slicing: a line may be huge
    return bool(token) and opens_line and all(c.isdigit() or c == "." for c in token)


def _splits_after(line: str, start: int, end: int, closed: int) -> bool:
    """Does the terminator ``line[start:end]`` (closers up to ``closed``) end a sentence?"""
    run = line[start:end]
    if _CJK_STOPS.intersection(run) or closed == len(line):
        return True
    nxt = line[closed]
    ellipsis = "…" in run or ".." in run
    if not nxt.isspace():
        # "机器停了!怎么办" uses half-width "!" between CJK; "3.5", "v1.2", "a.b/c" stay whole
        return _is_wide(nxt) and start > 0 and _is_wide(line[start - 1]) and not ellipsis
    following = _FOLLOWING.match(line, closed).group(1)
    if following.islower() and (ellipsis or closed > end):
        return False  # "wait... then check", '"Stop!" he said'
    return run != "." or not _is_abbreviation(line, start, following)


def _line_spans(text: str):
    start = 0
    for m in _LINE_BREAK.finditer(text):
        yield start, m.start()
        start = m.end()
    yield start, len(text)


def _sentence_spans(line: str):
    cut = 0
    for m in _TERMINATOR.finditer(line):
        closed = _skip_closers(line, m.end())
        if _splits_after(line, m.start(), m.end(), closed):
            yield cut, closed
            cut = closed
    yield cut, len(line)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_point(text: str, start: int, limit: int) -> int:
    """Where to end a chunk of ``text[start:]`` no longer than ``limit - start``:
    at the last space, else after the last punctuation, else at any character
    boundary (what CJK needs) that does not part a letter from its accent."""
    for i in range(limit, start, -1):
        if text[i].isspace():
            return i
    for i in range(limit, start, -1):
        if unicodedata.category(text[i - 1]).startswith("P"):
            return i
    cut = limit
    while cut > start + 1 and (unicodedata.combining(text[cut]) or text[cut] in "\u200d\ufe0f"):
        cut -= 1
    return cut


def _chunks(text: str, start: int, end: int, max_chars: int):
    while end - start > max_chars:
        cut = _cut_point(text, start, start + max_chars)
        yield _strip(text, start, cut)
        start = _strip(text, cut, end)[0]
    yield start, end


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[Segment]:
    """Sentences of ``text``: at . ! ? … 。！？ and line breaks, never longer
    than ``max_chars`` characters (see the module docstring)."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    spans = []
    for line_start, line_end in _line_spans(text):
        for s, e in _sentence_spans(text[line_start:line_end]):
            s, e = _strip(text, line_start + s, line_start + e)
            spans.extend(c for c in _chunks(text, s, e, max_chars) if c[0] < c[1])
    ends = [s for s, _ in spans[1:]] + [len(text)]
    return [Segment(text[s:e], s, e, text[e:nxt], text[:s] if i == 0 else "")
            for i, ((s, e), nxt) in enumerate(zip(spans, ends))]


def join_segments(segments: list[Segment], texts: list[str]) -> str:
    """Put ``texts`` (one per segment, e.g. translations) back with the spacing
    of the source. Where Chinese sentences touched ("好。走。") and a
    translation ends in Latin, a space keeps the sentences apart."""
    if len(segments) != len(texts):
        raise ValueError(f"{len(segments)} segments but {len(texts)} texts")
    out = [segments[0].leading] if segments else []
    for i, (seg, new) in enumerate(zip(segments, texts)):
        out.append(new)
        nxt = texts[i + 1] if i + 1 < len(texts) else ""
        if (not seg.trailing and new and nxt and _is_wide(seg.text[-1])
                and not _is_wide(new[-1]) and not new[-1].isspace()
                and not _is_wide(nxt[0]) and not nxt[0].isspace()):
            out.append(" ")
        out.append(seg.trailing)
    return "".join(out)


# ---------------------------------------------------------------- letters

# ASCII tokens that may be a code, a number, a URL or a file name.
_TOKEN = re.compile(r"[A-Za-z0-9_.:/#%+@~=?&-]+")
_FILE = re.compile(r"[\w-]+\.(?:log|csv|txt|json|xml|ini|cfg|conf|pdf|xlsx?|docx?|png|jpe?g|zip|bin|dat)",
                   re.IGNORECASE)
_REDUPLICATION = re.compile(r"[a-z]{3,}2")  # Malay chat: "mesin2" = "mesin-mesin", words
_UNIT = re.compile(r"\s?(?:mm|cm|µm|um|nm|km|kg|mg|ml|ms|min|sec|rpm|m?bar|[km]?pa|[km]?v|m?ah|k?wh|"
                   r"k?w|k?hz|°c|ppm|pcs|m|s|h|a|l|g|n)(?![^\W\d_])", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
# Words understood in every language here: such a text is returned unchanged.
_UNIVERSAL = re.compile(r"o?k+|ok(?:ay|e|ey)|(?:ha){2,}h?|(?:he){2,}h?|(?:hi){2,}|lol|[ㅋㅎ]+",
                        re.IGNORECASE)
# Detection looks at the start of a message only: enough to decide, and a
# bound on the work a hostile megabyte can cause.
_DETECT_CHARS = 1000
_CJK_WEIGHT = 2  # one Han/Hangul/kana character says about as much as two Latin letters


def _is_code(token: str) -> bool:
    if "://" in token or token.lower().startswith("www.") or "@" in token.strip("@"):
        return True
    if _FILE.fullmatch(token):
        return True
    return any(c.isdigit() for c in token) and not _REDUPLICATION.fullmatch(token)


def _mask_non_words(text: str) -> str:
    """``text`` with codes, numbers (and their units), URLs and file names blanked."""
    chars = list(text)
    for m in _TOKEN.finditer(text):
        if _is_code(m.group()):
            unit = _UNIT.match(text, m.end()) if any(c.isdigit() for c in m.group()) else None
            end = unit.end() if unit else m.end()
            chars[m.start():end] = " " * (end - m.start())
    return "".join(chars)


def _script(ch: str) -> str | None:
    """'han', 'hangul', 'kana', 'latin' or 'other' for a letter; None otherwise."""
    if not ch.isalpha():
        return None
    if is_han(ch):
        return "han"
    if is_hangul(ch):
        return "hangul"
    if 0x3040 <= ord(ch) <= 0x30FF or 0x31F0 <= ord(ch) <= 0x31FF or 0xFF66 <= ord(ch) <= 0xFF9F:
        return "kana"
    return "latin" if is_latin(ch) else "other"


def _letter_weights(masked: str) -> Counter[str]:
    weights: Counter[str] = Counter()
    for word in _WORD.findall(masked):
        for ch in word:
            script = _script(ch)
            if script:
                weights[script] += 1 if script in ("latin", "other") else _CJK_WEIGHT
    return weights


def is_translatable(text: str) -> bool:
    """False when there is nothing to translate: no letters outside codes,
    numbers, URLs and emoji, or only words like "OK", "haha", "ㅋㅋ"."""
    masked = _mask_non_words(text[:_DETECT_CHARS])
    return any(not _UNIVERSAL.fullmatch(w) and any(map(_script, w)) for w in _WORD.findall(masked))


def segments_by_script(text: str) -> list[tuple[str, int, int]]:
    """Runs ``(script, start, end)`` of one script each, in order. Codes,
    digits, punctuation and emoji belong to the run before them (the first run
    also takes those before it); only whitespace lies between runs. A text
    without letters has no runs."""
    masked = _mask_non_words(text)
    runs: list[list] = []
    for i, ch in enumerate(masked):
        script = _script(ch)
        if script and runs and runs[-1][0] == script:
            runs[-1][2] = i + 1
        elif script:
            runs.append([script, i, i + 1])
    if not runs:
        return []
    runs[0][1] = _strip(text, 0, len(text))[0]
    for run, nxt in zip(runs, runs[1:] + [[None, len(text)]]):
        run[2] += len(text[run[2]:nxt[1]].rstrip())
    return [tuple(run) for run in runs]


# ---------------------------------------------------------------- languages

LATIN_LANGS = ("en", "fr", "ms")
#: Below these probabilities py3langid is not trusted and the prior decides.
#: Calibrated on tests/translation/test_text.py's messages with py3langid 0.4 (whose
#: probabilities are tempered by text length): right answers on 3+ words
#: score >= 0.87, the wrong one 0.78; on 1-2 words wrong ones reach 0.66
#: while "terima kasih" or "tout va bien" score ~1.0.
MIN_CONFIDENCE = 0.80
SHORT_MIN_CONFIDENCE = 0.95
#: Confidence reported when the profile language decided: a choice, not evidence.
PRIOR_CONFIDENCE = 0.5
_PRIOR_SCRIPT = {"zh": "han", "ko": "hangul"}


@dataclass(frozen=True, slots=True)
class Detection:
    """``lang`` is None when the text is in no language of ours or has no
    letters. ``method``: 'script', 'classifier', 'prior', 'guess' (a low
    confidence best guess), 'unsupported-script' or 'no-letters'.
    ``scripts``: share of each script's letters, CJK counted double."""

    lang: str | None
    confidence: float
    method: str
    scripts: dict[str, float]


_identifier = None
_identifier_lock = threading.Lock()


def _load_identifier():
    """py3langid's model with only en, fr and ms kept. Built directly rather
    than with ``set_languages``, which keeps the 142-language table (28 MB)
    alive beside the restricted one. ``norm_probs`` gives probabilities that
    sum to 1 over the three languages."""
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    keep = [classes.index(lang) for lang in LATIN_LANGS]
    return LanguageIdentifier(np.ascontiguousarray(ptc[:, keep]), pc[keep], list(LATIN_LANGS),
                              nextmove, output, norm_probs=True, tk_row=row)


def latin_identifier():
    """The en/fr/ms identifier, loaded once (~1 s) on first use, thread-safe."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                _identifier = _load_identifier()
    return _identifier


def _latin_decision(masked: str, prior: str | None, prior_in_text: bool) -> tuple[str | None, float, str]:
    latin_only = "".join(" " if _script(c) not in (None, "latin") else c for c in masked)
    words = sum(1 for w in _WORD.findall(latin_only) if any(map(is_latin, w)))
    lang, conf = latin_identifier().rank(latin_only)[0]
    if conf >= (SHORT_MIN_CONFIDENCE if words <= 2 else MIN_CONFIDENCE):
        return lang, conf, "classifier"
    # The prior can only tell en/fr/ms apart if it is one of them, or if the
    # sender mixed in its script ("涂布机 tolong check" from a zh profile).
    if prior in LATIN_LANGS or prior_in_text:
        return prior, PRIOR_CONFIDENCE, "prior"
    return lang, conf, "guess"


def _decision(masked: str, weights: Counter[str], prior: str | None) -> tuple[str | None, float, str]:
    total = sum(weights.values())
    if not total:
        return (prior, PRIOR_CONFIDENCE, "prior") if prior else (None, 0.0, "no-letters")
    cjk = weights["han"] + weights["hangul"] + weights["kana"]
    latin, other = weights["latin"], weights["other"]
    if latin > max(cjk, other):  # ties go to CJK, then to other scripts
        return _latin_decision(masked, prior, weights[_PRIOR_SCRIPT.get(prior, "")] > 0)
    if other > cjk:
        return None, other / total, "unsupported-script"
    if weights["kana"] * 4 >= cjk and not weights["hangul"]:
        return None, cjk / total, "unsupported-script"  # Japanese
    # Korean may contain Hanja; Chinese never contains Hangul.
    return ("ko" if weights["hangul"] else "zh"), cjk / total, "script"


def detect_language(text: str, prior: str | None = None) -> Detection:
    """The language of a short message, with ``prior`` (the sender's profile
    language, ignored unless one of ours) deciding when the text cannot.
    Japanese (kana at least a quarter of the CJK letters: a stray "の" is
    Chinese chat slang) and other scripts are not ours: lang None."""
    prior = prior if prior in LANGS else None
    masked = _mask_non_words(text[:_DETECT_CHARS])
    weights = _letter_weights(masked)
    total = sum(weights.values())
    scripts = {script: w / total for script, w in weights.most_common()}
    return Detection(*_decision(masked, weights, prior), scripts)
