"""Translation quality against a reference TMX: ``shopbot eval``.

Every unit of the file that has a variant in the target language is a
reference; each of its other variants is translated into the target by the
engine (glossary enforced, no translation memory: the file's own sentences
would otherwise come straight back) and scored, per language pair:

* **chrF** (sacrebleu's corpus chrF, character n-grams): robust for Chinese
  and Korean, where word-based BLEU needs a tokenizer per language;
* **terms present**: of the glossary terms the engine enforced, the share
  whose approved target term is in the output;
* **placeholders lost**: of the protected spans (terms, codes, numbers) sent
  to the models, the share a model dropped (the engine puts them back at the
  end of the sentence, so this measures the model, not the output).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from glossary import LANGS
from glossary.normalize import normalize

from .engine import MissingModelError, TranslationEngine, TranslationError
from .memory import Unit


@dataclass
class PairScore:
    source: str
    target: str
    segments: int = 0
    chrf: float | None = None
    terms: int = 0
    terms_present: int = 0
    placeholders: int = 0
    placeholders_lost: int = 0
    shortcuts: int = 0  # answered without a model (a whole glossary term, nothing to translate)
    failed: int = 0  # segments the engine refused (too long...)
    error: str | None = None  # the whole pair could not run (no model)
    hypotheses: list[str] = field(default_factory=list, repr=False)
    references: list[str] = field(default_factory=list, repr=False)

    @property
    def pair(self) -> str:
        return f"{self.source}_{self.target}"

    @property
    def terms_share(self) -> float | None:
        return self.terms_present / self.terms if self.terms else None

    @property
    def placeholders_lost_share(self) -> float | None:
        return self.placeholders_lost / self.placeholders if self.placeholders else None

    def to_json(self) -> dict:
        return {
            "pair": self.pair, "source": self.source, "target": self.target,
            "segments": self.segments, "chrf": None if self.chrf is None else round(self.chrf, 2),
            "terms": self.terms, "terms_present": self.terms_present,
            "terms_share": _round(self.terms_share),
            "placeholders": self.placeholders, "placeholders_lost": self.placeholders_lost,
            "placeholders_lost_share": _round(self.placeholders_lost_share),
            "shortcuts": self.shortcuts, "failed": self.failed, "error": self.error,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def segment_pairs(units: list[Unit], target: str, source: str | None = None
                  ) -> dict[str, list[tuple[str, str]]]:
    """{source language: [(source text, reference)]} from the units."""
    out: dict[str, list[tuple[str, str]]] = {}
    for unit in units:
        reference = unit.variants.get(target)
        if not reference:
            continue
        for lang, text in unit.variants.items():
            if lang == target or (source is not None and lang != source) or not text:
                continue
            out.setdefault(lang, []).append((text, reference))
    return {lang: out[lang] for lang in LANGS if lang in out}


def evaluate(engine: TranslationEngine, units: list[Unit], target: str, source: str | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> list[PairScore]:
    """Score the engine on ``units`` into ``target``; one PairScore per source language.

    ``progress(pair, done, total)`` is called after each segment."""
    import sacrebleu  # here: only this command needs it

    if target not in LANGS:
        raise TranslationError(f"unknown target language {target!r} (one of: {', '.join(LANGS)})")
    scores = []
    for lang, pairs in segment_pairs(units, target, source).items():
        score = PairScore(lang, target)
        scores.append(score)
        for done, (text, reference) in enumerate(pairs, 1):
            try:
                result = engine.translate(text, target, source=lang)
            except MissingModelError as exc:
                score.error = str(exc)
                break
            except TranslationError:
                score.failed += 1
                continue
            score.segments += 1
            score.hypotheses.append(result.text)
            score.references.append(reference)
            if result.provenance in ("glossary", "unchanged"):
                score.shortcuts += 1
            output = normalize(result.text)
            score.terms += len(result.terms)
            score.terms_present += sum(normalize(t.target) in output for t in result.terms)
            score.placeholders += result.placeholders
            score.placeholders_lost += result.placeholders_lost
            if progress is not None:
                progress(score.pair, done, len(pairs))
        if score.hypotheses:
            score.chrf = sacrebleu.corpus_chrf(score.hypotheses, [score.references]).score
    return scores
