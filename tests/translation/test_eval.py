"""``shopbot eval FILE.tmx --to L``: chrF against the references, terms
present, placeholders lost, per language pair; with the tiny test models."""

from __future__ import annotations

import json

import pytest

from bot.translation.engine import TranslationEngine
from bot.translation.evaluate import evaluate, segment_pairs
from bot.translation.memory import Unit, read_tmx
from bot.translation.models import ModelStore

TMX = """<?xml version="1.0" encoding="UTF-8"?>
<tmx version="1.4"><header srclang="en" segtype="sentence" o-tmf="x" adminlang="en" datatype="plaintext"
 creationtool="t" creationtoolversion="1"/><body>
<tu><tuv xml:lang="en"><seg>The coater stopped with alarm E-203.</seg></tuv>
    <tuv xml:lang="fr"><seg>The enduiseuse stopped with alarm E-203.</seg></tuv>
    <tuv xml:lang="zh"><seg>涂布机报警 E-203 停机。</seg></tuv></tu>
<tu><tuv xml:lang="en"><seg>Check the tab and the electrolyte.</seg></tuv>
    <tuv xml:lang="fr"><seg>Vérifiez la languette et l'électrolyte.</seg></tuv></tu>
<tu><tuv xml:lang="en"><seg>coater</seg></tuv>
    <tuv xml:lang="fr"><seg>enduiseuse</seg></tuv></tu>
<tu><tuv xml:lang="en"><seg>No French here.</seg></tuv>
    <tuv xml:lang="ko"><seg>프랑스어 없음.</seg></tuv></tu>
</body></tmx>
"""


@pytest.fixture
def tmx(tmp_path):
    path = tmp_path / "ref.tmx"
    path.write_text(TMX, encoding="utf-8")
    return path


def engine_with(tmp_path, small, packages, kind, pairs):
    store = ModelStore(tmp_path / f"models-{kind}")
    store.install([packages[kind][p] for p in pairs])
    return TranslationEngine(store, small, None)


def test_segment_pairs(tmx):
    pairs = segment_pairs(read_tmx(tmx), "fr")
    assert list(pairs) == ["zh", "en"]
    assert len(pairs["en"]) == 3 and len(pairs["zh"]) == 1
    assert segment_pairs(read_tmx(tmx), "fr", source="zh").keys() == {"zh"}


def test_copy_model_scores(tmp_path, small, packages, tmx):
    engine = engine_with(tmp_path, small, packages, "copy", ("en_fr", "zh_en"))
    seen = []
    scores = {s.pair: s for s in evaluate(engine, read_tmx(tmx), "fr", progress=lambda *a: seen.append(a))}
    engine.close()
    en = scores["en_fr"]
    assert en.segments == 3 and en.error is None and en.shortcuts == 1  # « coater »: the glossary
    assert 0 < en.chrf < 100
    assert en.terms == 4 and en.terms_present == 4 and en.terms_share == 1.0  # coater x2, tab, electrolyte
    assert en.placeholders == 4 and en.placeholders_lost == 0  # the copy model keeps every tag
    assert seen[-1] == ("en_fr", 3, 3)
    # zh→fr needs en→fr after zh→en: both installed, so it runs through the pivot
    assert scores["zh_fr"].segments == 1 and scores["zh_fr"].chrf is not None
    data = en.to_json()
    assert data["pair"] == "en_fr" and data["terms_share"] == 1.0 and data["placeholders_lost_share"] == 0.0


def test_a_perfect_output_scores_100(tmp_path, small, packages):
    engine = engine_with(tmp_path, small, packages, "copy", ("en_fr",))
    units = [Unit({"en": "The coater stopped.", "fr": "The enduiseuse stopped."})]
    [score] = evaluate(engine, units, "fr")
    engine.close()
    assert score.chrf == pytest.approx(100.0)


def test_a_random_model_loses_placeholders_and_the_terms_still_come_back(tmp_path, small, packages, tmx):
    engine = engine_with(tmp_path, small, packages, "random", ("en_fr",))
    [score] = evaluate(engine, read_tmx(tmx), "fr", source="en")
    engine.close()
    assert score.placeholders == 4 and score.placeholders_lost > 0
    assert score.terms_share == 1.0  # put back by the engine
    assert score.chrf is not None and score.chrf < 50


def test_a_pair_without_model_is_reported(tmp_path, small, packages, tmx):
    engine = engine_with(tmp_path, small, packages, "copy", ("en_fr",))
    scores = {s.pair: s for s in evaluate(engine, read_tmx(tmx), "fr")}
    engine.close()
    assert "zh→en" in scores["zh_fr"].error and scores["zh_fr"].chrf is None
    assert scores["en_fr"].chrf is not None


def test_cli_eval_json_and_text(run, tmx, tmp_path, packages, monkeypatch):
    models = tmp_path / "cli-models"
    ModelStore(models).install([packages["copy"]["en_fr"], packages["copy"]["zh_en"]])
    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(models))
    result = run("eval", str(tmx), "--to", "fr", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["target"] == "fr" and [p["pair"] for p in data["pairs"]] == ["zh_fr", "en_fr"]
    assert all(p["chrf"] is not None for p in data["pairs"])
    text = run("eval", str(tmx), "--to", "fr", "--from", "en")
    assert text.exit_code == 0 and "en→fr" in text.output and "chrF" in text.output


def test_cli_eval_bad_input(run, tmx, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(tmp_path / "none"))
    missing = run("eval", str(tmx), "--to", "fr", "--from", "en")
    assert missing.exit_code == 1 and "shopbot models download en fr" in missing.output
    nothing = run("eval", str(tmx), "--to", "ms")
    assert nothing.exit_code == 1 and "no unit has both" in nothing.output
    bad = tmp_path / "bad.tmx"
    bad.write_bytes(b"\xff\xfe<tmx")
    broken = run("eval", str(bad), "--to", "fr")
    assert broken.exit_code == 1 and "Error:" in broken.output
