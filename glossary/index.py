"""In-memory indexes over every term: typo search and term spotting.

SQLite answers exact, prefix, substring and pinyin lookups from its own
indexes. Two jobs it cannot do fast are kept here, built from one scan of the
``term`` table and rebuilt when the glossary changes:

* **typos**: edit distance against every term of the query's script. A 64-bit
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

from dataclasses import dataclass

import ahocorasick
import numpy as np
from rapidfuzz import process
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


def _signature(key: str) -> int:
    """64-bit set of the key's bigrams (padded, so that ends count too)."""
    padded = f"\x02{key}\x03"
    mask = 0
    for i in range(len(padded) - 1):
        mask |= 1 << (hash(padded[i:i + 2]) & 63)
    return mask


class _FuzzyBucket:
    """Terms of one script, keyed for edit-distance search."""

    def __init__(self, rows: list[int], keys: list[str]):
        self.rows = np.asarray(rows, dtype=np.int32)
        self.keys = keys
        self.lens = np.asarray([len(k) for k in keys], dtype=np.int16)
        self.masks = np.asarray([_signature(k) for k in keys], dtype=np.uint64)

    def search(self, key: str, allowed: np.ndarray | None, limit: int) -> list[tuple[int, float]]:
        n = len(key)
        k = 1 if n <= 5 else 2 if n <= 10 else 3
        missing = np.bitwise_count(np.uint64(_signature(key)) & ~self.masks)
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

    def __init__(self, rows: list[tuple[int, str, str, str, str]], rev: int):
        """``rows``: (term id, concept id, lang, type, norm) for every term."""
        self.rev = rev
        concept_ids: dict[str, int] = {}
        self.term_ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        self.concept_idx = np.asarray(
            [concept_ids.setdefault(r[1], len(concept_ids)) for r in rows], dtype=np.int32
        )
        self.concept_ids = list(concept_ids)
        self.langs = np.asarray([_LANG_CODE[r[2]] for r in rows], dtype=np.int8)
        self.types = np.asarray([_TYPE_CODE[r[3]] for r in rows], dtype=np.int8)

        latin_rows, latin_keys, hangul_rows, hangul_keys = [], [], [], []
        by_norm: dict[str, list[int]] = {}
        for i, (_, _, _, _, norm) in enumerate(rows):
            if not norm:
                continue
            by_norm.setdefault(norm, []).append(i)
            script = script_of(norm)
            if script == "latin":
                latin_rows.append(i)
                latin_keys.append(norm)
            elif script == "hangul":
                hangul_rows.append(i)
                hangul_keys.append(to_jamo(norm))
        self._fuzzy = {
            "latin": _FuzzyBucket(latin_rows, latin_keys),
            "hangul": _FuzzyBucket(hangul_rows, hangul_keys),
        }

        self._automaton = ahocorasick.Automaton()
        for norm, idxs in by_norm.items():
            # The value carries what spot needs without a dictionary lookup:
            # the key length, whether each end must sit on a word boundary,
            # and the term rows.
            value = (len(norm), is_word_char(norm[0]), is_word_char(norm[-1]), tuple(idxs))
            self._automaton.add_word(norm, value)
        if by_norm:
            self._automaton.make_automaton()
        self._empty = not by_norm

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
        for end, (length, word_start, word_end, idxs) in self._automaton.iter(norm):
            start = end - length + 1
            if word_start and start > 0 and is_word_char(norm[start - 1]):
                continue
            if word_end and end + 1 < len(norm) and is_word_char(norm[end + 1]):
                continue
            hits.append((start, end + 1, idxs))
        # Longest first; then leftmost. A hit that overlaps a chosen one loses.
        hits.sort(key=lambda h: (h[0] - h[1], h[0]))
        taken = bytearray(len(norm))
        chosen = []
        for start, end, idxs in hits:
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            chosen.append((start, end, idxs))
        chosen.sort()
        return [
            Spot(
                start=starts[s], end=ends[e - 1], text=text[starts[s]:ends[e - 1]],
                matches=tuple(self.ref(i) for i in idxs),
            )
            for s, e, idxs in chosen
        ]
