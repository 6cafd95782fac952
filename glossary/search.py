"""Find concepts from whatever a person types: any of the five languages, any
script, case, accents, width, Traditional characters, pinyin, typos.

Every strategy proposes (term, score, reason); the best proposal per concept
wins. Scores are on a 0-100 scale and only order results; the reason tells the
person (and the tests) why a concept came up.

| reason           | how                                             | score      |
|------------------|-------------------------------------------------|------------|
| exact            | the term as typed                               | 100        |
| abbreviation     | an abbreviation, folded (``ocv`` → OCV)         | 99         |
| normalized       | same after folding case, accents, width, spaces | 97         |
| traditional      | same after Traditional → Simplified             | 97         |
| pinyin           | whole pinyin, tones or not (``tubuji``)         | 92         |
| homophone        | other Chinese characters, same pinyin           | 88         |
| pinyin-initials  | pinyin initials (``tbj``)                       | 72-85      |
| prefix           | the term starts with the query                  | 70-90      |
| fuzzy(-jamo)     | a few typos away (Korean compared on jamo);     | 64-84      |
|                  | tried only when nothing scored 70 or more       |            |
| substring        | the query is inside the term                    | 55-75      |
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import sqlite_utils

from .index import TermIndex
from .model import LANGS, TERM_TYPES, Concept, Term
from .normalize import flat, is_han, is_hangul, normalize, pinyin_keys, pinyin_query, script_of, to_simplified
from .store import load_concepts

#: Longest query considered. No term is longer than 120 characters; past this a
#: "query" is a pasted message, and the answer is "no concept", not an error.
MAX_QUERY_CHARS = 120
_CANDIDATES = 200
_MAX = "\U0010ffff"  # sorts after every character: norm < q+_MAX means "starts with q"
_TYPE_RANK = {t: i for i, t in enumerate(TERM_TYPES)}


@dataclass(frozen=True)
class SearchResult:
    concept: Concept
    score: float
    reason: str
    matched: Term  # the term that matched

    def to_json(self) -> dict:
        return {
            "concept_id": self.concept.id,
            "score": round(self.score, 1),
            "reason": self.reason,
            "matched": {"lang": self.matched.lang, "text": self.matched.text,
                        "type": self.matched.type},
            "category": self.concept.category,
            "equipment": self.concept.equipment,
            "status": self.concept.status,
            # Per language: reviewed (by whom, when) or draft.
            "review": {lang: ({"state": "reviewed", "by": self.concept.reviews[lang][0],
                               "at": self.concept.reviews[lang][1]}
                              if lang in self.concept.reviews else {"state": "draft"})
                       for lang in LANGS},
            "terms": {
                lang: [{"text": t.text, "type": t.type, **({"pos": t.pos} if t.pos else {})}
                       for t in self.concept.terms_in(lang)]
                for lang in LANGS
            },
            "definitions": dict(self.concept.definitions),
        }


class _Proposals:
    """Best (score, reason, term id) per concept, plus the term's type for ties.

    A tie between two terms of one concept (same score, same type) goes to the
    lower term id, the term listed first in the concept (a concept's terms are
    written in its order): the same answer whatever order SQLite happens to
    read the rows in (an OR over two indexes does not read them by id)."""

    def __init__(self, lang: str | None):
        self.lang = lang
        self.best: dict[str, tuple[float, int, str, int]] = {}

    def add(self, concept_id: str, term_id: int, lang: str, type_: str,
            score: float, reason: str) -> None:
        if self.lang and lang != self.lang:
            return
        if type_ == "deprecated":
            score -= 2  # found, but the approved term's concept ranks first on ties
        rank = (score, -_TYPE_RANK[type_], -term_id)
        old = self.best.get(concept_id)
        if old is None or rank > (old[0], -_TYPE_RANK[old[3]], -old[1]):
            self.best[concept_id] = (score, term_id, reason, type_)

    def add_rows(self, rows, score_fn, reason: str) -> None:
        for term_id, concept_id, lang, type_, norm in rows:
            self.add(concept_id, term_id, lang, type_, score_fn(norm), reason)


_COLS = "id, concept_id, lang, type, norm"


def _lang_clause(lang: str | None) -> tuple[str, list]:
    return (" AND lang = ?", [lang]) if lang else ("", [])


def search(db: sqlite_utils.Database, index: TermIndex, query: str,
           lang: str | None = None, limit: int = 10) -> list[SearchResult]:
    """Ranked concepts for ``query``; ``lang`` restricts matching to that language's terms.

    Never raises on user text: empty, huge, control characters, FTS syntax or
    scripts the glossary does not have give an empty list.
    """
    if lang is not None and lang not in LANGS:
        raise ValueError(f"unknown language {lang!r} (one of: {', '.join(LANGS)})")
    if not isinstance(query, str) or len(query) > 4 * MAX_QUERY_CHARS:
        return []
    q = normalize(query)
    if not q or len(q) > MAX_QUERY_CHARS:
        return []
    conn: sqlite3.Connection = db.conn
    where_lang, lang_args = _lang_clause(lang)
    found = _Proposals(lang)
    raw = query.strip()
    traditional = any(is_han(c) for c in raw) and to_simplified(raw) != raw

    # 1. The same term, folded (and without separators: "e-stop" = "estop").
    qf = flat(q)
    for term_id, concept_id, t_lang, type_, text in conn.execute(
        f"SELECT id, concept_id, lang, type, text FROM term WHERE (norm = ? OR flat = ?){where_lang}",
        [q, qf or q, *lang_args],
    ):
        if text == raw:
            score, reason = 100, "exact"
        elif type_ == "abbreviation":
            score, reason = 99, "abbreviation"
        else:
            score, reason = 97, "traditional" if traditional else "normalized"
        found.add(concept_id, term_id, t_lang, type_, score, reason)

    # 2. Terms that start with the query.
    found.add_rows(
        conn.execute(
            f"SELECT {_COLS} FROM term WHERE norm > ? AND norm < ?{where_lang} "
            f"ORDER BY length(norm) LIMIT {_CANDIDATES}",
            [q, q + _MAX, *lang_args],
        ),
        lambda norm: 70 + 20 * len(q) / len(norm), "prefix",
    )

    # 3. Terms that contain the query. Trigrams need 3 characters; one or two
    #    Chinese or Korean characters are a real query (涂布, 극판), answered by
    #    the term_gram table. One or two Latin letters are not a query.
    script = script_of(q)
    if len(found.best) >= limit:
        rows = []  # prefix matches filled the page; they outrank substrings
    elif len(q) >= 3:
        rows = conn.execute(
            f"SELECT {_COLS} FROM term WHERE id IN (SELECT rowid FROM term_fts "
            f"WHERE term_fts MATCH ? LIMIT {_CANDIDATES}){where_lang}",
            ['"' + q.replace('"', '""') + '"', *lang_args],
        )
    elif all(is_han(c) or is_hangul(c) for c in q):
        rows = conn.execute(
            f"SELECT {_COLS} FROM term WHERE id IN (SELECT term_id FROM term_gram WHERE gram = ?)"
            f"{where_lang} ORDER BY length(norm) LIMIT {_CANDIDATES}",
            [q, *lang_args],
        )
    else:
        rows = []
    found.add_rows(rows, lambda norm: 55 + 20 * len(q) / max(len(norm), 1), "substring")

    # 4. Chinese by sound: pinyin typed in Latin letters, or other characters
    #    with the same pinyin (a phone keyboard picks the wrong homophone).
    if lang in (None, "zh"):
        _pinyin(conn, q, script, found)

    # 5. Typos, when nothing better than a substring matched: a typo rarely
    #    is the start of a term, and a prefix match is the better answer.
    if not any(p[0] >= 70 for p in found.best.values()):
        for ref, similarity, reason in index.fuzzy(q, lang):
            found.add(ref.concept_id, ref.term_id, ref.lang, ref.type, similarity * 0.85, reason)

    return _results(db, found, limit)


def _pinyin(conn: sqlite3.Connection, q: str, script: str, found: _Proposals) -> None:
    sql = f"SELECT {_COLS} FROM term WHERE lang = 'zh' AND "
    if script == "han":
        key = pinyin_keys(q)[0]
        rows = conn.execute(sql + f"pinyin = ? AND norm != ? LIMIT {_CANDIDATES}", [key, q])
        found.add_rows(rows, lambda norm: 88, "homophone")
        return
    key = pinyin_query(q)
    if not key or len(key) < 2:
        return
    found.add_rows(conn.execute(sql + f"pinyin = ? LIMIT {_CANDIDATES}", [key]),
                   lambda norm: 92, "pinyin")
    initials_score = 85 if len(key) >= 3 else 72
    found.add_rows(conn.execute(sql + f"initials = ? LIMIT {_CANDIDATES}", [key]),
                   lambda norm: initials_score, "pinyin-initials")
    if len(key) >= 4:
        found.add_rows(
            conn.execute(sql + f"pinyin > ? AND pinyin < ? LIMIT {_CANDIDATES}", [key, key + _MAX]),
            lambda norm: 74, "pinyin",
        )


def _results(db: sqlite_utils.Database, found: _Proposals, limit: int) -> list[SearchResult]:
    ranked = sorted(found.best.items(), key=lambda kv: (-kv[1][0], _TYPE_RANK[kv[1][3]], kv[0]))
    ranked = ranked[:limit]
    if not ranked:
        return []
    concepts = load_concepts(db, [cid for cid, _ in ranked])
    term_ids = [best[1] for _, best in ranked]
    marks = ",".join("?" * len(term_ids))
    terms = {
        row[0]: Term(lang=row[1], text=row[2], type=row[3], pos=row[4])
        for row in db.execute(f"SELECT id, lang, text, type, pos FROM term WHERE id IN ({marks})", term_ids)
    }
    return [
        SearchResult(concept=concepts[cid], score=score, reason=reason, matched=terms[term_id])
        for cid, (score, term_id, reason, _) in ranked
        if cid in concepts and term_id in terms
    ]
