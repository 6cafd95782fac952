"""Recognition: Tesseract (tesserocr, warm APIs) on the lines ``prepare`` found.

Each line is read on its own (page segmentation "single line"): a screen's
frames, icons and two columns no longer confuse Tesseract's layout analysis,
and a screen that mixes Chinese and English lines gets each in its script.

Language unknown: a line is read with the script families in turn
(``eng+fra+msa``, ``chi_sim+eng``, ``kor+eng``; the family that won the
previous line first) until one is sure of it (mean word confidence ≥
``SURE``), else the most confident is kept. Alarm codes are read again with
the Latin family alone, since the Korean model turns E1203 into £1203.

Not thread-safe: one ``Reader`` is used by one thread at a time (the
service's OCR thread).
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from .prepare import prepare

#: Script families tried when the language is unknown, and the family read
#: for each known language.
LATIN, CHINESE, KOREAN = "eng+fra+msa", "chi_sim", "kor+eng"
FAMILIES = (LATIN, CHINESE, KOREAN)
FAMILY_OF = {"zh": CHINESE, "ko": KOREAN, "fr": LATIN, "ms": LATIN, "en": LATIN}
MODELS = ("chi_sim", "kor", "fra", "msa", "eng")
#: A line read at or above this mean confidence needs no other family.
SURE = 80.0
#: Lines below this confidence are dropped as noise (frames, icons, glare).
KEEP = 50.0
#: How many confidence points a line may lose to stay in the page's family.
PAGE_BIAS = 15.0

# An alarm or error code: letters then digits (E1203, AL-045, ALM-0733,
# TMP-H01, E-RF02). At least two digits, so that words are not codes.
CODE_RE = re.compile(r"(?<![A-Za-z0-9])([A-Z]{1,4}(?:-[A-Z]{1,3})?-?[0-9][0-9A-Z]{1,5})(?![A-Za-z0-9])")


def is_code(text: str) -> bool:
    return bool(CODE_RE.fullmatch(text)) and sum(c.isdigit() for c in text) >= 2


def tessdata_dir() -> Path:
    """Where ``make`` put the models: the virtualenv's share/tessdata."""
    import sys

    return Path(sys.prefix) / "share" / "tessdata"


def missing_models(path: Path) -> list[str]:
    return [m for m in MODELS if not (path / f"{m}.traineddata").is_file()]


@dataclass
class Line:
    text: str
    lang: str  # zh ko fr ms en
    confidence: float  # 0-100
    box: tuple[int, int, int, int]  # left, top, right, bottom in the photo's pixels (upright)
    family: str = ""

    def to_json(self) -> dict:
        out = asdict(self)
        out["confidence"] = round(self.confidence, 1)
        out["box"] = list(self.box)
        del out["family"]
        return out


@dataclass
class Reading:
    lines: list[Line] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    confidence: float = 0.0  # mean over the characters kept, 0-100
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in "WF"


def _script_lang(text: str) -> str:
    """zh / ko by script; Latin lines are told apart later (en, fr, ms)."""
    hangul = sum(1 for c in text if "\uac00" <= c <= "\ud7a3" or "\u1100" <= c <= "\u11ff")
    han = sum(1 for c in text if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf")
    if hangul or han:
        return "ko" if hangul >= han else "zh"
    return ""


_EDGE_JUNK = re.compile(r"^[\s|!_~`'\"“”‘’.,:;ㆍ·•—–\-=()\[\]{}「」『』<>«»\\/]+|[\s|!_~`'\"“”‘’.,:;ㆍ·•—–\-=()\[\]{}「」『』<>«»\\/]+$")


class Reader:
    """Warm Tesseract APIs, one per family, loaded on first use."""

    def __init__(self, tessdata: Path | None = None):
        self.tessdata = Path(tessdata) if tessdata else tessdata_dir()
        self._apis: dict[str, object] = {}
        self._pages: dict[str, Image.Image] = {}

    def available(self) -> bool:
        return not missing_models(self.tessdata)

    def _api(self, family: str):
        api = self._apis.get(family)
        if api is None:
            from tesserocr import PSM, PyTessBaseAPI

            missing = missing_models(self.tessdata)
            if missing:
                raise FileNotFoundError(
                    f"OCR models missing in {self.tessdata}: {', '.join(missing)} (run make install)")
            api = PyTessBaseAPI(path=str(self.tessdata), lang=family, psm=PSM.SINGLE_LINE)
            self._apis[family] = api
        return api

    def close(self) -> None:
        for api in self._apis.values():
            api.End()
        self._apis.clear()
        self._pages.clear()

    # -- reading -------------------------------------------------------------
    def read(self, data: bytes, lang: str | None = None, *, time_cap: float = 10.0) -> Reading:
        """Read a photo's text. ``lang``: the screen's language if known
        (zh ko fr ms en), else every script family is tried.

        Raises ``prepare.ImageRefused`` for what is not a photo we read."""
        started = time.monotonic()
        deadline = started + time_cap
        page, boxes, scale = prepare(data)
        order = [FAMILY_OF[lang]] if lang in FAMILY_OF else list(FAMILIES)
        reading = Reading()
        tried: list[dict[str, list]] = []  # per line: family → words
        for box in boxes:
            if time.monotonic() > deadline:
                reading.timed_out = True
                break
            readings: dict[str, list] = {}
            for family in order:
                readings[family] = self._line(page, box, family, deadline)
                if _mean_conf(readings[family]) >= SURE:
                    break
            best = max(readings, key=lambda f: _mean_conf(readings[f]))
            if len(order) > 1 and best != order[0]:  # the next line tries it first
                order.remove(best)
                order.insert(0, best)
            tried.append(readings)
        # A screen is in one script, mostly: a line that the page's family
        # reads nearly as confidently as another family goes to the page's
        # (Latin models read a short Chinese title as confident garbage).
        page_family = _page_family(tried)
        for box, readings in zip(boxes, tried):
            family = max(readings, key=lambda f: _mean_conf(readings[f]))
            if page_family and family != page_family and time.monotonic() < deadline:
                if page_family not in readings:
                    readings[page_family] = self._line(page, box, page_family, deadline)
                if _mean_conf(readings[page_family]) >= _mean_conf(readings[family]) - PAGE_BIAS:
                    family = page_family
            words = _trim_edges(readings[family])
            conf = _mean_conf(words)
            text = _clean(_join(words, family))
            if conf < KEEP or _noise(text):
                continue
            if family in (KOREAN, CHINESE):
                text = self._latin_codes(page, box, text, deadline)
            left, top, right, bottom = box
            reading.lines.append(Line(
                text=text, lang=_script_lang(text) or lang or "", confidence=conf,
                box=tuple(round(v / scale) for v in (left, top, right, bottom)), family=family))
        _latin_languages(reading.lines, lang)
        reading.codes = list(dict.fromkeys(m for line in reading.lines for m in codes_in(line.text)))
        chars = sum(len(line.text) for line in reading.lines)
        reading.confidence = (sum(line.confidence * len(line.text) for line in reading.lines) / chars
                              if chars else 0.0)
        reading.seconds = time.monotonic() - started
        return reading

    def _line(self, page: Image.Image, box, family: str, deadline: float) -> list[tuple[str, float, tuple]]:
        """The words of one line: (text, confidence, box). Korean words are
        re-cut from the gaps between syllables (Tesseract's Korean model
        splits and glues words freely; its syllable boxes are accurate)."""
        from tesserocr import RIL, iterate_level

        api = self._api(family)
        if self._pages.get(family) is not page:  # SetImage copies the page: once per family
            api.SetImage(page)
            self._pages[family] = page
        left, top, right, bottom = box
        api.SetRectangle(left, top, right - left, bottom - top)
        budget_ms = max(50, int((deadline - time.monotonic()) * 1000))
        if not api.Recognize(timeout=budget_ms):
            return []
        symbols = []
        for symbol in iterate_level(api.GetIterator(), RIL.SYMBOL):
            try:
                text = (symbol.GetUTF8Text(RIL.SYMBOL) or "").strip()
            except RuntimeError:  # "No text returned": an empty symbol
                continue
            if text:
                # The word's confidence: a symbol's own is high even in garbage.
                symbols.append((text, symbol.Confidence(RIL.WORD), symbol.BoundingBox(RIL.SYMBOL),
                                symbol.IsAtBeginningOf(RIL.WORD)))
        return _words(symbols, korean=family == KOREAN)

    def _latin_codes(self, page, box, text: str, deadline: float) -> str:
        """Read the line again with the Latin family and put its codes in
        place of the CJK model's garbled ones (same digits)."""
        if not re.search(r"\d", text):
            return text
        latin = _join(self._line(page, box, LATIN, deadline), LATIN)
        for code in codes_in(latin):
            if code in text:
                continue
            digits = re.sub(r"\D", "", code)
            # the token of the CJK reading holding the same digits
            pattern = re.compile(r"[^\s\u3400-\u9fff\uac00-\ud7a3]*" + r"\D?".join(digits)
                                 + r"[^\s\u3400-\u9fff\uac00-\ud7a3]*")
            match = pattern.search(text)
            if match:
                text = text[:match.start()] + code + text[match.end():]
        return text


def codes_in(text: str) -> list[str]:
    # O read for 0 inside a code's digits is Tesseract's commonest slip (TMP-HO1).
    out = []
    for m in CODE_RE.finditer(text):
        code = m.group(1)
        if is_code(code):
            out.append(code)
    return out


def _fix_code_letters(text: str) -> str:
    """Inside code-like tokens, O between or after digits is a zero (TMP-HO1 → TMP-H01)."""
    def fix(m: re.Match) -> str:
        token = m.group(0)
        head, _, tail = token.rpartition("-")
        body = tail if head else token
        fixed = re.sub(r"(?<=[0-9A-Z])O(?=[0-9O]*$)", "0", body) if re.search(r"\d", body) else body
        return f"{head}-{fixed}" if head else fixed
    return re.sub(r"(?<![A-Za-z0-9])[A-Z]{1,4}(?:-[A-Z]{1,3})?-?[0-9A-Z]*\d[0-9A-Z]*(?![A-Za-z0-9])", fix, text)


def _hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3"


def _words(symbols, korean: bool) -> list[tuple[str, float, tuple]]:
    """Group symbols into words: Tesseract's word starts, except around
    Hangul in a Korean reading, where a gap over a third of the syllable
    height is a space and a smaller one is not."""
    if not symbols:
        return []
    heights = sorted(b[3] - b[1] for _t, _c, b, _s in symbols)
    gap_min = heights[len(heights) // 2] / 3
    groups: list[list] = []
    previous = None
    for symbol in symbols:
        text, _conf, box, starts = symbol
        if previous is None:
            groups.append([symbol])
        else:
            if korean and (_hangul(previous[0][-1]) or _hangul(text[0])):
                split = box[0] - previous[2][2] > gap_min
            else:
                split = starts
            if split:
                groups.append([symbol])
            else:
                groups[-1].append(symbol)
        previous = symbol
    words = []
    for group in groups:
        text = "".join(t for t, _c, _b, _s in group)
        conf = sum(c for _t, c, _b, _s in group) / len(group)
        box = (min(b[0] for _t, _c, b, _s in group), min(b[1] for _t, _c, b, _s in group),
               max(b[2] for _t, _c, b, _s in group), max(b[3] for _t, _c, b, _s in group))
        words.append((text, conf, box))
    return words


def _page_family(tried: list[dict[str, list]]) -> str | None:
    """The family that won the most characters over the confident lines."""
    chars: dict[str, int] = {}
    for readings in tried:
        family = max(readings, key=lambda f: _mean_conf(readings[f]))
        if _mean_conf(readings[family]) >= SURE:
            chars[family] = chars.get(family, 0) + sum(len(t) for t, _c, _b in readings[family])
    return max(chars, key=chars.get) if chars else None


def _trim_edges(words):
    """A lone Latin letter or digit read with low confidence at either end
    of a line: the edge of a button or a frame."""
    words = list(words)
    while len(words) > 1 and len(words[-1][0]) == 1 and not _wide(words[-1][0]) and words[-1][1] < 75:
        words.pop()
    while len(words) > 1 and len(words[0][0]) == 1 and not _wide(words[0][0]) and words[0][1] < 75:
        words.pop(0)
    return words


def _mean_conf(words) -> float:
    chars = sum(len(t) for t, _c, _b in words)
    return sum(c * len(t) for t, c, _b in words) / chars if chars else 0.0


def _join(words, family: str = LATIN) -> str:
    """Words joined with a space, except between Chinese characters:
    Tesseract splits Chinese into single-character 'words', and its boxes
    are too loose to tell a real space from the gap between two characters."""
    if not words:
        return ""
    text = words[0][0]
    for (prev, _c1, _b1), (word, _c2, _b2) in zip(words, words[1:]):
        han = family == CHINESE and _wide(prev[-1]) and _wide(word[0])
        text += word if han else " " + word
    return text


def _noise(text: str) -> bool:
    """What frames, icons and button edges leave: one or two Latin letters,
    a lone character, punctuation."""
    letters = [c for c in text if c.isalnum()]
    if not letters:
        return True
    if any(_wide(c) for c in letters):
        return len(letters) < 2
    return len(letters) <= 2 and not any(c.isdigit() for c in letters)


def _clean(text: str) -> str:
    text = _EDGE_JUNK.sub("", text)
    # A lone capital at either end, beside a word: the edge of a button.
    text = re.sub(r"^[A-Z]\s+(?=\w{3})|(?<=\w{3})\s+[A-Z]$", "", text)
    return _fix_code_letters(text)


def _latin_languages(lines: list[Line], lang: str | None) -> None:
    """Latin lines: fr, ms or en, judged on all the Latin text of the photo
    together (a single line is too short to tell)."""
    latin = [line for line in lines if not line.lang or line.lang not in ("zh", "ko")]
    if not latin:
        return
    if lang in ("fr", "ms", "en"):
        guess = lang
    else:
        from bot.translation.text import detect_language

        sample = " ".join(CODE_RE.sub(" ", line.text) for line in latin)
        guess = detect_language(sample).lang or "en"
        if guess in ("zh", "ko"):
            guess = "en"
    for line in latin:
        line.lang = guess
