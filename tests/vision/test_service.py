"""PhotoService: the report a person gets (translations or glossary terms,
concepts, codes with their approved fixes), its limits (one photo at a time
per person, a bounded queue), and `shopbot read`."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.translation.engine import TranslationEngine
from bot.translation.memory import TranslationMemory
from bot.translation.models import ModelStore
from bot.vision.service import PhotoBusy, PhotoService
from glossary import Glossary

from .conftest import DATA, image

ZH_ALARM = "zh-1-screen.jpg"  # 涂布机 放卷张力报警 / 报警代码 E-203 ...


def service_for(storage, models: ModelStore | None, **kw) -> PhotoService:
    glossary = Glossary(storage.conn)
    engine = TranslationEngine(models, glossary, TranslationMemory(storage.conn)) if models else None
    return PhotoService(storage, glossary, lambda: engine, **kw)


@pytest.fixture
def no_models(tmp_path):
    return ModelStore(tmp_path / "no-models")


@pytest.fixture
def copy_models(tmp_path, packages):
    store = ModelStore(tmp_path / "models")
    store.install([packages["copy"]["zh_en"], packages["copy"]["en_fr"]])
    return store


def test_a_chinese_alarm_screen_without_models_gives_terms_codes_and_the_fix(storage, no_models, ocr_models):
    service = service_for(storage, no_models)
    report = service.report(service.read(image(ZH_ALARM)), "fr")
    assert not report.unsure and report.confidence >= 70
    assert ("zh", "en") in report.missing  # the hint: shopbot models download zh en
    first = report.lines[0]
    assert first.translation is None and ("涂布机", "enduiseuse") in first.terms
    assert "coater" in [c.concept_id for c in report.concepts]
    assert report.concepts[0].equipment  # the machine first
    [code] = report.codes
    assert code.code == "E-203"
    assert [f.slug for f in code.fixes] == ["coater-unwind-tension-alarm"]
    assert code.fixes[0].lang == "fr"  # the fix's French text for a French reader
    data = report.to_json()
    assert data["codes"] == ["E-203"] and data["fixes"][0]["slug"] == "coater-unwind-tension-alarm"
    assert set(data["lines"][0]) >= {"text", "lang", "confidence", "box"}


def test_with_models_each_line_is_translated_with_the_glossary_enforced(storage, copy_models, ocr_models):
    """Copy models (tests/argos_factory.py) echo their input: what is French
    in the output comes from the glossary's enforced terms."""
    service = service_for(storage, copy_models)
    report = service.report(service.read(image(ZH_ALARM)), "fr")
    first = report.lines[0]
    assert first.translation and "enduiseuse" in first.translation
    assert first.route == "zh→en→fr" and first.provenance == "machine"
    assert "E-203" in report.lines[1].translation  # codes pass through untouched
    assert report.missing == []


def test_a_line_already_in_the_readers_language_is_left_as_it_is(storage, no_models, ocr_models):
    service = service_for(storage, no_models)
    report = service.report(service.read(image("fr-1-screen.jpg")), "fr")
    assert [line.provenance for line in report.lines] == ["unchanged"] * len(report.lines)
    assert report.missing == []


def test_an_unsure_reading_holds_nothing(storage, no_models, ocr_models):
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.effect_noise((900, 600), 90).convert("RGB").save(buf, "JPEG")
    service = service_for(storage, no_models)
    report = service.report(service.read(buf.getvalue()), "fr")
    assert report.unsure
    assert report.lines == [] and report.codes == [] and report.concepts == []


async def test_one_photo_at_a_time_per_person_and_a_bounded_queue(storage, no_models, ocr_models):
    service = service_for(storage, no_models, queue=1)
    try:
        first = asyncio.create_task(service.aread(image(ZH_ALARM), who=7))
        await asyncio.sleep(0)  # the first is on the OCR thread now
        with pytest.raises(PhotoBusy) as mine:
            await service.aread(image(ZH_ALARM), who=7)
        with pytest.raises(PhotoBusy) as full:
            await service.aread(image(ZH_ALARM), who=8)
        assert (mine.value.reason, full.value.reason) == ("yours", "full")
        reading = await first
        assert "E-203" in reading.codes
        report = await service.areport(reading, "ko")
        assert "E-203" in [c.code for c in report.codes]
        # Done: the same person may send the next one.
        assert (await service.aread(image("en-4-popup.jpg"), who=7)).codes == ["E1203"]
    finally:
        service.close()


def test_cli_read_json(run, ocr_models):
    result = run("read", str(DATA / ZH_ALARM), "--to", "fr", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["codes"] == ["E-203"]
    assert {"id", "slug"} <= set(data["fixes"][0]) and data["fixes"][0]["slug"] == "coater-unwind-tension-alarm"
    assert "coater" in data["concepts"]
    assert all({"text", "lang", "confidence", "box"} <= set(line) for line in data["lines"])
    assert data["lines"][0]["lang"] == "zh"


def test_cli_read_text_and_refusals(run, tmp_path, ocr_models):
    result = run("read", str(DATA / "ko-1-screen.jpg"), "--lang", "ko")
    assert result.exit_code == 0, result.output
    assert "E-1207" in result.output and "calender-thickness-out-of-tolerance" in result.output
    bad = tmp_path / "notes.jpg"
    bad.write_text("<b>hello</b>", encoding="utf-8")
    result = run("read", str(bad))
    assert result.exit_code == 1 and "Error: this is not a JPEG, PNG or WebP image" in result.output
