"""Issue 17: TBX from any tool. Readers that import what they can and report
the rest, ids with provenance, the dialects read right, exports others read.
The files in tests/data/exchange/ are hand-written in the shapes real tools
write (see each file's comment)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glossary import exchange, store
from glossary.exchange import (
    EXPORT_MARK,
    lang_tag,
    normalise_id,
    read_glossary,
    read_tbx,
    read_tbx_reading,
    tbx_bytes,
)
from glossary.model import GlossaryError, Term
from tests.exchange_checks import (
    basic_rule_errors,
    relaxng_errors,
    schema,
    schematron_errors,
)
from tests.glossary.test_exchange import DATA, TBX_NS, concepts_st, keys, sample_concepts, tbx

FILES = DATA / "exchange"


def terms_of(concept, lang):
    return {(t.text, t.type, t.pos) for t in concept.terms if t.lang == lang}


# --------------------------------------------------------------------------
# 1. Import what can be imported, count the rest


def test_dct_file_imports_what_it_can_and_reports_the_rest():
    reading = read_tbx_reading(FILES / "dct_basic.tbx", "dct_basic.tbx")
    report = reading.report
    assert (report.held, report.imported, report.skipped_count) == (3, 2, 1)
    assert report.skipped == {"no term in zh, ko, ms, fr, en": [71]}
    assert report.languages == {"de": 1, "ja": 1, "yue": 1}  # Cantonese is not Mandarin
    assert "skipped 1 concept: no term in zh, ko, ms, fr, en (line 71)" in report.warnings()
    data = report.as_dict()
    assert (data["held"], data["imported"], data["skipped"]) == (3, 2, 1)
    json.dumps(data)  # the CLI's --json


@pytest.mark.parametrize("entry, reason", [
    ("<conceptEntry id='x'><langSec xml:lang='de'><termSec><term>Beschichter</term>"
     "</termSec></langSec></conceptEntry>", "no term in zh, ko, ms, fr, en"),
    ("<conceptEntry id='x'><descrip type='subjectField'>electrode</descrip></conceptEntry>", "no term"),
    ("<conceptEntry id='x'><langSec xml:lang='en'><termSec><term> </term></termSec></langSec></conceptEntry>",
     "no term in zh, ko, ms, fr, en"),
    ("<conceptEntry id='x'><langSec><termSec><term>x</term></termSec></langSec></conceptEntry>",
     "no term in zh, ko, ms, fr, en"),
    ("<conceptEntry id='c1'><langSec xml:lang='en'><termSec><term>again</term></termSec></langSec></conceptEntry>",
     "its id is already used on line 4"),
    ("<conceptEntry id='x'><langSec xml:lang='en'><termSec><term>a|b</term></termSec></langSec></conceptEntry>",
     "no term in zh, ko, ms, fr, en"),
])
def test_one_bad_entry_is_skipped_not_the_file(entry, reason):
    good = ("<conceptEntry id='c1'><langSec xml:lang='en'><termSec><term>coater</term></termSec>"
            "</langSec></conceptEntry>")
    concepts, report = exchange.read_tbx_report(tbx(good + "\n" + entry + "\n" + good.replace("c1", "c2")
                                                    .replace("coater", "tab")))
    assert [c.id for c in concepts] == ["c1", "c2"]
    assert report.skipped == {reason: [5]}


def test_malformed_file_is_still_refused_whole():
    with pytest.raises(GlossaryError, match="line 6: malformed XML"):
        read_tbx(tbx("<conceptEntry id='c1'><langSec xml:lang='en'><termSec><term>x</term></termSec>"
                     "</langSec></conceptEntry>\n<conceptEntry>"))


def test_cli_prints_the_report_and_json(run, tmp_path):
    result = run("glossary", "import", str(FILES / "dct_basic.tbx"))
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the console wraps long lines
    assert "3 concepts held, 2 imported, 1 skipped; 2 added" in output
    assert "no term in zh, ko, ms, fr, en (line 71)" in output
    result = run("glossary", "import", "--json", str(FILES / "dct_basic.tbx"))
    data = json.loads(result.output)
    assert (data["held"], data["imported"], data["unchanged"], data["source"]) == (3, 2, 2, "dct_basic.tbx")
    assert data["skipped_by_reason"] == {"no term in zh, ko, ms, fr, en": {"count": 1, "lines": [71]}}


# --------------------------------------------------------------------------
# 2. Ids with provenance


def _out(run, *args) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # the console wraps long lines


def _two_vendors(tmp_path):
    one = tmp_path / "ibm.tbx"
    other = tmp_path / "oracle.tbx"
    entry = ("<conceptEntry id='c1'><langSec xml:lang='en'><termSec><term>{en}</term></termSec></langSec>"
             "<langSec xml:lang='fr'><termSec><term>{fr}</term></termSec></langSec></conceptEntry>")
    one.write_bytes(tbx(entry.format(en="cell", fr="cellule")))
    other.write_bytes(tbx(entry.format(en="battery", fr="batterie")))
    return one, other


def test_two_files_c1_are_two_concepts_and_a_source_updates_its_own(run, tmp_path):
    one, other = _two_vendors(tmp_path)
    assert "1 added" in _out(run, "glossary", "import", str(one))
    assert "1 added" in _out(run, "glossary", "import", str(other))  # not "1 updated"
    assert "1 unchanged" in _out(run, "glossary", "import", str(one))
    one.write_bytes(one.read_bytes().replace(b"cellule", b"cellule de batterie"))
    assert "1 updated" in _out(run, "glossary", "import", str(one))
    # --source: the same file under another name is another source
    assert "1 added" in _out(run, "glossary", "import", "--source", "plant-b", str(one))
    from bot.storage import Storage

    with Storage(run.db) as s:
        rows = s.read(store.external_ids)
        concepts = s.read(store.load_concepts, [r[0] for r in rows])
    assert sorted((src, ext) for _, src, ext in rows) == [
        ("ibm.tbx", "c1"), ("oracle.tbx", "c1"), ("plant-b", "c1")]
    french = {c.preferred("fr").text for c in concepts.values()}
    assert french == {"cellule de batterie", "batterie"}


def test_our_own_export_is_merged_on_our_ids(run, tmp_path):
    out = tmp_path / "ours.tbx"
    assert run("glossary", "export", str(out)).exit_code == 0
    assert EXPORT_MARK.encode() in out.read_bytes()
    result = run("glossary", "import", str(out))
    output = " ".join(result.output.split())
    assert " 0 added, 0 updated" in output and "its own ids" in output


def test_ids_any_text_normalised_and_generated_ids_stable():
    assert normalise_id("coater") == "coater"
    assert normalise_id("5371_1436").startswith("x5371_1436.")
    assert normalise_id("c 1") != normalise_id("c_1")  # different ids never meet
    for text in ("涂布机", "", "a" * 200, "--", "1"):
        assert exchange.CONCEPT_ID_RE.fullmatch(normalise_id(text))
    first = read_tbx_reading(FILES / "martif_no_ids.tbx", "weblate.tbx")
    again = read_tbx_reading(FILES / "martif_no_ids.tbx", "weblate.tbx")
    assert [c.id for c in first.concepts] == [c.id for c in again.concepts]
    assert sorted(ext for _, ext in first.external.values()) == ["en:separator", "en:tab", "en:tab~2"]
    microsoft = read_tbx_reading(FILES / "microsoft_style.tbx", "ms.tbx")
    assert sorted(ext for _, ext in microsoft.external.values()) == ["5371 1437", "5371_1436"]
    assert len(microsoft.concepts) == 2


# --------------------------------------------------------------------------
# 3. Dialects read right


def test_dct_style_data_categories():
    reading = read_tbx_reading(FILES / "dct_basic.tbx", "dct_basic.tbx")
    calender, ocv = reading.concepts
    assert terms_of(calender, "en") == {("calender", "preferred", "noun"),
                                        ("roll press", "deprecated", "noun"),  # superseded
                                        ("CAL", "abbreviation", "noun")}  # shortForm
    assert {(t.text, t.type, t.gender) for t in calender.terms if t.lang == "fr"} == {
        ("calandre", "preferred", "f"), ("laminoir", "deprecated", "m")}
    assert terms_of(calender, "zh") == {("辊压机", "preferred", "noun")}  # zh-Hant-TW simplified
    assert calender.definitions["en"].startswith("Machine that presses")  # concept level, file's language
    assert calender.definitions["fr"].startswith("Machine qui comprime")  # language level
    assert calender.category == "general"
    notes = calender.notes.splitlines()
    assert "Subject field: Electrode manufacturing" in notes  # not silently "general"
    assert "Image: https://example.org/img/calender.jpg (calender.jpg)" in notes
    assert "en «calender» Context: Clean the calender rolls before each shift." in notes
    assert "Definition (en) Source: Line 2 SOP, rev. C" in notes
    assert "History: origination 2021-03-04 Lee" in notes
    assert ocv.category == "quality"
    assert {t.lang for t in ocv.terms} == {"en", "ko", "ms", "zh"}  # eng, kor, zsm, cmn-Hans
    assert ("OCV", "abbreviation", None) in terms_of(ocv, "en")  # acronym


def test_first_tbx_min_and_its_term_status():
    [concept] = read_tbx(FILES / "tbx_min_2014.tbx")
    assert concept.category == "safety"
    assert terms_of(concept, "en") == {("lockout-tagout", "preferred", "noun"),
                                       ("lock-out", "deprecated", None)}  # notRecommended
    assert terms_of(concept, "fr") == {("consignation", "admitted", "noun"),
                                       ("cadenassage", "deprecated", None)}  # obsolete
    assert "en «lockout-tagout» Customer: Plant B" in concept.notes


@pytest.mark.parametrize("note, value, expected", [
    ("administrativeStatus", "standardizedTerm-admn-sts", "preferred"),
    ("administrativeStatus", "supersededTerm-admn-sts", "deprecated"),
    ("normativeAuthorization", "deprecatedTerm", "deprecated"),
    ("normativeAuthorization", "admittedTerm", "admitted"),
    ("usageStatus", "notRecommended", "deprecated"),
    ("usageStatus", "preferred", "preferred"),
])
def test_status_categories(note, value, expected):
    data = tbx("<conceptEntry id='c1'><langSec xml:lang='en'><termSec><term>main</term></termSec>"
               f"<termSec><term>other</term><termNote type='{note}'>{value}</termNote></termSec>"
               "</langSec></conceptEntry>")
    [concept] = read_tbx(data)
    assert {t.text: t.type for t in concept.terms}["other"] == expected


@pytest.mark.parametrize("raw, lang, traditional", [
    ("zho", "zh", False), ("chi", "zh", False), ("kor", "ko", False), ("msa", "ms", False),
    ("zsm", "ms", False), ("fra", "fr", False), ("eng", "en", False), ("cmn-Hans", "zh", False),
    ("zh-cmn-Hans", "zh", False), ("zh-guoyu", "zh", False), ("zh-Hant", "zh", True),
    ("cmn-Hant-TW", "zh", True), ("zh-Hans-TW", "zh", False), ("ZH_tw", "zh", True),
    ("zh-yue", None, False), ("yue", None, False), ("yue-Hant-HK", None, False),
    ("zh-min-nan", None, False), ("wuu", None, False), ("ms-Arab", None, False),
    ("x-klingon", None, False), ("", None, False), ("de-DE", None, False), ("en-Latn-GB", "en", False),
])
def test_language_tags_by_bcp47(raw, lang, traditional):
    tag = lang_tag(raw)
    assert (tag.lang, tag.traditional) == (lang, traditional)


def test_declared_encodings_are_read():
    [concept] = read_tbx(FILES / "turkish_cp1254.tbx")
    assert terms_of(concept, "fr") == {("unité de charge", "preferred", None)}
    utf16 = tbx("<conceptEntry id='c1'><langSec xml:lang='fr'><termSec><term>enduiseuse é</term>"
                "</termSec></langSec></conceptEntry>").replace(b'"UTF-8"', b'"UTF-16"')
    for data in (b"\xff\xfe" + utf16.decode().encode("utf-16-le"), utf16.decode().encode("utf-16-be")):
        assert read_tbx(data)[0].terms == [Term("fr", "enduiseuse é")]
    with pytest.raises(GlossaryError, match="unknown encoding 'klingon-8'"):
        read_tbx(utf16.replace(b'"UTF-16"', b'"klingon-8"').replace("é".encode(), b"\xe9"))


# --------------------------------------------------------------------------
# 4. Exports others can read


def _everything():
    concepts = (exchange.read_file(DATA / "tbx_basic.tbx") + exchange.read_file(DATA / "tbx2008.tbx")
                + read_tbx(FILES / "dct_basic.tbx") + read_tbx(FILES / "tbx_min_2014.tbx")
                + [replace(c, id=f"s-{c.id}") for c in sample_concepts()])
    concepts[0].definitions["ms"] = "Definisi tanpa istilah."  # a definition with no term in its language
    return concepts


def test_tbx_basic_export_keeps_to_the_dialect_rules():
    assert basic_rule_errors(tbx_bytes(_everything())) == []


def test_tbx_basic_export_is_valid_against_the_published_schemas():
    data = tbx_bytes(_everything())
    assert relaxng_errors(schema("TBXcoreStructV03.rng"), data) == []
    assert schematron_errors(schema("TBX-Basic_DCA.sch"), data) == []


def test_the_schematron_runner_catches_what_it_should():
    bad = tbx("<conceptEntry id='c1'><admin type='elementWorkingStatus'>workingElement</admin>"
              "<langSec xml:lang='en'><termSec><term>x</term><termNote type='partOfSpeech'>properNoun"
              "</termNote></termSec></langSec></conceptEntry>")
    assert len(basic_rule_errors(bad)) == 2
    assert len(schematron_errors(schema("TBX-Basic_DCA.sch"), bad)) == 2


def test_tbx2008_export_round_trips_and_translate_toolkit_reads_it(tmp_path):
    from translate.storage.tbx import tbxfile

    concepts = _everything()
    data = tbx_bytes(concepts, "tbx2008")
    assert data.startswith(b"<?xml") and b"<martif" in data and TBX_NS.encode() not in data
    assert keys(read_tbx(data)) == keys(read_tbx(tbx_bytes(concepts)))
    out = tmp_path / "g.tbx"
    exchange.write_file(concepts, out, fmt="tbx2008")
    store_ = tbxfile.parsefile(str(out))
    assert len(store_.units) == len(concepts)
    assert store_.units[0].source == concepts[0].terms[0].text


def test_gender_survives_both_tbx_forms():
    concepts = read_tbx(FILES / "dct_basic.tbx")
    for dialect in ("tbx", "tbx2008"):
        again = read_tbx(tbx_bytes(concepts, dialect))
        genders = {(c.id, t.lang, t.text): t.gender for c in concepts for t in c.terms}
        assert {(c.id, t.lang, t.text): t.gender for c in again for t in c.terms} == genders
        assert genders[("c1", "fr", "calandre")] == "f"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(concepts_st(), max_size=4, unique_by=lambda c: c.id))
def test_random_concepts_round_trip_through_tbx2008(concepts):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.tbx"
        exchange.write_file(concepts, path, fmt="tbx2008")
        assert keys(exchange.read_file(path)) == keys(concepts)
        assert basic_rule_errors(tbx_bytes(concepts)) == []


def test_cli_exports_tbx2008(run, tmp_path):
    out = tmp_path / "g.tbx"
    result = run("glossary", "export", "--format", "tbx2008", str(out))
    assert result.exit_code == 0, result.output
    assert b"<martif" in out.read_bytes()
    assert " 0 added, 0 updated" in " ".join(run("glossary", "import", str(out)).output.split())


def test_read_glossary_of_csv_keeps_its_ids(tmp_path):
    path = tmp_path / "g.csv"
    exchange.write_csv(sample_concepts(), path)
    reading = read_glossary(path)
    assert reading.report.native and reading.external == {}
    assert [c.id for c in reading.concepts] == ["coater", "ocv"]
