"""What a person gets for a photo: ``PhotoService``, shared by the bot, the
CLI and (later) the web app.

    service = PhotoService(storage, glossary, lambda: engine, tessdata=...)
    reading = await service.aread(data, who=user_id)          # OCR, off the loop
    report = await service.areport(reading, target="fr")      # translate, spot, fixes

The reading runs on one OCR thread (Tesseract is CPU-bound, and the warm
APIs are not thread-safe): one reading at a time per person, at most
``queue`` photos waiting in the process, a time cap per image. The report
then translates each line (engine as for chat messages: memory, models,
glossary terms enforced), or, with no model installed, lists the glossary
terms spotted and the pairs to install; spots the glossary concepts; and
finds the approved fixes of every alarm code read. When the reading is
unsure, the report says so and holds nothing else: nothing invented.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bot.knowledge.search import FixBase
from bot.translation.engine import MissingModelError, TranslationError
from glossary import Glossary

from .ocr import Line, Reader, Reading, tessdata_dir
from .prepare import ImageRefused

__all__ = ["ImageRefused", "PhotoBusy", "PhotoReport", "PhotoService", "UNSURE_BELOW"]

#: Below this mean confidence (0-100) the reading is not shown at all.
UNSURE_BELOW = 60.0
MAX_CONCEPTS = 8
#: Lines translated and shown (a page of small print is not what this is for).
MAX_LINES = 40
MAX_FIXES_PER_CODE = 3
#: Concept categories shown first: the machine and its alarm are what the
#: person needs; process words come after.
_FIRST = {"alarm": 1}


class PhotoBusy(RuntimeError):
    """``reason``: "yours" (this person's previous photo is being read) or
    "full" (the process queue is full)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class LineReport:
    line: Line
    translation: str | None = None  # None: not translated (no model, an error)
    provenance: str = ""  # memory | machine | glossary | unchanged
    route: str = ""
    terms: list[tuple[str, str]] = field(default_factory=list)  # (as read, target term)
    missing: list[tuple[str, str]] = field(default_factory=list)  # model pairs this line needs

    def to_json(self) -> dict:
        return {**self.line.to_json(), "translation": self.translation, "provenance": self.provenance,
                "route": self.route, "terms": [{"source": s, "target": t} for s, t in self.terms]}


@dataclass
class ConceptHit:
    concept_id: str
    key: int | None  # short key for buttons (Glossary.concept_key)
    label: str  # preferred term in the reader's language, else English
    category: str
    equipment: bool


@dataclass
class FixHit:
    id: int
    slug: str
    symptom: str
    lang: str


@dataclass
class CodeHit:
    code: str
    fixes: list[FixHit] = field(default_factory=list)


@dataclass
class PhotoReport:
    reading: Reading
    target: str
    unsure: bool
    lines: list[LineReport] = field(default_factory=list)
    concepts: list[ConceptHit] = field(default_factory=list)
    codes: list[CodeHit] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # model pairs to install

    @property
    def confidence(self) -> int:
        return round(self.reading.confidence)

    def to_json(self) -> dict:
        return {
            "target": self.target, "unsure": self.unsure, "confidence": self.confidence,
            "seconds": round(self.reading.seconds, 3), "timed_out": self.reading.timed_out,
            "lines": [line.to_json() for line in self.lines],
            "concepts": [c.concept_id for c in self.concepts],
            "codes": [c.code for c in self.codes],
            "fixes": [{"code": c.code, "id": f.id, "slug": f.slug} for c in self.codes for f in c.fixes],
            "missing_models": [f"{a}-{b}" for a, b in self.missing],
        }


class PhotoService:
    def __init__(self, storage, glossary: Glossary, engine: Callable[[], object] | None = None, *,
                 tessdata: Path | None = None, queue: int = 8, time_cap: float = 15.0):
        self.storage = storage
        self.glossary = glossary
        self._engine = engine  # built on first use: no model loads before a translation
        self.tessdata = Path(tessdata) if tessdata else tessdata_dir()
        self.queue = queue
        self.time_cap = time_cap
        self._reader = Reader(self.tessdata)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._busy: set = set()
        self._waiting = 0

    def available(self) -> bool:
        """The OCR models are installed (``make`` puts them in the virtualenv)."""
        return self._reader.available()

    # -- reading -------------------------------------------------------------
    def read(self, data: bytes, lang: str | None = None) -> Reading:
        """Synchronous (CLI); not to be called beside ``aread`` in one process."""
        return self._reader.read(data, lang, time_cap=self.time_cap)

    async def aread(self, data: bytes, who, lang: str | None = None) -> Reading:
        """Read on the OCR thread. Raises PhotoBusy when ``who`` already has a
        photo being read or the queue is full; ImageRefused for bad files."""
        with self._lock:
            if who in self._busy:
                raise PhotoBusy("yours")
            if self._waiting >= self.queue:
                raise PhotoBusy("full")
            self._busy.add(who)
            self._waiting += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="shopbot-ocr")
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.read, data, lang)
        finally:
            with self._lock:
                self._busy.discard(who)
                self._waiting -= 1

    # -- the report ----------------------------------------------------------
    def report(self, reading: Reading, target: str, *, translate: bool = True, user=None) -> PhotoReport:
        """Synchronous (CLI, tests): translations through ``engine.translate``."""
        report = PhotoReport(reading, target, unsure=_unsure(reading))
        if report.unsure:
            return report
        report.lines = [self._translate(line, target, translate) for line in reading.lines[:MAX_LINES]]
        self._lookups(report, user)
        return report

    async def areport(self, reading: Reading, target: str, *, translate: bool = True,
                      user=None) -> PhotoReport:
        report = PhotoReport(reading, target, unsure=_unsure(reading))
        if report.unsure:
            return report
        for line in reading.lines[:MAX_LINES]:
            report.lines.append(await self._atranslate(line, target, translate))
        await self.storage.arun(self._lookups, report, user)
        return report

    def _translate(self, line: Line, target: str, translate: bool) -> LineReport:
        if not translate:
            return LineReport(line)
        try:
            result = self._engine().translate(line.text, target, source=line.lang or None)
        except TranslationError as exc:
            return _untranslated(line, exc)
        return _filled(LineReport(line), result)

    async def _atranslate(self, line: Line, target: str, translate: bool) -> LineReport:
        if not translate:
            return LineReport(line)
        try:
            result = await self._engine().atranslate(line.text, target, source=line.lang or None)
        except TranslationError as exc:
            return _untranslated(line, exc)
        return _filled(LineReport(line), result)

    def _lookups(self, report: PhotoReport, user) -> None:
        """Concepts, codes and fixes (SQLite reads: a reader thread in the bot)."""
        missing = [pair for line in report.lines for pair in line.missing]
        report.missing = list(dict.fromkeys(missing))
        text = report.reading.text
        ids = list(dict.fromkeys(cid for spot in self.glossary.spot(text) for cid in spot.concept_ids))
        concepts = [c for cid in ids if (c := self.glossary.concept(cid)) is not None]
        concepts.sort(key=lambda c: (not c.equipment, -_FIRST.get(c.category, 0)))
        for concept in concepts[:MAX_CONCEPTS]:
            term = concept.preferred(report.target) or concept.preferred("en")
            report.concepts.append(ConceptHit(concept.id, self.glossary.concept_key(concept.id),
                                              term.text if term else concept.id, concept.category,
                                              concept.equipment))
        base = FixBase(self.storage, self.glossary)
        for code in report.reading.codes[:10]:
            hit = CodeHit(code)
            for r in base.search(code, report.target, MAX_FIXES_PER_CODE * 2, user=user):
                # Only fixes that carry this very code: a fix found by its
                # number alone (code-number) may be another machine's alarm.
                if any(reason.startswith("code:") for reason in r.reasons):
                    hit.fixes.append(FixHit(r.id, r.slug, r.symptom, r.lang))
            hit.fixes = hit.fixes[:MAX_FIXES_PER_CODE]
            report.codes.append(hit)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._reader.close()


def _unsure(reading: Reading) -> bool:
    return not reading.lines or reading.confidence < UNSURE_BELOW


def _untranslated(line: Line, exc: TranslationError) -> LineReport:
    """A line the engine could not translate: with no model, the glossary
    terms it spotted and the pairs to install; otherwise the text alone."""
    out = LineReport(line)
    if isinstance(exc, MissingModelError):
        out.terms = [(t.source, t.target) for t in exc.terms]
        out.missing = list(exc.pairs)
    return out


def _filled(out: LineReport, result) -> LineReport:
    out.translation = result.text
    out.provenance = result.provenance
    out.route = result.route_text
    out.terms = [(t.source, t.target) for t in result.terms]
    return out
