"""In-memory indexes over every term: typo search and term spotting.

SQLite answers exact, prefix, substring and pinyin lookups from its own
indexes. Two jobs it cannot do fast are kept here, built from one scan of the
``term`` table and rebuilt when the glossary changes:

* **typos**: edit distance against every term of the query's script. A 256-bit
  signature of each term's character bigrams lets numpy discard, in one
  vectorised pass, every term that cannot be within the allowed distance
  (each edit destroys at most two bigrams of the query); rapidfuzz then
  scores the few survivors. Korean is compared on jamo, so 전해약 is one letter
  away from 전해액, not one syllable.
* **spotting**: an Aho-Corasick automaton (pyahocorasick) finds every term in a
  message in one pass, whatever the glossary size.

Per-term data lives in numpy arrays, not Python objects, to keep a 500,000-term
glossary well under the memory budget.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Iterable

import ahocorasick
import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from .model import LANGS, TERM_TYPES
from .normalize import is_word_char, normalize_map, script_of, to_jamo

_LANG_CODE = {lang: i for i, lang in enumerate(LANGS)}
_TYPE_CODE = {t: i for i, t in enumerate(TERM_TYPES)}

#: Shortest key (letters, or jamo for Korean) that typo search runs on:
#: below this nearly everything is "one typo away".
MIN_FUZZY_LEN = 4


@dataclass(frozen=True)
class TermRef:
    """One glossary term, as the indexes know it."""

    term_id: int
    concept_id: str
    lang: str
    type: str


@dataclass(frozen=True)
class Spot:
    """A glossary term found in a message: ``text[start:end]`` of the original."""

    start: int
    end: int
    text: str
    matches: tuple[TermRef, ...]  # every term with that spelling (usually one)

    @property
    def concept_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.concept_id for m in self.matches))


#: Signature size, in 64-bit words. 256 bits keep bigram collisions rare enough
#: that the pre-filter leaves a few hundred candidates out of 300,000 terms.
SIG_WORDS = 4


def _signature(key: str) -> list[int]:
    """The set of the key's bigrams (padded, so that ends count too), hashed
    into SIG_WORDS 64-bit words."""
    padded = f"\x02{key}\x03"
    words = [0] * SIG_WORDS
    for i in range(len(padded) - 1):
        h = hash(padded[i:i + 2]) % (64 * SIG_WORDS)
        words[h >> 6] |= 1 << (h & 63)
    return words


class _FuzzyBucket:
    """Terms of one script, keyed for edit-distance search."""

    def __init__(self, rows: array, keys: list[str]):
        self.rows = np.frombuffer(rows, dtype=np.int32)
        self.keys = keys
        self.lens = np.asarray([len(k) for k in keys], dtype=np.int16)
        flat_sigs = array("Q")  # not a list of lists: 300,000 of those cost 70 MB
        for k in keys:
            flat_sigs.extend(_signature(k))
        sigs = np.frombuffer(flat_sigs, dtype=np.uint64).reshape(-1, SIG_WORDS)
        # Stored inverted and column by column: the query-time test is then
        # "popcount(query & ~term)" as a few contiguous vector operations.
        self.inverted = [np.ascontiguousarray(~sigs[:, j]) for j in range(SIG_WORDS)]

    def search(self, key: str, allowed: np.ndarray | None, limit: int) -> list[tuple[int, float]]:
        n = len(key)
        k = 1 if n <= 5 else 2 if n <= 10 else 3
        # Bigrams of the query missing from the term: each edit removes at
        # most two, so a term with more than 2k missing cannot be a match.
        missing = None
        for column, word in zip(self.inverted, _signature(key)):
            bits = np.bitwise_count(column & np.uint64(word))
            missing = bits if missing is None else missing + bits
        keep = (np.abs(self.lens - n) <= k) & (missing <= 2 * k)
        if allowed is not None:
            keep &= allowed[self.rows]
        cands = np.flatnonzero(keep)
        if not len(cands):
            return []
        choices = [self.keys[i] for i in cands]
        found = process.extract(
            key, choices, scorer=Levenshtein.distance, score_cutoff=k, limit=limit
        )
        out = []
        for choice, dist, pos in found:
            if dist == 0:
                continue  # exact: the database lookup reports those
            similarity = 100.0 * (1 - dist / max(n, len(choice)))
            out.append((int(self.rows[cands[pos]]), similarity))
        return out


class TermIndex:
    """Typo search and spotting over a snapshot of the term table."""

    def __init__(self, rows: Iterable[tuple[int, str, str, str, str]], rev: int):
        """``rows``: (term id, concept id, lang, type, norm) for every term.
        Rows grouped by concept id keep one copy of each id (less memory).

        Rows are consumed one by one (pass a cursor): holding 500,000 row
        tuples at once would cost more memory than the whole index.
        """
        self.rev = rev
        self.concept_ids: list[str] = []
        term_ids, concept_idx = array("q"), array("i")
        langs, types = array("b"), array("b")
        latin_rows, hangul_rows = array("i"), array("i")
        latin_keys: list[str] = []
        hangul_keys: list[str] = []
        # Terms sharing one spelling (homonyms, OCV in five languages) are
        # chained: the automaton stores the first row, ``_next`` the others.
        self._next = array("i")
        self._key_lens = array("H")  # folded length: where a spotted term starts
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for row, (term_id, concept_id, lang, type_, norm) in enumerate(rows):
            term_ids.append(term_id)
            if not self.concept_ids or self.concept_ids[-1] != concept_id:
                self.concept_ids.append(concept_id)  # rows come grouped by concept
            concept_idx.append(len(self.concept_ids) - 1)
            langs.append(_LANG_CODE[lang])
            types.append(_TYPE_CODE[type_])
            self._next.append(-1)
            self._key_lens.append(len(norm))
            if not norm:
                continue
            first = automaton.get(norm, -1)
            if first < 0:
                automaton.add_word(norm, row)
            else:
                self._next[row], self._next[first] = self._next[first], row
            script = script_of(norm)
            if script == "latin":
                latin_rows.append(row)
                latin_keys.append(norm)
            elif script == "hangul":
                hangul_rows.append(row)
                hangul_keys.append(to_jamo(norm))
        self.term_ids = np.frombuffer(term_ids, dtype=np.int64)
        self.concept_idx = np.frombuffer(concept_idx, dtype=np.int32)
        self.langs = np.frombuffer(langs, dtype=np.int8)
        self.types = np.frombuffer(types, dtype=np.int8)
        self._fuzzy = {
            "latin": _FuzzyBucket(latin_rows, latin_keys),
            "hangul": _FuzzyBucket(hangul_rows, hangul_keys),
        }
        self._empty = len(automaton) == 0
        if not self._empty:
            automaton.make_automaton()
        self._automaton = automaton

    def _same_spelling(self, row: int) -> tuple[int, ...]:
        rows = [row]
        while self._next[rows[-1]] >= 0:
            rows.append(self._next[rows[-1]])
        return tuple(sorted(rows))

    def __len__(self) -> int:
        return len(self.term_ids)

    def ref(self, row: int) -> TermRef:
        return TermRef(
            term_id=int(self.term_ids[row]),
            concept_id=self.concept_ids[self.concept_idx[row]],
            lang=LANGS[self.langs[row]],
            type=TERM_TYPES[self.types[row]],
        )

    def fuzzy(self, norm: str, lang: str | None = None, limit: int = 30) -> list[tuple[TermRef, float, str]]:
        """Terms within a few edits of ``norm``: (term, similarity %, reason)."""
        script = script_of(norm)
        if script == "latin":
            key, reason = norm, "fuzzy"
        elif script == "hangul":
            key, reason = to_jamo(norm), "fuzzy-jamo"
        else:
            return []  # Chinese typos are homophones: search handles them by pinyin
        if len(key) < MIN_FUZZY_LEN or len(key) > 64:
            return []
        allowed = None if lang is None else self.langs == _LANG_CODE[lang]
        hits = self._fuzzy[script].search(key, allowed, limit)
        return [(self.ref(row), sim, reason) for row, sim in hits]

    def nearest(self, norm: str, limit: int = 3) -> list[str]:
        """Concept ids of the Latin or Korean terms most like ``norm``, however
        far (a "did you mean" when search found nothing)."""
        script = script_of(norm)
        if script not in ("latin", "hangul"):
            return []
        bucket = self._fuzzy[script]
        key = norm if script == "latin" else to_jamo(norm)
        ids: list[str] = []
        for _, _, pos in process.extract(key, bucket.keys, scorer=fuzz.ratio, limit=limit * 4):
            concept_id = self.concept_ids[self.concept_idx[bucket.rows[pos]]]
            if concept_id not in ids:
                ids.append(concept_id)
        return ids[:limit]

    def spot(self, text: str) -> list[Spot]:
        """Every glossary term in ``text``, longest match first, no overlaps.

        Offsets are into ``text`` as given. Latin-script terms only match on
        word boundaries; Chinese and Korean ones anywhere (no spaces there, and
        Korean particles stick to the noun: 코터가).
        """
        if self._empty or not text:
            return []
        norm, starts, ends = normalize_map(text)
        hits = []
        for end, row in self._automaton.iter(norm):
            start = end - self._key_lens[row] + 1
            if is_word_char(norm[start]) and start > 0 and is_word_char(norm[start - 1]):
                continue
            if is_word_char(norm[end]) and end + 1 < len(norm) and is_word_char(norm[end + 1]):
                continue
            hits.append((start, end + 1, row))
        # Longest first; then leftmost. A hit that overlaps a chosen one loses.
        hits.sort(key=lambda h: (h[0] - h[1], h[0]))
        taken = bytearray(len(norm))
        chosen = []
        for start, end, row in hits:
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            chosen.append((start, end, row))
        chosen.sort()
        return [
            Spot(
                start=starts[s], end=ends[e - 1], text=text[starts[s]:ends[e - 1]],
                matches=tuple(self.ref(i) for i in self._same_spelling(row)),
            )
            for s, e, row in chosen
        ]
