"""The figures of the lead's dashboard (``/dashboard``) and of ``shopbot
stats``: one function, ``figures(db, period)``, read by both, so the page
and the command line always agree.

What each figure counts (README: The dashboard):

* lookups and translations per day, by language: the usage counters
  (``bot.insight.usage``), written by the bot and the web app;
* fix searches per day, top searches, searches with no answer: the fix
  search log (``fix_search``; searches made by people, not by the CLI) and
  the glossary's missing-term log (``missing_query``);
* most useful fixes: the "it worked" / "it did not" votes cast in the
  period, ranked as the search ranks them (Wilson lower bound);
* glossary coverage: concepts with a preferred term in each language, now;
* review progress per language: concepts a speaker marked reviewed (``concept_review``), now;
* translation-memory growth: units created in the period, by origin, and
  the total (units deleted since are not counted: the table keeps no trace).

Days are UTC days, as every timestamp in the database.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone

import sqlite_utils

from bot.knowledge.search import wilson
from bot.translation.memory import ORIGINS
from glossary.model import LANGS
from glossary.store import review_progress as glossary_review_progress
from glossary.store import stats as glossary_stats

from .usage import LOOKUP, TRANSLATION

DEFAULT_DAYS = 30
MAX_DAYS = 366
#: Longer periods are shown per week (Monday to Sunday): 366 bars would not read.
DAILY_UP_TO = 62
TOP = 10

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only: \d takes "٢٠٢٦"

# The reasons a period is refused: msgids, translated by the web page.
BAD_DATE = "These dates could not be read: write them as YYYY-MM-DD."
REVERSED = "The period ends before it starts."
TOO_LONG = "A period can be at most {days} days long."


class PeriodError(ValueError):
    def __init__(self, msgid: str, **values):
        super().__init__(msgid.format(**values))
        self.msgid = msgid
        self.values = values


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # included

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def weekly(self) -> bool:
        return self.days > DAILY_UP_TO

    def buckets(self) -> list[date]:
        """The first day of each bar: every day, or every week's Monday
        (the first one clipped to the start)."""
        if not self.weekly:
            return [self.start + timedelta(days=i) for i in range(self.days)]
        first = self.start - timedelta(days=self.start.weekday())
        out = [self.start]
        monday = first + timedelta(days=7)
        while monday <= self.end:
            out.append(monday)
            monday += timedelta(days=7)
        return out

    def bucket_of(self, day: date) -> date:
        if not self.weekly:
            return day
        return max(self.start, day - timedelta(days=day.weekday()))

    def bounds(self) -> tuple[str, str]:
        """[start, end + 1 day) as the ISO text the timestamps are compared with."""
        return self.start.isoformat(), (self.end + timedelta(days=1)).isoformat()


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def _parse_date(text: str) -> date:
    if len(text) != 10 or not _DATE.fullmatch(text):
        raise PeriodError(BAD_DATE)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(BAD_DATE) from None


def parse_period(start: str | None = None, end: str | None = None, *, today: date | None = None) -> Period:
    """The period asked for (``YYYY-MM-DD``, either may be empty): by default
    the last 30 days to today. Refused (``PeriodError``): another form, a
    start after the end, more than ``MAX_DAYS`` days."""
    start = (start or "").strip()
    end = (end or "").strip()
    last = _parse_date(end) if end else (today or utc_today())
    first = _parse_date(start) if start else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise PeriodError(REVERSED)
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(TOO_LONG, days=MAX_DAYS)
    return Period(first, last)


@dataclass
class Series:
    """Counts per bar (``labels``: each bar's first day) and per group
    (a language, or a translation-memory origin)."""

    labels: list[str]
    groups: dict[str, list[int]]

    @property
    def totals(self) -> list[int]:
        return [sum(col) for col in zip(*self.groups.values())] if self.groups else [0] * len(self.labels)

    @property
    def total(self) -> int:
        return sum(self.totals)

    def rows(self) -> list[tuple[str, list[int], int]]:
        """(label, the groups' counts, total) per bar: the table beside the chart."""
        return [(label, [g[i] for g in self.groups.values()], total)
                for i, (label, total) in enumerate(zip(self.labels, self.totals))]


@dataclass
class Coverage:
    lang: str
    concepts: int
    with_preferred: int
    reviewed: int  # concepts a speaker marked reviewed in this language

    @property
    def percent(self) -> float:
        return round(100 * self.with_preferred / self.concepts, 1) if self.concepts else 0.0

    @property
    def reviewed_percent(self) -> float:
        return round(100 * self.reviewed / self.concepts, 1) if self.concepts else 0.0


@dataclass
class UsefulFix:
    id: int
    slug: str
    worked: int
    failed: int
    score: float  # Wilson lower bound of the worked share, 0-1


@dataclass
class Figures:
    start: str
    end: str
    unit: str  # day | week
    lookups: Series
    translations: Series
    fix_searches: Series
    top_searches: list[tuple[str, int]]
    missing_terms: list[tuple[str, int]]  # glossary lookups that found nothing
    unanswered_fixes: list[tuple[str, int]]  # fix searches that found nothing
    useful_fixes: list[UsefulFix]
    coverage: list[Coverage]
    memory: Series  # units created per bar, by origin
    memory_before: int  # units that existed before the period
    memory_total: int  # units now
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def memory_running(self) -> list[int]:
        """Units in the memory at the end of each bar (created since, minus none:
        deletions leave no trace)."""
        running, out = self.memory_before, []
        for added in self.memory.totals:
            running += added
            out.append(running)
        return out

    def to_json(self) -> dict:
        out = asdict(self)
        out["memory_running"] = self.memory_running
        for name in ("lookups", "translations", "fix_searches", "memory"):
            series: Series = getattr(self, name)
            out[name]["totals"] = series.totals
        for item, cov in zip(out["coverage"], self.coverage):
            item["percent"] = cov.percent
            item["reviewed_percent"] = cov.reviewed_percent
        for key in ("top_searches", "missing_terms", "unanswered_fixes"):
            out[key] = [{"query": q, "count": n} for q, n in out[key]]
        return out


def _per_bucket(period: Period, rows, groups: tuple[str, ...]) -> Series:
    """Sum (day, group, n) rows into the period's bars."""
    buckets = period.buckets()
    index = {b: i for i, b in enumerate(buckets)}
    counts = {g: [0] * len(buckets) for g in groups}
    for day, group, n in rows:
        try:
            bucket = period.bucket_of(date.fromisoformat(day))
        except (TypeError, ValueError):
            continue
        if group in counts and bucket in index:
            counts[group][index[bucket]] += n
    return Series([b.isoformat() for b in buckets], counts)


def _usage(db: sqlite_utils.Database, period: Period, kind: str) -> Series:
    rows = db.execute("SELECT day, lang, n FROM usage_count WHERE kind = ? AND day >= ? AND day <= ?",
                      [kind, period.start.isoformat(), period.end.isoformat()]).fetchall()
    return _per_bucket(period, rows, LANGS)


def _desc(text: str) -> tuple[int, ...]:
    """A sort key that orders ISO timestamps latest first."""
    return tuple(-ord(c) for c in text)


def review_progress(db: sqlite_utils.Database) -> dict[str, int]:
    """Concepts marked reviewed by a speaker, per language (the glossary
    editor's review state, ``concept_review``)."""
    return {lang: row["reviewed"] for lang, row in glossary_review_progress(db).items()}


def figures(db: sqlite_utils.Database, period: Period) -> Figures:
    """Every figure of the dashboard for ``period`` (see the module's docstring)."""
    since, until = period.bounds()
    searches = db.execute(
        "SELECT substr(at, 1, 10), lang, count(*) FROM fix_search "
        "WHERE at >= ? AND at < ? AND user_id IS NOT NULL GROUP BY 1, 2", [since, until]).fetchall()
    # One pass for the top and the unanswered searches (a year of a busy
    # plant's log is hundreds of thousands of rows).
    asked = db.execute(
        "SELECT max(query), count(*), sum(results = 0), max(at) FROM fix_search "
        "WHERE at >= ? AND at < ? AND user_id IS NOT NULL GROUP BY norm", [since, until]).fetchall()
    top = [(q, n) for q, n, _, _ in heapq.nsmallest(TOP, asked, key=lambda r: (-r[1], _desc(r[3])))]
    unanswered = [(q, z) for q, _, z, _ in heapq.nsmallest(
        TOP, (r for r in asked if r[2]), key=lambda r: (-r[2], _desc(r[3])))]
    missing = [(q, n) for q, n in db.execute(
        "SELECT max(query), count(*) AS n FROM missing_query WHERE at >= ? AND at < ? "
        "GROUP BY norm ORDER BY n DESC, max(at) DESC LIMIT ?", [since, until, TOP])]

    votes = db.execute(
        "SELECT f.id, f.slug, sum(v.worked), sum(1 - v.worked) FROM fix_feedback v JOIN fix f ON f.id = v.snippet_id "
        "WHERE v.at >= ? AND v.at < ? AND f.status = 'approved' GROUP BY f.id", [since, until]).fetchall()
    useful = sorted((UsefulFix(i, slug, w, f, round(wilson(w, f), 3)) for i, slug, w, f in votes if w > 0),
                    key=lambda u: (-u.score, -u.worked, u.id))[:TOP]

    gstats = glossary_stats(db)
    reviewed = review_progress(db)
    coverage = [Coverage(lang, gstats.concepts, gstats.concepts - gstats.missing_by_lang[lang],
                         reviewed.get(lang, 0)) for lang in LANGS]

    created = db.execute("SELECT substr(created_at, 1, 10), origin, count(*) FROM tm_unit "
                         "WHERE created_at >= ? AND created_at < ? GROUP BY 1, 2", [since, until]).fetchall()
    before = db.execute("SELECT count(*) FROM tm_unit WHERE created_at < ?", [since]).fetchone()[0]
    total = db.execute("SELECT count(*) FROM tm_unit").fetchone()[0]

    result = Figures(
        start=period.start.isoformat(), end=period.end.isoformat(), unit="week" if period.weekly else "day",
        lookups=_usage(db, period, LOOKUP), translations=_usage(db, period, TRANSLATION),
        fix_searches=_per_bucket(period, searches, LANGS),
        top_searches=top, missing_terms=missing, unanswered_fixes=unanswered, useful_fixes=useful,
        coverage=coverage,
        memory=_per_bucket(period, created, ORIGINS), memory_before=before, memory_total=total)
    result.totals = {
        "lookups": result.lookups.total, "translations": result.translations.total,
        "fix_searches": result.fix_searches.total,
        "missing_terms": db.execute("SELECT count(*) FROM missing_query WHERE at >= ? AND at < ?",
                                    [since, until]).fetchone()[0],
        "memory_added": result.memory.total,
    }
    return result
