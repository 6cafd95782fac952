"""The offline translation engine: memory first, then Argos models, with the
glossary's terms enforced.

For each message:

1. nothing to translate (empty, emoji, alarm codes only), or already in the
   target language: returned unchanged;
2. the whole message is one glossary term: the approved target term;
3. the whole message, then each sentence, is looked up in the translation
   memory; a hit at or above the threshold is served as it is;
4. the rest goes to the models: glossary terms and alarm codes in the source
   are replaced by placeholders ``[T1]``, the sentences are translated (through
   English when no direct package exists), and each placeholder is replaced
   by the concept's preferred target term, or the code as written. A
   placeholder the model dropped is put back at the end of its sentence, so an
   approved term is never lost. Deprecated target terms are banned from
   decoding and replaced if they still appear. In French, the article before
   a term put in is fitted to it (« le enduiseuse » → « l'enduiseuse »,
   articles.py).

A spelling that names two concepts in the source language (French
« tension »: web tension or voltage) is enforced only when the sentence
decides which: units (V, mV against N, N·m, kg) and the other glossary terms
around it (their process area). Otherwise it is left to the model and listed
in ``Translation.ambiguous``, for the reader to be told.

Models are loaded on first use (CTranslate2 + the package's sentencepiece
model, never argostranslate's own splitter, which downloads models), kept,
and bounded in number. Nothing here opens a socket.

``translate`` is synchronous (CLI, tests). ``atranslate`` is for asyncio: it
runs off the event loop, and concurrent requests for one model are gathered
into one ``translate_batch`` call.
"""

from __future__ import annotations

import asyncio
import ctypes
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from glossary import LANGS, Glossary
from glossary.normalize import normalize

from .articles import fit_article
from .models import InstalledPackage, ModelError, ModelStore, load_package, target_vocabulary
from .text import detect_language, is_translatable, join_segments, split_sentences

PIVOT = "en"
BATCH_WINDOW = 0.005  # seconds a model call waits for concurrent requests to join
#: At most one malloc_trim per this many seconds, when a model goes idle.
TRIM_INTERVAL = 5.0


def release_free_memory() -> bool:
    """Have glibc hand back the free memory its arenas keep (malloc_trim(0)).

    Translation allocates and frees hundreds of MB in several threads (the
    planning threads, the model thread, CTranslate2's own); glibc keeps what
    was freed in one arena per thread, so after 1,000 translations the
    process held 1.0-1.2 GB for 560 MB of models (bench_translate.py (c)).
    False where there is no glibc."""
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if not _TRIM:
        return False
    _TRIM(0)
    return True


_TRIM = None

# A placeholder is a bracketed tag: brackets, a capital and digits survive
# sentencepiece and are copied by NMT models far more reliably than symbols.
# No underscore: SentencePieceTokenizer.decode turns "_" into a space. The
# reader tolerates the spaces and full-width brackets a model may add.
_PLACEHOLDER = "[T{}]"
_PLACEHOLDER_RE = re.compile(r"[\[［【]\s*T\s*(\d{1,3})\s*[\]］】]")

# Alarm and error codes, part numbers, and numbers: copied verbatim. A model
# that turns "line 3" into "line 8", or E-203 into E-230, is dangerous on a
# shop floor; numbers also pass untouched through Chinese text (3号线).
_CODE_RE = re.compile(
    r"(?<![A-Za-z0-9-])"
    r"(?:[A-Za-z]{1,4}[-./]?\d[A-Za-z0-9./-]*|\d+(?:[.,:/-]\d+)*)"
    r"(?![A-Za-z0-9-])"
)


# Units that tell which quantity a sentence speaks of: what decides between
# two concepts sharing a spelling (« tension » in volts is a voltage, in
# newtons a web tension). A number must come first, so that the article « a »
# or a stray capital is no unit. ASCII letters only around it: Chinese and
# Korean glue units to the words (电压为3.6V的).
_UNITS = {
    "electrical": re.compile(
        r"(?<![A-Za-z0-9.,])\d+(?:[.,]\d+)?\s?(?:[kmµu]?V|[kmµu]?A|[kmM]?Ω|[mk]?ohms?|m?Ah|[kM]?W|C-rate)(?![A-Za-z0-9/·]|\.\d)"
        r"|\b(?:volts?|millivolts?|amp[eè]res?|ohms?)\b", re.IGNORECASE),
    "mechanical": re.compile(
        r"(?<![A-Za-z0-9.,])\d+(?:[.,]\d+)?\s?(?:[kd]?N(?:[·.*/ ]?m)?|kgf|kg(?:/h)?|g)(?![A-Za-z0-9/·]|\.\d)"
        r"|\b(?:newtons?|kilogrammes?|kilograms?)\b", re.IGNORECASE),
}
#: Process areas whose concepts the electrical units speak for; a mechanical
#: unit speaks for the others.
_ELECTRICAL_AREAS = frozenset({"electrical", "finishing", "module_pack"})


class TranslationError(ValueError):
    """The message cannot be translated as asked; the text says why."""


class MissingModelError(TranslationError):
    """A language pair has no installed package. ``pairs`` lists what is missing."""

    def __init__(self, pairs: list[tuple[str, str]], terms: list["EnforcedTerm"]):
        self.pairs = pairs
        self.terms = terms
        names = ", ".join(f"{a}→{b}" for a, b in pairs)
        commands = "; ".join(f"shopbot models download {a} {b}" for a, b in pairs)
        super().__init__(f"no translation model installed for {names}: install it with `{commands}` "
                         "(or every pair the five languages need: `shopbot models setup`)")


@dataclass(frozen=True)
class EnforcedTerm:
    source: str  # as written in the message
    target: str  # the glossary's preferred target term
    concept_id: str
    gender: str | None = None  # of the target term (French), for its article


@dataclass(frozen=True)
class AmbiguousTerm:
    """A source term naming several concepts that the sentence did not decide
    between: left to the model, and shown to the reader."""

    source: str  # as written in the message
    options: tuple[str, ...]  # the target terms it may stand for
    concept_ids: tuple[str, ...]


@dataclass
class SegmentResult:
    source: str
    text: str
    provenance: str  # memory | machine | glossary | unchanged
    match: float | None = None


@dataclass
class Translation:
    text: str
    source: str | None
    target: str
    route: tuple[str, ...] = ()
    provenance: str = "unchanged"  # memory | machine | glossary | unchanged
    match: float | None = None  # memory match %, when served from memory
    terms: list[EnforcedTerm] = field(default_factory=list)
    segments: list[SegmentResult] = field(default_factory=list)
    ambiguous: list[AmbiguousTerm] = field(default_factory=list)
    # Protected spans (terms, codes) sent to the models, and how many of them
    # a model dropped (put back at the end of the sentence): shopbot eval.
    placeholders: int = 0
    placeholders_lost: int = 0

    @property
    def route_text(self) -> str:
        return "→".join(self.route)

    def to_json(self) -> dict:
        return {
            "text": self.text, "source": self.source, "target": self.target,
            "route": self.route_text, "provenance": self.provenance, "match": self.match,
            "terms": [t.__dict__ for t in self.terms],
            "segments": [s.__dict__ for s in self.segments],
            "ambiguous": [{"source": a.source, "options": list(a.options),
                           "concept_ids": list(a.concept_ids)} for a in self.ambiguous],
            "placeholders": self.placeholders, "placeholders_lost": self.placeholders_lost,
        }


@dataclass
class _Protected:
    """A sentence with its protected spans replaced by placeholders."""

    text: str
    restore: dict[int, str]  # placeholder number → text to put back
    terms: list[EnforcedTerm]
    lang: str = ""  # the target language
    genders: dict[int, str | None] = field(default_factory=dict)  # term placeholders
    ambiguous: list[AmbiguousTerm] = field(default_factory=list)
    lost: set[int] = field(default_factory=set)  # placeholders a model dropped, on any leg


class _LoadedModel:
    def __init__(self, package: InstalledPackage, threads: int):
        self.package = package
        try:
            self.translator, self.sp = load_package(package.path, package.pair, threads)
        except ModelError as exc:
            raise TranslationError(str(exc)) from None
        # CTranslate2 refuses a whole batch when a suppressed sequence holds a
        # token it does not know: the deprecated terms are filtered by this.
        self.vocabulary = target_vocabulary(package.path / "model")
        self.lock = threading.Lock()  # one translate_batch at a time per model


class TranslationEngine:
    """Translate between zh, ko, ms, fr and en on this machine only."""

    def __init__(self, models: ModelStore, glossary: Glossary, memory=None, *,
                 max_chars: int = 2000, max_loaded: int = 4, cache_size: int = 2048,
                 beam_size: int = 2, threads: int = 0, batch_size: int = 32,
                 executor: Executor | None = None):
        self.models = models
        self.glossary = glossary
        self.memory = memory
        self.max_chars = max_chars
        self.max_loaded = max_loaded
        self.beam_size = beam_size
        self.threads = threads
        self.batch_size = batch_size
        self._loaded: OrderedDict[str, _LoadedModel] = OrderedDict()
        self._load_lock = threading.Lock()
        self._cache: OrderedDict[tuple, Translation] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        # One thread runs the models: CTranslate2 uses the cores itself
        # (intra_threads); a second Python thread would only contend.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="shopbot-translate")
        self._last_trim = -TRIM_INTERVAL
        self._batchers: dict[str, _Batcher] = {}
        # Where atranslate plans and finishes (glossary and memory reads):
        # the bot passes the storage's reader pool, so that a chat message
        # costs no extra threads; None is asyncio's default executor.
        self._reads = executor

    # -- public API ---------------------------------------------------------
    def translate(self, text: str, target: str, source: str | None = None,
                  prior: str | None = None) -> Translation:
        return self._translate(text, target, source, prior, self._run_sync)

    async def atranslate(self, text: str, target: str, source: str | None = None,
                         prior: str | None = None) -> Translation:
        """Like ``translate``, off the event loop, batched with concurrent calls."""
        plan = await asyncio.get_running_loop().run_in_executor(
            self._reads, self._plan, text, target, source, prior)
        if isinstance(plan, Translation):
            return plan
        loop = asyncio.get_running_loop()
        texts = [p.text for p in plan.pending]
        for leg, (a, b) in enumerate(plan.legs):
            model = await loop.run_in_executor(None, self._model, a, b)
            batcher = self._batchers.get(model.package.pair)
            if batcher is None or batcher.model is not model:  # new, or reloaded after eviction
                batcher = self._batchers[model.package.pair] = _Batcher(self, model)
            texts = await batcher.submit(texts, b)
            texts = [self._repair(t, p, leg == len(plan.legs) - 1) for t, p in zip(texts, plan.pending)]
        # _finish reads the glossary (SQLite): not on the event loop.
        return await loop.run_in_executor(self._reads, self._finish, plan, texts)

    def loaded_pairs(self) -> list[str]:
        return list(self._loaded)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    # -- planning -----------------------------------------------------------
    def _translate(self, text, target, source, prior, run) -> Translation:
        plan = self._plan(text, target, source, prior)
        if isinstance(plan, Translation):
            return plan
        texts = [p.text for p in plan.pending]
        for leg, (a, b) in enumerate(plan.legs):
            texts = run(self._model(a, b), texts, b)
            texts = [self._repair(t, p, leg == len(plan.legs) - 1) for t, p in zip(texts, plan.pending)]
        return self._finish(plan, texts)

    def _plan(self, text: str, target: str, source: str | None, prior: str | None):
        """Everything before the models: returns a finished Translation when
        no model is needed, else a _Plan of the sentences left to translate."""
        if target not in LANGS:
            raise TranslationError(f"unknown target language {target!r} (one of: {', '.join(LANGS)})")
        if source is not None and source not in LANGS:
            raise TranslationError(f"unknown source language {source!r} (one of: {', '.join(LANGS)})")
        if not isinstance(text, str):
            raise TranslationError("text must be a string")
        if len(text) > self.max_chars:
            raise TranslationError(
                f"the message is {len(text)} characters long; the limit is {self.max_chars}")
        if not is_translatable(text):
            return Translation(text=text, source=source, target=target)
        if source is None:
            source = detect_language(text, prior=prior).lang or prior
            if source is None:
                raise TranslationError("cannot tell the language of this message; say which it is")
        if source == target:
            return Translation(text=text, source=source, target=target)

        key = (text, source, target, self._revs())
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit

        whole = self._whole_term(text, source, target)
        if whole is not None:
            return self._remember(key, whole)
        match = self._memory(text, source, target)
        if match is not None:
            result = Translation(text=match.text, source=source, target=target, route=(source, target),
                                 provenance="memory", match=match.score,
                                 segments=[SegmentResult(text, match.text, "memory", match.score)])
            return self._remember(key, result)

        segments = split_sentences(text)
        results: list[SegmentResult | None] = []
        pending: list[_Protected] = []
        for seg in segments:
            hit = self._memory(seg.text, source, target) if is_translatable(seg.text) else None
            if not is_translatable(seg.text):
                results.append(SegmentResult(seg.text, seg.text, "unchanged"))
            elif hit is not None:
                results.append(SegmentResult(seg.text, hit.text, "memory", hit.score))
            else:
                results.append(None)
                pending.append(self._protect(seg.text, source, target))
        legs = self._route(source, target, [t for p in pending for t in p.terms]) if pending else []
        plan = _Plan(key, source, target, segments, results, pending, legs)
        if not pending:
            return self._finish(plan, [])
        return plan

    def _revs(self) -> tuple:
        glossary_rev = self.glossary.index().rev
        memory_rev = self.memory.rev() if self.memory is not None else 0
        return glossary_rev, memory_rev

    def _whole_term(self, text: str, source: str, target: str) -> Translation | None:
        """A message that is exactly one glossary term gets the approved term."""
        spots = self.glossary.spot(text)
        if len(spots) != 1 or normalize(spots[0].text) != normalize(text):
            return None
        term = self._target_term(spots[0], source, target, text, spots)
        if not isinstance(term, EnforcedTerm):  # none, or ambiguous: the model's turn
            return None
        return Translation(text=term.target, source=source, target=target, route=(source, target),
                           provenance="glossary", terms=[term],
                           segments=[SegmentResult(text, term.target, "glossary")])

    def _memory(self, text: str, source: str, target: str):
        if self.memory is None:
            return None
        return self.memory.lookup(text, source, target)

    def _target_term(self, spot, source: str, target: str, sentence: str,
                     spots: list) -> EnforcedTerm | AmbiguousTerm | None:
        """The term to enforce for ``spot``; an AmbiguousTerm when its spelling
        names several concepts with different target terms and the sentence
        does not tell which; None when nothing is to be enforced (a verb)."""
        # The concepts this spelling names in the message's language (a
        # deprecated spelling counts only when nothing else does), else in any.
        refs = ([r for r in spot.matches if r.lang == source and r.type != "deprecated"]
                or [r for r in spot.matches if r.lang == source] or list(spot.matches))
        candidates = []
        for concept_id in dict.fromkeys(r.concept_id for r in refs):
            concept = self.glossary.concept(concept_id)
            if concept is not None and concept.preferred(target) is not None:
                candidates.append(concept)
        if not candidates:
            return None
        lang = next((r.lang for r in refs if r.concept_id == candidates[0].id), source)
        options = list(dict.fromkeys(c.preferred(target).text for c in candidates))
        chosen = candidates[0]
        if len(options) > 1:
            chosen = self._decide(candidates, spot, sentence, spots)
            if chosen is None:
                return AmbiguousTerm(spot.text, tuple(options), tuple(c.id for c in candidates))
            lang = next((r.lang for r in refs if r.concept_id == chosen.id), source)
        pos = {t.pos for t in chosen.terms if t.lang == lang and t.text}
        if "verb" in pos:
            return None  # verbs inflect: forcing an infinitive in breaks the sentence
        preferred = chosen.preferred(target)
        return EnforcedTerm(source=spot.text, target=preferred.text, concept_id=chosen.id,
                            gender=preferred.gender)

    def _decide(self, candidates: list, spot, sentence: str, spots: list):
        """The one candidate concept the sentence speaks for, or None.

        Units count two (a unit names a quantity outright), each other
        glossary term of the sentence from a candidate's process area one.
        Only a single best score above zero decides."""
        scores = dict.fromkeys((c.id for c in candidates), 0)
        domains = {name for name, regex in _UNITS.items() if regex.search(sentence)}
        for c in candidates:
            electrical = c.category in _ELECTRICAL_AREAS
            if "electrical" in domains and electrical:
                scores[c.id] += 2
            if "mechanical" in domains and not electrical:
                scores[c.id] += 2
        for other in spots:
            if other is spot or other.start == spot.start:
                continue
            ids = other.concept_ids
            if len(ids) != 1:  # an ambiguous neighbour tells nothing
                continue
            neighbour = self.glossary.concept(ids[0])
            if neighbour is None:
                continue
            for c in candidates:
                if neighbour.category == c.category:
                    scores[c.id] += 1
        best = max(scores.values())
        winners = [c for c in candidates if scores[c.id] == best]
        return winners[0] if best > 0 and len(winners) == 1 else None

    def _protect(self, sentence: str, source: str, target: str) -> _Protected:
        """Replace glossary terms and codes by placeholders."""
        spots = self.glossary.spot(sentence)
        found = [self._target_term(s, source, target, sentence, spots) for s in spots]
        ambiguous = [t for t in found if isinstance(t, AmbiguousTerm)]
        if _PLACEHOLDER_RE.search(sentence):
            # The text itself looks like our placeholders: protect nothing, the
            # terms are still enforced by _repair's presence check.
            terms = [t for t in found if isinstance(t, EnforcedTerm)]
            return _Protected(sentence, {}, terms, target, ambiguous=ambiguous)
        spans: list[tuple[int, int, str, EnforcedTerm | None]] = []
        for spot, term in zip(spots, found):
            if isinstance(term, EnforcedTerm):
                spans.append((spot.start, spot.end, term.target, term))
        taken = [(s, e) for s, e, _, _ in spans]
        for m in _CODE_RE.finditer(sentence):
            if not any(s < m.end() and m.start() < e for s, e in taken):
                spans.append((m.start(), m.end(), m.group(), None))
        spans.sort()
        out, restore, terms, genders, last = [], {}, [], {}, 0
        for number, (start, end, replacement, term) in enumerate(spans, 1):
            out.append(sentence[last:start])
            out.append(_PLACEHOLDER.format(number))
            restore[number] = replacement
            if term is not None:
                terms.append(term)
                genders[number] = term.gender
            last = end
        out.append(sentence[last:])
        return _Protected("".join(out), restore, terms, target, genders, ambiguous)

    def _route(self, source: str, target: str, terms: list[EnforcedTerm]) -> list[tuple[str, str]]:
        """Direct if a package exists, else through English."""
        if self.models.has(source, target):
            return [(source, target)]
        if PIVOT not in (source, target):
            legs = [(source, PIVOT), (PIVOT, target)]
            missing = [leg for leg in legs if not self.models.has(*leg)]
            if not missing:
                return legs
        else:
            missing = [(source, target)]
        raise MissingModelError(missing, terms)

    # -- running the models -------------------------------------------------
    def _model(self, source: str, target: str) -> _LoadedModel:
        pair = f"{source}_{target}"
        with self._load_lock:
            model = self._loaded.get(pair)
            if model is not None:
                self._loaded.move_to_end(pair)
                return model
            package = self.models.get(source, target)
            if package is None:
                raise MissingModelError([(source, target)], [])
            model = _LoadedModel(package, self.threads)
            self._loaded[pair] = model
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)  # CTranslate2 frees it when unreferenced
            return model

    def _run_sync(self, model: _LoadedModel, texts: list[str], target: str) -> list[str]:
        return self._translate_batch(model, texts, target)

    def _translate_batch(self, model: _LoadedModel, texts: list[str], target: str) -> list[str]:
        tokens = [model.sp.encode(t, out_type=str) for t in texts]
        longest = max((len(t) for t in tokens), default=1)
        with model.lock:
            results = model.translator.translate_batch(
                tokens,
                beam_size=self.beam_size,
                max_batch_size=self.batch_size,
                # Cap decoding: a random or confused model must not ramble.
                max_decoding_length=int(longest * 1.5) + 10,
                replace_unknowns=True,
                suppress_sequences=self._banned(model, target) or None,
            )
        return [model.sp.decode_pieces(r.hypotheses[0]) for r in results]

    def _trim_when_idle(self) -> None:
        """After a model's queue ran dry: give freed memory back, on the model
        thread (never beside a translate_batch, never on the event loop), at
        most once per TRIM_INTERVAL (a trim of a large heap takes ~10 ms)."""
        now = time.monotonic()
        if now - self._last_trim >= TRIM_INTERVAL:
            self._last_trim = now
            try:
                self._executor.submit(release_free_memory)
            except RuntimeError:  # closed meanwhile
                pass

    def _banned(self, model: _LoadedModel, target: str) -> list[list[str]]:
        """Token sequences of deprecated terms in the model's target language."""
        cached = getattr(model, "banned", None)
        rev = self.glossary.index().rev
        if cached is not None and cached[0] == rev:
            return cached[1]
        terms = self.glossary.deprecated_terms(target)
        banned = [model.sp.encode(t, out_type=str) for t in terms]
        known = model.vocabulary
        # A token the model does not know cannot be produced, and CTranslate2
        # would refuse the whole batch for it ("Token j is not in the
        # vocabulary"): such a sequence needs no suppressing.
        model.banned = (rev, [b for b in banned if b and (known is None or known.issuperset(b))])
        return model.banned[1]

    # -- after the models ---------------------------------------------------
    def _repair(self, output: str, protected: _Protected, last_leg: bool) -> str:
        """Keep every placeholder through each leg; on the last, put terms in."""
        seen = {int(m.group(1)) for m in _PLACEHOLDER_RE.finditer(output)}
        for number in protected.restore:
            if number not in seen:  # the model dropped it: keep it, at the end
                protected.lost.add(number)
                output = f"{output.rstrip()} {_PLACEHOLDER.format(number)}"
        if not last_leg:
            return output

        # A tag the model invented (not one of ours) is dropped. In French the
        # article the model wrote before a term is fitted to it.
        done, last = "", 0
        for m in _PLACEHOLDER_RE.finditer(output):
            number = int(m.group(1))
            replacement = protected.restore.get(number, "")
            done += output[last:m.start()]
            if protected.lang == "fr" and number in protected.genders:
                done = fit_article(done, replacement, protected.genders[number])
            done += replacement
            last = m.end()
        output = done + output[last:]
        for term in protected.terms:  # no placeholders used (see _protect)
            if normalize(term.target) not in normalize(output):
                output = f"{output.rstrip()} ({term.target})"
        return output

    def _finish(self, plan: "_Plan", outputs: list[str]) -> Translation:
        outputs = [self._replace_deprecated(o, plan.target) for o in outputs]
        it = iter(zip(plan.pending, outputs))
        segments: list[SegmentResult] = []
        terms: list[EnforcedTerm] = []
        ambiguous: list[AmbiguousTerm] = []
        for seg, done in zip(plan.segments, plan.results):
            if done is None:
                protected, text = next(it)
                done = SegmentResult(seg.text, text, "machine")
                terms.extend(protected.terms)
                ambiguous.extend(a for a in protected.ambiguous if a not in ambiguous)
            segments.append(done)
        text = join_segments(plan.segments, [s.text for s in segments])
        kinds = {s.provenance for s in segments} - {"unchanged"}
        if kinds == {"memory"}:
            provenance = "memory"
            match = min(s.match for s in segments if s.match is not None)
        else:
            provenance, match = ("machine" if "machine" in kinds else "unchanged"), None
        route = (plan.source, *[b for _, b in plan.legs]) if plan.legs else (plan.source, plan.target)
        result = Translation(text=text, source=plan.source, target=plan.target, route=route,
                             provenance=provenance, match=match, terms=terms, segments=segments,
                             ambiguous=ambiguous,
                             placeholders=sum(len(p.restore) for p in plan.pending),
                             placeholders_lost=sum(len(p.lost) for p in plan.pending))
        return self._remember(plan.key, result)

    def _replace_deprecated(self, text: str, target: str) -> str:
        """A deprecated target-language term that still appears gets replaced."""
        out, last = [], 0
        for spot in self.glossary.spot(text):
            ref = next((r for r in spot.matches if r.lang == target and r.type == "deprecated"), None)
            if ref is None:
                continue
            concept = self.glossary.concept(ref.concept_id)
            preferred = concept.preferred(target) if concept else None
            if preferred is not None:
                out.append(text[last:spot.start])
                if target == "fr":  # « le coupeuse » → « la refendeuse »
                    out[:] = [fit_article("".join(out), preferred.text, preferred.gender)]
                out.append(preferred.text)
                last = spot.end
        out.append(text[last:])
        return "".join(out)

    def _remember(self, key: tuple, result: Translation) -> Translation:
        with self._cache_lock:
            self._cache[key] = result
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result


@dataclass
class _Plan:
    key: tuple  # (text, source, target, revisions): the cache's key
    source: str
    target: str
    segments: list
    results: list
    pending: list[_Protected]
    legs: list[tuple[str, str]]


class _Batcher:
    """Gathers the sentences of concurrent requests for one model into one
    ``translate_batch`` call: while a batch runs, the next one fills up."""

    def __init__(self, engine: TranslationEngine, model: _LoadedModel):
        self.engine = engine
        self.model = model
        self.queue: list[tuple[list[str], str, asyncio.Future]] = []
        self.running = False

    async def submit(self, texts: list[str], target: str) -> list[str]:
        future = asyncio.get_running_loop().create_future()
        self.queue.append((texts, target, future))
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            # Wait a few milliseconds for the other requests of a burst: their
            # planning runs in worker threads and they arrive over ~1-3 ms.
            # Without this a burst of 32 went out as two model calls.
            await asyncio.sleep(BATCH_WINDOW)
            while self.queue:
                batch, self.queue = self.queue, []
                texts = [t for texts, _, _ in batch for t in texts]
                target = batch[0][1]  # one model, one target language
                try:
                    outputs = await loop.run_in_executor(
                        self.engine._executor, self.engine._translate_batch, self.model, texts, target)
                except Exception as exc:  # noqa: BLE001 - delivered to every waiter
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                start = 0
                for texts_, _, future in batch:
                    if not future.done():
                        future.set_result(outputs[start:start + len(texts_)])
                    start += len(texts_)
            self.engine._trim_when_idle()
        finally:
            self.running = False
