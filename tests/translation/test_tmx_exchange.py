"""Issue 17: TMX as CAT tools write it. Encodings and language codes, units
skipped and counted, inline codes kept both ways, merging that does not
depend on the order of units, exports valid against the TMX 1.4b DTD and
read by translate-toolkit."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from bot.translation.memory import (
    TranslationMemory,
    Unit,
    all_units,
    import_units,
    read_tmx,
    read_tmx_report,
    tmx_bytes,
)
from glossary.exchange import XML_LANG
from tests.exchange_checks import dtd_errors, schema

FILES = Path(__file__).resolve().parents[1] / "data" / "exchange"


def test_utf16_cat_file_with_three_letter_codes():
    units, report = read_tmx_report(FILES / "cat_utf16.tmx")
    assert (report.held, report.imported, report.skipped_count) == (5, 3, 2)
    # tu 3: English and German; tu 5: Cantonese and English.
    assert report.skipped == {"fewer than two of our languages (zh, ko, ms, fr, en)": [18, 28]}
    assert report.languages == {"deu": 1, "yue": 1, "zh-yue": 1}
    press, speed, gloves = units
    assert press.variants == {"en": "Press Start to run the coater.",
                              "fr": "Appuyez sur Start pour lancer l'enduiseuse."}
    assert press.changed == "2023-01-05T10:15:00+00:00"
    assert speed.variants["en"] == "Set the speed to m/min."  # one space where the code was
    assert speed.variants["zh"] == "将速度设为 米/分钟。"  # cmn-Hans; the zh-yue variant is not Mandarin
    assert set(gloves.variants) == {"en", "ko", "ms", "zh"}  # kor, msa, zh-Hant
    assert gloves.variants["zh"] == "在干燥室请戴手套。"  # Traditional made Simplified
    assert gloves.markup["en"] == 'Wear <hi type="b">gloves</hi> in the dry room.'
    assert press.markup["fr"] == ('Appuyez sur <bpt i="1">&lt;b&gt;</bpt>Start<ept i="1">&lt;/b&gt;</ept> '
                                  "pour lancer l'enduiseuse.")


def test_inline_codes_survive_the_database_and_the_export(empty_storage):
    units = read_tmx(FILES / "cat_utf16.tmx")
    empty_storage.write(import_units, units, "tests")
    stored = empty_storage.read(all_units)
    assert [u.markup for u in stored] == [u.markup for u in units]
    data = tmx_bytes(stored)
    assert b'<seg>Set the speed to <ph x="1">{0}</ph> m/min.</seg>' in data
    again = read_tmx(data)
    assert [(u.variants, u.markup) for u in again] == [(u.variants, u.markup) for u in units]
    tm = TranslationMemory(empty_storage.conn)
    assert tm.lookup("Press Start to run the coater", "en", "fr").text == "Appuyez sur Start pour lancer l'enduiseuse."


def test_export_is_valid_tmx_and_translate_toolkit_reads_it(empty_storage):
    from translate.storage.tmx import tmxfile

    empty_storage.write(import_units, read_tmx(FILES / "cat_utf16.tmx") + read_tmx(FILES / "duplicates.tmx"),
                        "tests")
    data = tmx_bytes(empty_storage.read(all_units))
    store = tmxfile.parsestring(data)
    pairs = {(u.source, u.target) for u in store.units}
    assert ("Press <b>Start</b> to run the coater.",
            "Appuyez sur <b>Start</b> pour lancer l'enduiseuse.") in pairs
    assert ("Check the electrolyte level.", "Contrôler le niveau de l'électrolyte.") in pairs  # the alternative
    assert dtd_errors(schema("tmx14.dtd"), data) == []


def _state(storage):
    return sorted((tuple(sorted(u.variants.items())), tuple(sorted(a[:2] for a in u.alternatives)))
                  for u in storage.read(all_units))


def test_duplicates_keep_both_the_newer_preferred_whatever_the_order(tmp_path):
    from bot.storage import Storage

    units = read_tmx(FILES / "duplicates.tmx")
    states, reports = [], []
    for name, order in (("forward", units), ("backward", units[::-1])):
        with Storage(tmp_path / f"{name}.db", seed=False) as storage:
            reports.append(storage.write(import_units, order, "tests"))
            states.append(_state(storage))
            again = storage.write(import_units, order, "tests")  # importing again changes nothing
            assert (again.added, again.updated, again.alternatives) == (0, 0, 0)
    assert states[0] == states[1]
    electrolyte = next(s for s in states[0] if ("en", "Check the electrolyte level.") in s[0])
    assert ("fr", "Vérifiez le niveau d'électrolyte.") in electrolyte[0]  # 2024 beats 2019
    assert electrolyte[1] == (("fr", "Contrôler le niveau de l'électrolyte."),)
    door = next(s for s in states[0] if ("en", "Close the door.") in s[0])
    assert len(door[1]) == 1  # no dates: one kept, the other an alternative, either order
    assert [r.alternatives for r in reports] == [2, 2]
    assert "2 other translation(s) of a source already held kept as alternatives" in str(reports[0])


def test_alternatives_go_out_and_come_back_as_alternatives(empty_storage, tmp_path):
    from bot.storage import Storage

    empty_storage.write(import_units, read_tmx(FILES / "duplicates.tmx"), "tests")
    data = tmx_bytes(empty_storage.read(all_units))
    with Storage(tmp_path / "other.db", seed=False) as other:
        other.write(import_units, read_tmx(data), "tests")
        assert _state(other) == _state(empty_storage)


def test_a_later_import_is_newer_than_an_earlier_one(empty_storage):
    empty_storage.write(import_units, [Unit({"en": "Open the valve.", "fr": "Ouvrez la vanne."})], "t")
    report = empty_storage.write(import_units, [Unit({"en": "Open the valve.", "fr": "Ouvrir la vanne."})], "t")
    assert (report.updated, report.alternatives) == (1, 1)
    [unit] = empty_storage.read(all_units)
    assert unit.variants["fr"] == "Ouvrir la vanne."
    assert [a[:2] for a in unit.alternatives] == [("fr", "Ouvrez la vanne.")]


def test_cli_memory_import_report(run):
    result = run("memory", "import", str(FILES / "cat_utf16.tmx"))
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the console wraps long lines
    assert "5 units held, 3 imported, 2 skipped" in output
    assert "fewer than two of our languages (zh, ko, ms, fr, en) (line 18, 28)" in output
    data = json.loads(run("memory", "import", "--json", str(FILES / "duplicates.tmx")).output)
    assert (data["held"], data["imported"], data["alternatives"]) == (4, 4, 2)


def test_an_alternative_is_written_as_a_unit_of_its_own_with_its_unit_s_details():
    """The alternative's unit: the unit with that one translation swapped,
    unreviewed, with the unit's origin and note, the other languages' codes
    and its own; its source language is one it shares with the unit."""
    unit = Unit({"en": "Stop the <b>line</b>.", "fr": "Arrêtez la ligne.", "zh": "停线。"}, id=7, status="approved",
                origin="correction", note="From fix 12.", changed="2026-01-02T03:04:05+00:00",
                markup={"en": "Stop the <bpt i='1'>&lt;b&gt;</bpt>line<ept i='1'>&lt;/b&gt;</ept>.",
                        "fr": "Arrêtez <ph>{1}</ph>la ligne."},
                alternatives=[("fr", "Stoppez la ligne.", "Stoppez <ph>{1}</ph>la ligne.", "2025-05-06T07:08:09+00:00"),
                              ("en", "Halt the line.", "", "")])
    root = etree.fromstring(tmx_bytes([unit], srclang="en"))
    first, fr_alt, en_alt = root.find("body").findall("tu")

    def props(tu):
        return {p.get("type"): p.text for p in tu.findall("prop")}

    assert props(fr_alt) == {"x-shopbot-status": "unreviewed", "x-shopbot-origin": "correction",
                             "x-shopbot-alternative-of": "7"}
    assert fr_alt.findtext("note") == "From fix 12." and fr_alt.get("changedate") == "20250506T070809Z"
    assert fr_alt.get("srclang") is None  # English, the header's, is in both
    segs = {tuv.get(XML_LANG): tuv.find("seg") for tuv in fr_alt.findall("tuv")}
    assert [el.tag for el in segs["fr"]] == ["ph"] and "".join(segs["fr"].itertext()) == "Stoppez {1}la ligne."
    assert [el.tag for el in segs["en"]] == ["bpt", "ept"]  # the unit's other codes are kept
    # The English alternative: plain text, its codes not the unit's; its source is French.
    assert en_alt.get("srclang") == "fr" and props(en_alt)["x-shopbot-alternative-of"] == "7"
    en = [tuv for tuv in en_alt.findall("tuv") if tuv.get(XML_LANG) == "en"]
    assert len(en) == 1 and en[0].findtext("seg") == "Halt the line." and len(en[0].find("seg")) == 0


def test_an_alternative_s_source_is_the_header_s_language_when_it_can_be():
    units = [Unit({"fr": "Arrêtez.", "en": "Stop.", "zh": "停。"}, id=1, alternatives=[("zh", "停止。", "", "")]),
             Unit({"zh": "涂布机", "ko": "코터"}, id=2, alternatives=[("ko", "도포기", "", "")])]
    tus = etree.fromstring(tmx_bytes(units, srclang="en")).find("body").findall("tu")
    # English is in the first alternative: no srclang of its own (the header's).
    # The second has no English: its source is Chinese, written as TMX writes it.
    assert [tu.get("srclang") for tu in tus] == [None, None, None, "zh-CN"]
