"""Finding fixes: the search, the cards the bot shows, and ``FixBase``, the
service the bot and the CLI use for reads, search and the multi-step
operations (approve, then machine-translate). The fixes themselves (what a
fix is, its states and who may change them) are in ``bot.knowledge.fixes``.

    FixBase(storage, glossary, engine).approve(fix_id, 7)   # approved + fr/en/ms/ko texts
    FixBase(storage, glossary).search("enduiseuse alarme tension", "fr")
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from itertools import groupby
from typing import Any

from glossary.model import LANGS
from glossary.normalize import normalize, scrub
from glossary.store import stats as glossary_stats

from .fixes import (MAX_QUERY, STATUSES, Actor, FixError, FixNotFound, FixText, Photo,
                    add_machine_texts, approve, clean_text, concepts_in, fix_row, fold_code,
                    is_cjk, load_fix, load_texts, log_search)
from bot.translation.engine import TranslationError

log = logging.getLogger(__name__)

# Scores only order results; reasons tell the reader (and the tests) why.
#   code        an alarm code of the query, folded (E-203 = e203)    1000 each
#   code-number the query's number is a stored code's number (203)    300
#   equipment   a query word is, in any language, the fix's machine    60 per concept
#   mentions    ... or a concept its texts mention, in any language    25 per concept
#   text        full-text (trigram) over every language, for the words
#               the glossary does not know; bm25                       0-40
# Feedback (Wilson lower bound of worked votes) only breaks ties between
# results whose score rounds to the same integer: it never lifts a fix above a
# better match.

W_CODE, W_DIGITS, W_EQUIPMENT, W_MENTION, W_TEXT = 1000.0, 300.0, 60.0, 25.0, 40.0
FTS_COMMON = 500
COMMON_MENTIONS = 1000
COMMON_CHECKED = 2000  # the best-scored fixes a very common concept is checked on
_CODE_Q = re.compile(r"(?<![a-z0-9])([a-z]{1,5}[-_./ ]?\d{1,6}[a-z0-9]*|\d{3,6})(?![a-z0-9])")
_WORD = re.compile(r"[^\W_]+")


@dataclass
class FixResult:
    id: int
    slug: str
    equipment: str
    codes: list[str]
    status: str
    lang: str  # the language of the text below
    original_lang: str
    kind: str  # original | machine | verified
    in_reader_lang: bool  # False: the reader's language has no text yet; this is the original
    symptom: str
    cause: str
    steps: list[str]
    safety: list[str]
    score: float
    reasons: list[str]
    worked: int
    failed: int

    def to_json(self) -> dict:
        return {**asdict(self), "score": round(self.score, 1)}


@dataclass
class FixCard(FixResult):
    photos: list[Photo] = field(default_factory=list)
    versions: int = 0
    langs: dict[str, str] = field(default_factory=dict)  # lang → kind
    author: str = ""
    sample: bool = False
    reject_reason: str | None = None


def wilson(worked: int, failed: int, z: float = 1.96) -> float:
    """Lower bound of the 95% interval of the share of 'worked' votes: two
    votes out of two weigh less than 40 out of 45."""
    n = worked + failed
    if n == 0:
        return 0.0
    p = worked / n
    return (p + z * z / (2 * n) - z * math.sqrt((p * (1 - p) + z * z / (4 * n)) / n)) / (1 + z * z / n)


def query_codes(norm: str) -> list[str]:
    return list(dict.fromkeys(fold_code(m) for m in _CODE_Q.findall(norm)))


def _words(norm: str) -> list[str]:
    """Words, with CJK runs cut from Latin ones (E203报警 → e203, 报警)."""
    out = []
    for word in _WORD.findall(norm):
        out += ["".join(g) for _, g in groupby(word, key=is_cjk)]
    return out


def fts_tokens(words: list[str]) -> list[str]:
    """What trigram full-text search can look for: Latin words of 3+
    letters, and each 3-character window of a CJK run (Chinese has no spaces)."""
    tokens: list[str] = []
    for word in words:
        if is_cjk(word[0]):
            tokens += [word[i:i + 3] for i in range(len(word) - 2)]
        elif len(word) >= 3:
            tokens.append(word)
    return list(dict.fromkeys(tokens))[:12]


def _quote(token: str) -> str:
    """An FTS5 string: user text can never be FTS syntax ("" escapes a quote)."""
    return '"' + token.replace('"', '""') + '"'


class FixBase:
    """Reads, search and multi-step operations over the fixes of one storage."""

    def __init__(self, storage, glossary, engine=None):
        self.storage = storage
        self.glossary = glossary
        self.engine = engine

    # -- search --------------------------------------------------------------
    def search(self, query: str, lang: str | None = None, limit: int = 10, *,
               user: Actor | None = None) -> list[FixResult]:
        """Approved fixes for ``query``, best first (see the table above)."""
        results = self._search(query, lang, limit)
        # The log is queued, not awaited: an answer never waits for an fsync.
        if isinstance(query, str) and query.strip():
            future = self.storage.defer(log_search, scrub(query), lang, len(results), user)
            future.add_done_callback(_log_failure)
        return results

    async def asearch(self, query: str, lang: str | None = None, limit: int = 10, *,
                      user: Actor | None = None) -> list[FixResult]:
        return await self.storage.arun(lambda: self.search(query, lang, limit, user=user))

    def _search(self, query: Any, lang: str | None, limit: int) -> list[FixResult]:
        if not isinstance(query, str) or lang not in (None, *LANGS):
            return []
        norm = normalize(query[: 4 * MAX_QUERY])[:MAX_QUERY]
        if not norm.strip() or limit < 1:
            return []
        db = self.storage.conn()
        scores: dict[int, float] = {}
        reasons: dict[int, list[str]] = {}

        def add(fix_id: int, points: float, reason: str) -> None:
            scores[fix_id] = scores.get(fix_id, 0.0) + points
            reasons.setdefault(fix_id, []).append(reason)

        concepts, words = self.understand(query[: 4 * MAX_QUERY])
        self._match_codes(db, norm, add)
        common, scored = self._match_concepts(db, concepts, add)
        self._match_text(db, words, add)
        best = sorted(scores, key=scores.__getitem__, reverse=True)[:COMMON_CHECKED]
        self._match_common(db, common, scored, best, add)
        if len(scores) < limit:  # a scan: only when the indexes found too little
            self._match_pairs(db, words, add)
        if not scores:
            return []
        ranked = self._rank(db, scores, limit)
        return [self._result(db, fix_id, lang, scores[fix_id], reasons[fix_id]) for fix_id in ranked]

    # The joins below say CROSS JOIN: it makes SQLite read the few matching
    # rows first and check each one's status, instead of walking every
    # approved fix through the status index (no ANALYZE statistics here).

    @staticmethod
    def _match_codes(db, norm: str, add) -> None:
        codes = query_codes(norm)[:10]
        if not codes:
            return
        marks = ",".join("?" * len(codes))
        exact = set()
        for code, fix_id in db.execute(
                f"SELECT c.code, c.snippet_id FROM fix_code c CROSS JOIN fix f ON f.id = c.snippet_id "
                f"WHERE c.code IN ({marks}) AND f.status = 'approved'", codes):
            exact.add(fix_id)
            add(fix_id, W_CODE, f"code:{code}")
        numbers = [c for c in codes if c.isdigit()] + [re.sub(r"\D", "", c).lstrip("0") for c in codes]
        numbers = list(dict.fromkeys(n for n in numbers if n))
        if numbers:
            marks = ",".join("?" * len(numbers))
            for code, fix_id in db.execute(
                    f"SELECT c.code, c.snippet_id FROM fix_code c CROSS JOIN fix f ON f.id = c.snippet_id "
                    f"WHERE c.digits IN ({marks}) AND f.status = 'approved'", numbers):
                if fix_id not in exact:
                    add(fix_id, W_DIGITS, f"code-number:{code}")

    def understand(self, query: str) -> tuple[set[str], list[str]]:
        """The concepts a query names, in any language, and the words left
        for full-text search. Spotted terms first; then each remaining word
        is looked up in the glossary (typos, pinyin, Traditional...)."""
        spots = self.glossary.spot(query)
        # Deprecated spellings count: people type them, that is why they are kept.
        concepts = concepts_in(self.glossary.spot, query)
        rest = list(query)
        for spot in spots:
            rest[spot.start:spot.end] = " " * (spot.end - spot.start)
        leftover = []
        for word in _words(normalize("".join(rest)))[:12]:
            hits = []
            if not word.isdigit() and (len(word) >= 3 or not word.isascii()):
                hits = [h for h in self.glossary.search(word, limit=3) if h.score >= 80]
            concepts.update(h.concept.id for h in hits)
            if not hits:
                leftover.append(word)
        return concepts, leftover

    @staticmethod
    def _match_concepts(db, concepts: set[str], add) -> tuple[list[str], set]:
        """Fixes about (equipment) or mentioning the concepts. A concept
        mentioned by more than COMMON_MENTIONS fixes ("fault", "replace")
        is not enumerated here (scoring 20,000 fixes costs more than the
        whole search should): returns those, and the (fix, concept) pairs
        scored, for ``_match_common``."""
        concepts = sorted(concepts)[:20]
        if not concepts:
            return [], set()
        marks = ",".join("?" * len(concepts))
        best: dict[tuple[int, str], tuple[float, str]] = {}
        for fix_id, concept in db.execute(
                f"SELECT id, equipment FROM fix WHERE equipment IN ({marks}) AND status = 'approved'",
                concepts):
            best[(fix_id, concept)] = (W_EQUIPMENT, f"equipment:{concept}")
        common = [c for c in concepts if db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM fix_concept WHERE concept_id = ? LIMIT ?)",
            [c, COMMON_MENTIONS + 1]).fetchone()[0] > COMMON_MENTIONS]
        rare = [c for c in concepts if c not in common]
        if rare:
            for concept, fix_id in db.execute(
                    f"SELECT c.concept_id, c.snippet_id FROM fix_concept c CROSS JOIN fix f "
                    f"ON f.id = c.snippet_id WHERE c.concept_id IN ({','.join('?' * len(rare))}) "
                    "AND f.status = 'approved'", rare):
                best.setdefault((fix_id, concept), (W_MENTION, f"mentions:{concept}"))
        for (fix_id, _), (points, reason) in best.items():
            add(fix_id, points, reason)
        return common, set(best)

    @staticmethod
    def _match_common(db, common: list[str], scored: set, candidates: list[int], add) -> None:
        """Mentions of very common concepts: checked on the fixes other signals
        found (the best COMMON_CHECKED), or, when there are none, on the first 200 fixes
        that mention them."""
        if not common:
            return
        marks = ",".join("?" * len(common))
        if candidates:
            rows = []
            for start in range(0, len(candidates), 500):
                chunk = candidates[start:start + 500]
                rows += db.execute(
                    f"SELECT concept_id, snippet_id FROM fix_concept WHERE concept_id IN ({marks}) "
                    f"AND snippet_id IN ({','.join('?' * len(chunk))})", [*common, *chunk]).fetchall()
        else:
            rows = db.execute(
                f"SELECT c.concept_id, c.snippet_id FROM fix_concept c CROSS JOIN fix f "
                f"ON f.id = c.snippet_id WHERE c.concept_id IN ({marks}) AND f.status = 'approved' "
                "LIMIT 200", common).fetchall()
        for concept, fix_id in rows:
            if (fix_id, concept) not in scored:
                add(fix_id, W_MENTION, f"mentions:{concept}")

    @staticmethod
    def _match_text(db, words: list[str], add) -> None:
        """Full text for the words the glossary does not know. Ranking
        (bm25) costs about 2 µs per matching text, so a token found in more
        than FTS_COMMON texts (a filler word: it says little) is not ranked:
        such tokens only give a flat score, when no rarer token matched."""
        rare, common = [], []
        for token in fts_tokens(words):
            found = db.execute("SELECT count(*) FROM (SELECT 1 FROM fix_fts WHERE fix_fts MATCH ? LIMIT ?)",
                               [_quote(token), FTS_COMMON + 1]).fetchone()[0]
            if found:
                (rare if found <= FTS_COMMON else common).append(_quote(token))
        # bm25() (rank) only works in a query on the FTS table itself: rank
        # there (MATERIALIZED keeps SQLite from flattening it into the join).
        if rare:
            sql = "SELECT rowid AS id, rank AS r FROM fix_fts WHERE fix_fts MATCH ?"
        elif common:
            sql = "SELECT rowid AS id, -1.0 AS r FROM fix_fts WHERE fix_fts MATCH ? LIMIT 200"
        else:
            return
        rows = db.execute(
            f"WITH m AS MATERIALIZED ({sql}) SELECT t.snippet_id, min(m.r) AS r FROM m "
            "JOIN fix_text t ON t.id = m.id CROSS JOIN fix f ON f.id = t.snippet_id "
            "WHERE f.status = 'approved' GROUP BY t.snippet_id ORDER BY r LIMIT 200",
            [" OR ".join(rare or common)]).fetchall()
        if not rows:
            return
        best = rows[0][1] or -1e-9  # bm25 is negative: lower is better
        weight = W_TEXT if rare else W_TEXT / 4
        for fix_id, rank in rows:
            add(fix_id, weight * rank / best, "text")

    @staticmethod
    def _match_pairs(db, words: list[str], add) -> None:
        """Two-character Chinese or Korean words the glossary does not know
        (漏液, 누액: most Korean words are two syllables). Trigrams cannot
        see them, so they are looked for in the texts themselves: a scan
        (~30 ms over 20,000 fixes in five languages), stopped at 200
        matches, made only when the rest found fewer fixes than asked for.
        One character says too little to be searched for."""
        pairs = list(dict.fromkeys(w for w in words if len(w) == 2 and is_cjk(w[0])))[:3]
        for pair in pairs:
            for (fix_id,) in db.execute(
                    "SELECT DISTINCT t.snippet_id FROM fix_text t CROSS JOIN fix f ON f.id = t.snippet_id "
                    "WHERE instr(t.norm, ?) > 0 AND f.status = 'approved' LIMIT 200", [pair]):
                add(fix_id, W_TEXT / 2, "text")

    @staticmethod
    def _rank(db, scores: dict[int, float], limit: int) -> list[int]:
        order = sorted(scores, key=lambda i: (-round(scores[i]), -scores[i], i))
        # Feedback breaks ties of the rounded score: fetch votes only for the
        # results that could still make the cut.
        cut = round(scores[order[min(limit, len(order)) - 1]])
        pool = [i for i in order if round(scores[i]) >= cut]
        votes: dict[int, tuple[int, int]] = {}
        if len(pool) > 1:
            # Few fixes have votes: read them all from the partial index
            # rather than pass a long list of ids.
            in_pool = set(pool)
            votes = {r[0]: (r[1], r[2]) for r in db.execute(
                "SELECT id, worked, failed FROM fix WHERE worked > 0 OR failed > 0") if r[0] in in_pool}
        pool.sort(key=lambda i: (-round(scores[i]), -wilson(*votes.get(i, (0, 0))), -scores[i], i))
        return pool[:limit]

    @staticmethod
    def _result(db, fix_id: int, lang: str | None, score: float, reasons: list[str],
                cls=FixResult, **extra) -> FixResult:
        r = fix_row(db, fix_id)
        texts = load_texts(db, fix_id)
        shown = lang if lang in texts else r["original_lang"]
        t = texts[shown]
        return cls(id=fix_id, slug=r["slug"], equipment=r["equipment"], codes=json.loads(r["codes"]),
                   status=r["status"], lang=shown, original_lang=r["original_lang"], kind=t.kind,
                   in_reader_lang=lang is None or shown == lang, symptom=t.symptom, cause=t.cause,
                   steps=t.steps, safety=t.safety, score=score, reasons=reasons,
                   worked=r["worked"], failed=r["failed"], **extra)

    # -- one fix -------------------------------------------------------------
    def get(self, fix_id: int, lang: str | None = None) -> FixCard | None:
        """The card of one fix (any status: callers decide who sees drafts)."""
        db = self.storage.conn()
        try:
            r = fix_row(db, fix_id)
        except FixNotFound:
            return None
        photos = [Photo(*p) for p in db.execute(
            "SELECT file_id, local_path, caption FROM fix_photo WHERE snippet_id = ? ORDER BY position",
            [fix_id])]
        versions = db.execute("SELECT count(*) FROM fix_version WHERE snippet_id = ?", [fix_id]).fetchone()[0]
        langs = {lang_: t.kind for lang_, t in load_texts(db, fix_id).items()}
        return self._result(db, fix_id, lang, 0.0, [], cls=FixCard, photos=photos, versions=versions,
                            langs=langs, author=r["author"], sample=bool(r["sample"]),
                            reject_reason=r["reject_reason"])

    async def aget(self, fix_id: int, lang: str | None = None) -> FixCard | None:
        return await self.storage.arun(self.get, fix_id, lang)

    # -- approve and translate ----------------------------------------------
    def approve(self, fix_id: int, actor: Actor) -> "ApproveReport":
        changed = self.storage.write(approve, fix_id, actor)
        texts, missing = self._translations(fix_id)
        added = self.storage.write(add_machine_texts, fix_id, texts, actor) if texts else []
        return ApproveReport(changed, added, missing)

    async def aapprove(self, fix_id: int, actor: Actor) -> "ApproveReport":
        changed = await self.storage.awrite(approve, fix_id, actor)
        # Models run for seconds: on a worker thread, never on the event loop.
        texts, missing = await asyncio.to_thread(self._translations, fix_id)
        added = await self.storage.awrite(add_machine_texts, fix_id, texts, actor) if texts else []
        return ApproveReport(changed, added, missing)

    def _translations(self, fix_id: int) -> tuple[dict[str, FixText], dict[str, str]]:
        """Machine translations for the languages without text, and why the
        others could not be made (no engine, no model installed...)."""
        fix = self.storage.read(load_fix, fix_id)
        todo = [lang for lang in LANGS if lang not in fix.texts]
        if fix.status != "approved" or not todo:
            return {}, {}
        if self.engine is None:
            return {}, {lang: "no translation engine" for lang in todo}
        source, original = fix.original_lang, fix.texts[fix.original_lang]
        texts, missing = {}, {}
        for lang in todo:
            def tr(s: str, lang: str = lang) -> str:
                return self.engine.translate(s, lang, source=source).text if s else ""

            try:
                texts[lang] = clean_text({"symptom": tr(original.symptom), "cause": tr(original.cause),
                                          "steps": [tr(s) for s in original.steps],
                                          "safety": [tr(s) for s in original.safety]},
                                         f"texts.{lang}", kind="machine")
            except (TranslationError, FixError) as exc:  # no model, too long, empty output
                missing[lang] = str(exc)
        return texts, missing

    def stats(self) -> "FixStats":
        return self.storage.read(stats)


@dataclass
class ApproveReport:
    changed: bool  # False: it was approved already
    translated: list[str]  # languages that got a machine translation now
    missing: dict[str, str]  # language → why it has no text yet (e.g. no model)


def _log_failure(future) -> None:
    if future.exception() is not None:
        log.warning("could not log a fix search: %s", future.exception())


# --------------------------------------------------------------------------
# Statistics


@dataclass
class FixStats:
    by_status: dict[str, int]
    top_searches: list[tuple[str, int]]
    unanswered: list[tuple[str, int]]  # searches that found nothing, most asked first
    most_useful: list[tuple[int, str, int, int]]  # id, slug, worked, failed
    glossary_missing_by_lang: dict[str, int]  # concepts without a preferred term
    equipment_gaps: list[tuple[str, list[str]]]  # equipment with fixes, languages lacking a term


def stats(db, limit: int = 10) -> FixStats:
    by_status = dict(db.execute("SELECT status, count(*) FROM fix GROUP BY status").fetchall())
    searches = lambda where: [tuple(r) for r in db.execute(  # noqa: E731
        f"SELECT max(query), count(*) AS n FROM fix_search {where} GROUP BY norm "
        "ORDER BY n DESC, max(at) DESC LIMIT ?", [limit])]
    gaps = []
    for cid, langs in db.execute(
            "SELECT f.equipment, (SELECT group_concat(DISTINCT lang) FROM term t "
            "WHERE t.concept_id = f.equipment AND t.type = 'preferred') FROM fix f "
            "GROUP BY f.equipment ORDER BY f.equipment"):
        lacking = [lang for lang in LANGS if lang not in (langs or "").split(",")]
        if lacking:
            gaps.append((cid, lacking))
    return FixStats(
        by_status={s: by_status.get(s, 0) for s in STATUSES},
        top_searches=searches(""), unanswered=searches("WHERE results = 0"),
        most_useful=[tuple(r) for r in db.execute(
            "SELECT id, slug, worked, failed FROM fix WHERE worked > 0 AND status = 'approved' "
            "ORDER BY worked DESC, failed, id LIMIT ?", [limit])],
        glossary_missing_by_lang=glossary_stats(db).missing_by_lang,
        equipment_gaps=gaps)
