"""Tests for glossary.exchange: CSV and TBX import/export."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from glossary import exchange
from glossary.exchange import (
    CSV_COLUMNS,
    FORMATS,
    MAX_INPUT_BYTES,
    XML_LANG,
    ReadReport,
    concept_id_for,
    normalise_id,
    read_bytes,
    read_csv,
    read_file,
    read_file_report,
    read_glossary,
    read_tbx,
    read_tbx_reading,
    read_tbx_report,
    write_csv,
    write_file,
    write_tbx,
)
from glossary.model import (
    CATEGORIES,
    CONCEPT_ID_RE,
    LANGS,
    PARTS_OF_SPEECH,
    STATUSES,
    TERM_TYPES,
    Concept,
    GlossaryError,
    Term,
)

DATA = Path(__file__).resolve().parents[1] / "data"
TBX_NS = "urn:iso:std:iso:30042:ed-2"
FORMULA = "=cmd|' /C calc'!A0"


def keys(concepts):
    return [c.key() for c in concepts]


def by_id(concepts):
    return {c.id: c for c in concepts}


def terms_of(concept, lang):
    return {(t.text, t.type, t.pos) for t in concept.terms if t.lang == lang}


def csv_bytes(*rows: str) -> bytes:
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def sample_concepts() -> list[Concept]:
    """Concepts that exercise every column and escape."""
    return [
        Concept(
            id="coater",
            category="electrode",
            equipment=True,
            status="reviewed",
            source="@line-3 list",
            notes=f"Two of them.\nSee also {FORMULA}, \"quoted\", a | bar",
            terms=[
                Term("zh", "涂布机", "preferred", "noun"),
                Term("zh", "涂覆机", "admitted", "noun"),
                Term("ko", "코터", "preferred", "noun"),
                Term("ms", "mesin salutan", "preferred"),
                Term("fr", "enduiseuse", "preferred", "noun"),
                Term("en", "coater", "preferred", "noun"),
                Term("en", "coat", "admitted", "verb"),
                Term("en", "-ve coater", "deprecated"),
            ],
            definitions={"en": "Applies slurry to foil.", "zh": "涂覆浆料的设备。"},
        ),
        Concept(
            id="ocv",
            category="finishing",
            terms=[
                Term("en", "open-circuit voltage", "preferred", "noun"),
                Term("en", "OCV", "abbreviation", "noun"),
                Term("en", "+OCV", "abbreviation", "noun"),
                Term("zh", "开路电压"),
                Term("zh", "OCV", "abbreviation"),
            ],
        ),
    ]


# --------------------------------------------------------------------------
# Fixtures: the two hand-written TBX files


def test_tbx_basic_fixture():
    concepts, skipped = read_tbx_report(DATA / "tbx_basic.tbx")
    assert [c.id for c in concepts] == ["coater", "ocv-test", "tab-welding", "mes"]
    assert skipped.languages == {"de": 1}
    c = by_id(concepts)

    coater = c["coater"]
    assert (coater.category, coater.equipment, coater.status) == ("electrode", True, "reviewed")
    assert coater.source == "Line 3 equipment list, rev. B"
    assert coater.notes == "Slot-die coater; the cathode line has two."
    # zh-TW 塗佈機 is the same term as zh-CN 涂布机 once simplified: not doubled.
    assert terms_of(coater, "zh") == {("涂布机", "preferred", "noun"), ("涂覆机", "admitted", "noun")}
    assert terms_of(coater, "ko") == {("코터", "preferred", "noun"), ("코팅기", "admitted", "noun")}
    assert terms_of(coater, "ms") == {("mesin salutan", "preferred", "noun")}
    assert terms_of(coater, "en") == {("coater", "preferred", "noun"), ("coating machine", "admitted", "noun")}
    assert coater.definitions == {
        "zh": "将浆料均匀涂覆在集流体箔材上的设备。",
        "fr": "Machine qui dépose la pâte d'électrode sur le feuillard.",
        # Whitespace around a pretty-printed definition is dropped.
        "en": "Machine that applies electrode slurry evenly onto the current-collector foil.",
    }

    ocv = c["ocv-test"]
    assert (ocv.category, ocv.equipment, ocv.status) == ("finishing", False, "draft")
    assert ("OCV", "abbreviation", "noun") in terms_of(ocv, "zh")  # termType acronym
    assert ("OCV", "abbreviation", None) in terms_of(ocv, "ko")  # termType, no status
    assert terms_of(ocv, "ms") == {("ujian voltan litar terbuka", "preferred", "noun")}
    assert ocv.preferred("en").text == "open-circuit voltage test"

    weld = c["tab-welding"]
    assert weld.status == "draft"  # no elementWorkingStatus
    assert terms_of(weld, "en") == {
        ("tab welding", "preferred", "noun"),
        ("weld the tabs", "admitted", "verb"),
        ("ear welding", "deprecated", "noun"),
    }
    assert terms_of(weld, "ko") == {("탭 용접", "preferred", "noun")}  # first, no status

    mes = c["mes"]
    assert mes.category == "general"  # free-text subjectField
    assert terms_of(mes, "en") == {
        ("Manufacturing Execution System", "preferred", "noun"),  # properNoun -> noun
        ("MES", "abbreviation", "noun"),  # initialism
    }


def test_tbx2008_fixture():
    concepts, warnings = read_file_report(DATA / "tbx2008.tbx")
    assert "skipped 2 term(s) in language 'ja'" in warnings
    c = by_id(concepts)
    assert list(c) == ["E0001", "E0002", "E0003", "E0004"]

    coater = c["E0001"]
    assert (coater.category, coater.status) == ("general", "reviewed")  # finalizedElement
    # zh-TW converted to Simplified.
    assert terms_of(coater, "zh") == {("涂布机", "preferred", "noun"), ("涂布设备", "admitted", None)}
    assert terms_of(coater, "ko") == {("코터", "preferred", "noun")}  # ntig/termGrp/termNoteGrp
    assert terms_of(coater, "ms") == {("mesin penyalut", "preferred", None)}
    assert coater.definitions == {"en": "Machine that coats electrode slurry onto metal foil."}
    assert coater.source == ""  # the definition's source (in descripGrp) is not the concept's

    separator = c["E0002"]
    assert separator.category == "materials"
    assert separator.source == "GB/T 36363-2018"
    assert separator.notes == 'The supplier datasheet says "diaphragm".'
    # termEntry-level definition becomes English; fr comes from its descripGrp.
    assert separator.definitions["en"].startswith("Porous polymer film")
    assert separator.definitions["fr"].startswith("Film polymère poreux")
    assert ("diaphragm", "deprecated", "noun") in terms_of(separator, "en")  # superseded
    assert terms_of(separator, "zh") == {("隔膜", "preferred", "noun"), ("隔离膜", "admitted", "noun")}

    degassing = c["E0003"]
    assert terms_of(degassing, "en") == {("degassing", "preferred", "noun"), ("degas", "admitted", "verb")}
    assert degassing.definitions == {"fr": "Retrait des gaz formés dans la cellule pendant la formation."}

    agv = c["E0004"]
    assert (agv.category, agv.equipment) == ("logistics_it", True)
    assert ("AGV", "abbreviation", None) in terms_of(agv, "en")
    assert ("AGV小车", "abbreviation", None) in terms_of(agv, "zh")  # shortForm
    assert ("chariot filoguidé", "deprecated", "noun") in terms_of(agv, "fr")


@pytest.mark.parametrize("lang", ["zh-TW", "zh-HK", "zh-Hant", "zh_hant_tw", "ZH-tw"])
def test_traditional_chinese_is_simplified(lang):
    tbx = f"""<?xml version="1.0" encoding="UTF-8"?>
<tbx type="TBX-Basic" style="dca" xml:lang="en" xmlns="{TBX_NS}"><text><body>
<conceptEntry id="c1"><langSec xml:lang="{lang}">
<descrip type="definition">塗佈機的定義</descrip>
<termSec><term>塗佈機</term></termSec></langSec></conceptEntry>
</body></text></tbx>""".encode()
    [concept] = read_tbx(tbx)
    assert concept.terms == [Term("zh", "涂布机", "preferred")]
    assert concept.definitions == {"zh": "涂布机的定义"}


@pytest.mark.parametrize(
    "raw, lang",
    [("zh-CN", "zh"), ("zh-SG", "zh"), ("zh-Hans", "zh"), ("ko-KR", "ko"), ("ms-MY", "ms"),
     ("fr-CA", "fr"), ("en-GB", "en"), ("EN_us", "en")],
)
def test_language_codes(raw, lang):
    tbx = f"""<martif type="TBX"><text><body><termEntry id="c1">
<langSet xml:lang="{raw}"><tig><term>涂布机</term></tig></langSet>
</termEntry></body></text></martif>""".encode()
    assert read_tbx(tbx)[0].terms == [Term(lang, "涂布机", "preferred")]


# --------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("name", ["tbx_basic.tbx", "tbx2008.tbx"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_fixture_round_trips(tmp_path, name, fmt):
    concepts = read_file(DATA / name)
    out = tmp_path / f"out.{fmt}"
    write_file(concepts, out)
    again = read_file(out)
    assert keys(again) == keys(concepts)
    # ...and once more, so that a written file also reads back to itself.
    write_file(again, out)
    assert keys(read_file(out)) == keys(concepts)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sample_round_trips(tmp_path, fmt):
    path = tmp_path / "glossary.out"
    write_file(sample_concepts(), path, fmt=fmt)
    assert keys(read_file(path, fmt=fmt)) == keys(sample_concepts())


def test_csv_round_trip_from_hand_written_csv(tmp_path):
    source = csv_bytes(
        "\ufeffid,category,equipment,en,en_admitted,en_pos,zh,zh_abbreviation,zh_pos,fr_definition",
        'coater,electrode,YES,coater,coating machine | coat ,coater=noun | coat=verb,涂布机,,noun,"Machine, large"',
        "ocv,finishing,,open-circuit voltage,,,开路电压,OCV,,",
    )
    concepts = read_csv(source)
    coater, ocv = concepts
    assert coater.equipment is True
    assert terms_of(coater, "en") == {
        ("coater", "preferred", "noun"), ("coating machine", "admitted", None), ("coat", "admitted", "verb")
    }
    assert terms_of(coater, "zh") == {("涂布机", "preferred", "noun")}
    assert coater.definitions == {"fr": "Machine, large"}
    assert terms_of(ocv, "zh") == {("开路电压", "preferred", None), ("OCV", "abbreviation", None)}
    out = tmp_path / "g.csv"
    write_csv(concepts, out)
    assert keys(read_csv(out)) == keys(concepts)
    assert keys(read_csv(out.read_bytes())) == keys(concepts)


# Hypothesis: any valid concepts survive both formats.

_EXTRA = st.sampled_from(list("0123456789 -=+@'&<>\"/().,;:%#") + ["😀", "🔋", "⚡"])
_TERM_CHAR = st.one_of(st.characters(categories=["L"]), _EXTRA)
_TEXT_CHAR = st.one_of(_TERM_CHAR, st.sampled_from(["\n", "\t", "\r", "|"]))
term_texts = st.text(_TERM_CHAR, min_size=1, max_size=30).map(str.strip).filter(bool)
free_texts = st.text(_TEXT_CHAR, max_size=60).map(str.strip)


@st.composite
def concepts_st(draw):
    pairs = draw(st.lists(st.tuples(st.sampled_from(LANGS), term_texts),
                          min_size=1, max_size=8, unique=True))
    terms = [
        Term(lang, text, draw(st.sampled_from(TERM_TYPES)),
             draw(st.none() | st.sampled_from(PARTS_OF_SPEECH)))
        for lang, text in pairs
    ]
    return Concept(
        id=draw(st.from_regex(CONCEPT_ID_RE, fullmatch=True)),
        category=draw(st.sampled_from(CATEGORIES)),
        equipment=draw(st.booleans()),
        status=draw(st.sampled_from(STATUSES)),
        source=draw(free_texts),
        notes=draw(free_texts),
        terms=terms,
        definitions=draw(st.dictionaries(st.sampled_from(LANGS), free_texts.filter(bool), max_size=3)),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(concepts_st(), max_size=4, unique_by=lambda c: c.id))
def test_random_concepts_round_trip(concepts):
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            path = Path(tmp) / f"g.{fmt}"
            write_file(concepts, path)
            assert keys(read_file(path)) == keys(concepts), fmt


# --------------------------------------------------------------------------
# What the written files look like


def test_written_csv_has_bom_header_and_escaped_formulas(tmp_path):
    out = tmp_path / "g.csv"
    write_csv(sample_concepts(), out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    coater = dict(zip(rows[0], rows[1]))
    assert coater["equipment"] == "yes"
    assert coater["source"] == "'@line-3 list"
    assert coater["en_deprecated"] == "'-ve coater"
    assert coater["en_pos"] == "coater=noun | coat=verb"  # pairs; no pos, no pair
    assert coater["zh"] == "涂布机" and coater["zh_admitted"] == "涂覆机"
    assert coater["zh_pos"] == "noun"  # compact form: one pos for the language
    ocv = dict(zip(rows[0], rows[2]))
    assert ocv["equipment"] == ""
    assert ocv["en_abbreviation"] == "OCV | +OCV"  # the concept's order
    # The formula inside the notes is not at the start of the cell: left alone.
    assert FORMULA in coater["notes"]


def test_formula_cells_round_trip_and_are_escaped(tmp_path):
    concept = Concept(
        id="f1", notes=FORMULA, source="'=already quoted",
        terms=[Term("en", "=SUM(A1)"), Term("en", "+ve tab", "admitted"), Term("fr", "@tab")],
        definitions={"en": "-1 V"},
    )
    out = tmp_path / "f.csv"
    write_csv([concept], out)
    row = dict(zip(*list(csv.reader(io.StringIO(out.read_text("utf-8-sig"), newline="")))))
    assert row["notes"] == "'" + FORMULA
    assert row["en"] == "'=SUM(A1)"
    assert row["en_admitted"] == "'+ve tab"
    assert row["fr"] == "'@tab"
    assert row["en_definition"] == "'-1 V"
    assert row["source"] == "''=already quoted"
    assert read_csv(out)[0].key() == concept.key()


def test_import_strips_spreadsheet_quote():
    [concept] = read_csv(csv_bytes("id,en,notes", "a1,'=x,'@y"))
    assert concept.terms == [Term("en", "=x")]
    assert concept.notes == "@y"
    [concept] = read_csv(csv_bytes("id,en,notes", "a1,'plain,'"))
    assert concept.terms == [Term("en", "'plain")] and concept.notes == "'"


def test_written_tbx_is_pretty_tbx_basic(tmp_path):
    out = tmp_path / "g.tbx"
    write_tbx(sample_concepts(), out)
    raw = out.read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b"TBX_Core_RNG/master/TBXcoreStructV03.rng" in raw  # the schema LTAC-Global publishes now
    assert b"\n      <conceptEntry" in raw  # indented
    root = etree.fromstring(raw)
    assert root.tag == f"{{{TBX_NS}}}tbx"
    assert (root.get("type"), root.get("style")) == ("TBX-Basic", "dca")
    ns = {"t": TBX_NS}
    entry = root.find("t:text/t:body/t:conceptEntry[@id='ocv']", ns)
    abbreviation = entry.xpath("t:langSec[@xml:lang='en']/t:termSec[t:term='OCV']", namespaces=ns)[0]
    notes = {n.get("type"): n.text for n in abbreviation.findall("t:termNote", ns)}
    assert notes == {"partOfSpeech": "noun", "termType": "abbreviation",
                     "administrativeStatus": "admittedTerm-admn-sts"}
    # TBX-Basic has no elementWorkingStatus: "reviewed" is a project subset.
    assert entry.find("t:admin[@type='elementWorkingStatus']", ns) is None
    assert entry.find("t:admin[@type='projectSubset']", ns) is None
    coater = root.find("t:text/t:body/t:conceptEntry[@id='coater']", ns)
    assert [a.text for a in coater.findall("t:admin[@type='projectSubset']", ns)] == ["equipment", "reviewed"]
    assert coater.findtext("t:descrip[@type='subjectField']", namespaces=ns) == "electrode"


def test_writers_validate_before_writing(tmp_path):
    bad = Concept(id="1bad", terms=[Term("en", "x")])
    for fmt in FORMATS:
        out = tmp_path / f"bad.{fmt}"
        with pytest.raises(GlossaryError, match=r"concept 1 \('1bad'\).*not valid"):
            write_file([bad], out)
        assert not out.exists()
    with pytest.raises(GlossaryError, match="control characters"):
        write_tbx([Concept(id="c", notes="bell\x07", terms=[Term("en", "x")])], tmp_path / "c.tbx")


# --------------------------------------------------------------------------
# Choosing the format


def test_format_by_extension_and_name(tmp_path):
    concepts = sample_concepts()
    for name in ("a.csv", "a.TBX", "a.xml"):
        write_file(concepts, tmp_path / name)
        assert keys(read_file(tmp_path / name)) == keys(concepts)
    write_file(concepts, tmp_path / "a.txt", fmt="tbx")
    assert (tmp_path / "a.txt").read_bytes().startswith(b"<?xml")
    assert read_file_report(tmp_path / "a.txt", fmt="tbx") == (read_file(tmp_path / "a.xml"), [])
    with pytest.raises(GlossaryError, match="cannot tell the format"):
        write_file(concepts, tmp_path / "a.xlsx")
    with pytest.raises(GlossaryError, match="cannot tell the format"):
        read_file(tmp_path / "a.txt")
    with pytest.raises(GlossaryError, match="unknown format"):
        write_file(concepts, tmp_path / "a.csv", fmt="xlsx")
    with pytest.raises(GlossaryError, match="cannot read"):
        read_file(tmp_path / "missing.csv")


# --------------------------------------------------------------------------
# Bad CSV


def test_french_gender_per_term_round_trips_through_csv_and_storage(tmp_path):
    import sqlite_utils

    from glossary import store

    data = csv_bytes("id,fr,fr_admitted,fr_gender,en",
                     "coater,enduiseuse,coucheuse | applicateur,enduiseuse=f | coucheuse=f | applicateur=m,coater",
                     "tape,ruban adhésif,,m,tape")
    concepts = read_csv(data)
    genders = {t.text: t.gender for c in concepts for t in c.terms}
    assert genders == {"enduiseuse": "f", "coucheuse": "f", "applicateur": "m",
                       "ruban adhésif": "m", "coater": None, "tape": None}
    rows = list(csv.DictReader(io.StringIO(exchange.csv_bytes(concepts).decode("utf-8-sig"), newline="")))
    assert rows[0]["fr_gender"] == "enduiseuse=f | coucheuse=f | applicateur=m"
    assert rows[1]["fr_gender"] == "m"  # compact: one gender for the language
    db = sqlite_utils.Database(tmp_path / "g.db")
    store.migrate_v1(db)
    store.migrate_term_gender(db)
    store.migrate_concept_review(db)
    with db.conn:
        store.upsert_concepts(db, concepts, actor="test")
    again = store.load_concepts(db, ["coater", "tape"])
    assert {t.text: t.gender for c in again.values() for t in c.terms} == genders


@pytest.mark.parametrize(
    "rows, message",
    [
        (["id,en,colour"], r"line 1: unknown column\(s\) 'colour'"),
        (["id,de,en"], r"line 1: unknown column\(s\) 'de'"),
        (["id,category", "a,general"], "line 1: the header has no language column"),
        (["en,category", "x,general"], "line 1: the header has no 'id' column"),
        (["id,en,en", "a,x,y"], "line 1: column.* twice: en"),
        (["id,en,equipment", "a1,coater,yes", "a2,tab,maybe"], r"line 3: equipment .* 'maybe'"),
        (["id,en", "a1,coater", "a2,tab,extra"], "line 3: 3 cells, the header has 2"),
        (["id,en", "a1,coater", "", "a1,tab"], "line 4: concept id 'a1' is already used on line 2"),
        (["id,en,category", "a1,coater,electrodes"], "line 2: unknown category 'electrodes'"),
        (["id,en", "9a,coater"], "line 2: concept id '9a' is not valid"),
        (["id,en,en_admitted", "a1,coater,coater"], "line 2: term 'coater' .* twice"),
        (["id,en,en_pos", "a1,coater,thing"], "line 2: en_pos: unknown part of speech 'thing'"),
        (["id,en,en_pos", "a1,coater | coat,coater=noun | verb"], "line 2: en_pos: expected term=pos"),
        (["id,en,en_pos", "a1,coater,tab=noun | coater=noun"], "line 2: en_pos names 'tab'"),
        (["id,fr,fr_gender", "a1,enduiseuse,fem"], "line 2: fr_gender: unknown gender 'fem'"),
        (["id,fr,fr_gender", "a1,enduiseuse,bande=f"], "line 2: fr_gender names 'bande'"),
        (["id,en,en_gender", "a1,coater,m"], r"line 1: unknown column\(s\) 'en_gender'"),  # no gender in English
        (["id,zh_definition", "a1,定义"], "line 2: concept 'a1' has no term"),
        ([], "line 1: the file is empty"),
        (["id,en", 'a1,"coater', "a2,tab"], "line 3: unexpected end of data"),  # a quote left open
    ],
)
def test_bad_csv(rows, message):
    data = csv_bytes(*rows) if rows else b""
    with pytest.raises(GlossaryError, match=message):
        read_csv(data)


def test_csv_line_numbers_count_physical_lines():
    data = csv_bytes("id,en,notes", 'a1,coater,"two\nlines"', "a2,tab,x,y")
    with pytest.raises(GlossaryError, match="line 4: 4 cells"):
        read_csv(data)


@pytest.mark.parametrize(
    "data, message",
    [
        ("id,en\r\na1,caf\u00e9\r\n".encode("latin-1"), r"not UTF-8 \(line 2\)"),
        ("id,zh\r\na1,ok\r\na2,涂布机\r\n".encode("gbk"), r"not UTF-8 \(line 3\)"),
        ("id,en\r\na1,coater\r\n".encode("utf-16"), "line 1: contains NUL bytes"),
        (b"id,en\r\na1,coa\x00ter\r\n", "line 2: contains NUL bytes"),
    ],
)
def test_csv_encoding_errors(data, message):
    with pytest.raises(GlossaryError, match=message):
        read_csv(data)


def test_csv_missing_optional_columns_and_equipment_values():
    rows = ["id,en,equipment"] + [f"a{i},t{i},{v}" for i, v in
                                   enumerate(["yes", "No", "TRUE", "false", "1", "0", ""])]
    concepts = read_csv(csv_bytes(*rows))
    assert [c.equipment for c in concepts] == [True, False, True, False, True, False, False]
    assert {(c.category, c.status, c.source, c.notes) for c in concepts} == {("general", "draft", "", "")}


# --------------------------------------------------------------------------
# Bad TBX


def tbx(body: str, prolog: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
            f'<tbx type="TBX-Basic" style="dca" xml:lang="en" xmlns="{TBX_NS}">\n'
            f"<text><body>\n{body}\n</body></text></tbx>\n").encode()


def martif(body: str, root_lang: str = ' xml:lang="en"') -> bytes:
    """A TBX 2008 file (no namespace, no header) around ``body``."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<martif type="TBX"{root_lang}><text><body>'
            f"{body}</body></text></martif>").encode()


GOOD_ENTRY = '<conceptEntry id="c1"><langSec xml:lang="en"><termSec><term>coater</term></termSec></langSec></conceptEntry>'

BOMB = """<!DOCTYPE tbx [
<!ENTITY a "aaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
]>
"""


@pytest.mark.parametrize(
    "data, message",
    [
        (tbx(GOOD_ENTRY + "\n<conceptEntry id='c2'>\n<langSec xml:lang='en'><termSec></conceptEntry>"),
         r"line 6: malformed XML: .*mismatch"),
        (b"", "line 1: malformed XML"),
        (tbx(GOOD_ENTRY.replace("coater", "&c;"), BOMB), "line 2: a DOCTYPE with an internal subset is refused"),
        (tbx(GOOD_ENTRY.replace("coater", "&c;"), BOMB.replace("<!DOCTYPE tbx [", '<!DOCTYPE tbx SYSTEM "a>b" [')),
         "line 2: a DOCTYPE with an internal subset is refused"),  # a ">" in quotes hid the subset
        (b"<?xml version='1.0'?>\n<html><body/></html>", "line 2: root element <html>"),
        (b"<martif>\n<martifHeader/></martif>", "line 1: <martif> has no <text>/<body>"),
        (tbx(GOOD_ENTRY.replace("coater", "caf\u00e9")).replace("caf\xc3\xa9".encode("latin-1"), b"caf\xe9"),
         r"not UTF-8 \(line 4\)"),
        (tbx(GOOD_ENTRY.replace("coater", "涂布机")).decode().encode("gbk"), r"not UTF-8 \(line 4\)"),
    ],
)
def test_bad_tbx(data, message):
    with pytest.raises(GlossaryError, match=message):
        read_tbx(data)


def test_ids_are_stripped():
    # model.CONCEPT_ID_RE ends in "$", which also matches before a final "\n".
    data = tbx(GOOD_ENTRY.replace('id="c1"', 'id="c1&#10;"'))
    assert read_tbx(data)[0].id == "c1"
    assert read_csv(csv_bytes("id,en", '"c1\n",x'))[0].id == "c1"


def test_external_doctype_is_not_loaded(tmp_path):
    data = tbx(GOOD_ENTRY, '<!DOCTYPE tbx SYSTEM "http://example.invalid/tbx.dtd">\n')
    assert read_tbx(data)[0].terms == [Term("en", "coater")]


def test_declared_encoding_is_ignored_for_utf8():
    data = tbx(GOOD_ENTRY.replace("coater", "enduiseuse é")).replace(b'"UTF-8"', b'"ISO-8859-1"')
    assert read_tbx(data)[0].terms[0].text == "enduiseuse é"


def test_limits(monkeypatch, tmp_path):
    data = tbx(GOOD_ENTRY + GOOD_ENTRY.replace("c1", "c2"))
    monkeypatch.setattr(exchange, "MAX_CONCEPTS", 1)
    with pytest.raises(GlossaryError, match="more than 1 concepts"):
        read_tbx(data)
    with pytest.raises(GlossaryError, match="more than 1 concepts"):
        read_csv(csv_bytes("id,en", "a1,x", "a2,y"))
    monkeypatch.setattr(exchange, "MAX_INPUT_BYTES", 100)
    with pytest.raises(GlossaryError, match="larger than"):
        read_tbx(data)
    (tmp_path / "big.csv").write_bytes(b"id,en\r\n" + b"a1,x\r\n" * 50)
    with pytest.raises(GlossaryError, match="larger than"):
        read_file(tmp_path / "big.csv")


@pytest.mark.parametrize("start", ["\t", "\r"])
def test_tab_and_carriage_return_start_a_formula_too(tmp_path, start):
    """A spreadsheet skips a leading tab or CR and evaluates what follows
    (OWASP, CSV injection): those cells are quoted like "=" ones."""
    concept = Concept(id="f2", notes=f"{start}=1+1", source=f"{start}@SUM(A1)",
                      terms=[Term("en", "widget")], definitions={"en": f"{start}+1 V"})
    out = tmp_path / "f.csv"
    write_csv([concept], out)
    text = out.read_bytes().decode("utf-8-sig")  # not read_text: it turns a lone CR into LF
    row = dict(zip(*list(csv.reader(io.StringIO(text, newline="")))))
    assert row["notes"] == f"'{start}=1+1"
    assert row["source"] == f"'{start}@SUM(A1)"
    assert row["en_definition"] == f"'{start}+1 V"


def test_every_concept_is_validated_not_only_the_first(tmp_path):
    """The invalid concept comes after valid ones: a reader or writer that
    checked only the first would let it through."""
    good = Concept(id="good-1", terms=[Term("en", "coater")])
    bad = Concept(id="9bad", terms=[Term("en", "x")])
    with pytest.raises(GlossaryError, match=r"line 4: concept id '9bad' is not valid"):
        read_csv(csv_bytes("id,en", "a1,coater", "a2,tab", "9bad,x"))
    # TBX skips an entry it cannot keep (issue 17) rather than refusing the
    # file: the third one, whose only term is too long, must still be caught.
    second = GOOD_ENTRY.replace("c1", "c2").replace("coater", "tab")
    third = GOOD_ENTRY.replace("c1", "c3").replace("coater", "x" * 200)
    concepts, report = read_tbx_report(tbx(GOOD_ENTRY + "\n" + second + "\n" + third))
    assert [c.id for c in concepts] == ["c1", "c2"]
    assert report.skipped_count == 1
    for fmt in FORMATS:
        out = tmp_path / f"bad.{fmt}"
        with pytest.raises(GlossaryError, match=r"concept 3 \('9bad'\)"):
            write_file([good, Concept(id="good-2", terms=[Term("en", "tab")]), bad], out)
        assert not out.exists()


def test_a_report_names_what_it_counts_in_the_singular_and_plural():
    units = ReadReport(kind="units")
    units.skip("no 'en' segment", 3)
    units.skip("no 'fr' segment", 4)
    units.skip("no 'de' segment", None)  # no line known: 0
    units.skip("empty", 9)
    units.other_language("de", 2)
    assert units.warnings() == ["skipped 3 units: no … segment (line 3, 4, 0)", "skipped 1 unit: empty (line 9)",
                                "skipped 2 segment(s) in language 'de'"]
    entries = ReadReport()
    entries.skip("bad", 1)
    entries.skip("bad", 2)
    entries.skip("worse", 5)
    assert entries.warnings() == ["skipped 2 entries: bad (line 1, 2)", "skipped 1 entry: worse (line 5)"]
    concepts = ReadReport(kind="concepts", source="x.tbx", held=3, imported=1, native=True)
    concepts.skip("no term", 7)
    concepts.skip("no term", 8)
    concepts.other_language("de")
    concepts.other_language("de", 2)
    concepts.other_language("tr")
    concepts.drop("notes left out")
    concepts.drop("notes left out")
    concepts.drop("definitions cut", 3)
    assert concepts.warnings() == ["skipped 2 concepts: no term (line 7, 8)", "skipped 3 term(s) in language 'de'",
                                   "skipped 1 term(s) in language 'tr'", "definitions cut: 3", "notes left out: 2"]
    assert concepts.as_dict() == {
        "source": "x.tbx", "held": 3, "imported": 1, "skipped": 2, "native_ids": True,
        "skipped_by_reason": {"no term": {"count": 2, "lines": [7, 8]}},
        "other_languages": {"de": 3, "tr": 1}, "notes": {"notes left out": 2, "definitions cut": 3}}


def test_oversized_input_is_refused_in_whole_megabytes(tmp_path):
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 1)  # sparse: nothing is written or read
    with pytest.raises(GlossaryError, match=rf"^file larger than {MAX_INPUT_BYTES // 2**20} MB$"):
        read_bytes(big)


def test_a_nul_byte_is_reported_on_its_line():
    with pytest.raises(GlossaryError, match=r"^line 2: contains NUL"):
        exchange.decode_text(b"\nab\x00")
    with pytest.raises(GlossaryError, match=r"^line 1: contains NUL"):
        exchange.decode_text(b"ab\x00\n")


def test_write_tbx_writes_the_dialect_asked_for(tmp_path):
    concepts = [Concept(id="c1", terms=[Term("en", "tab")])]
    exchange.write_tbx(concepts, tmp_path / "a.tbx", dialect="tbx2008")
    assert etree.fromstring((tmp_path / "a.tbx").read_bytes()).tag == "martif"
    exchange.write_tbx(concepts, tmp_path / "b.tbx")
    assert etree.QName(etree.fromstring((tmp_path / "b.tbx").read_bytes())).localname == "tbx"


def test_a_note_of_an_unknown_kind_keeps_its_name_and_a_bare_link_its_target():
    tbx = b"""<?xml version="1.0" encoding="UTF-8"?>
<martif type="TBX" xml:lang="en"><martifHeader><fileDesc><sourceDesc><p>x</p></sourceDesc></fileDesc></martifHeader>
<text><body><termEntry id="e1">
<descrip type="plantCode">B-7</descrip>
<xref type="xGraphic" target="https://example.org/tab.png"></xref>
<langSet xml:lang="en"><tig><term>tab</term></tig></langSet>
</termEntry></body></text></martif>"""
    [concept] = exchange.read_tbx(tbx)
    assert concept.notes.splitlines() == ["plantCode: B-7", "Image: https://example.org/tab.png"]


def test_ids_made_for_foreign_entries_never_change_between_versions():
    """Importing the same file again must update the same concepts: the ids
    (slug and digest) are pinned here as earlier versions made them."""
    assert concept_id_for("Plant B.tbx", "Tab Line 1") == "Plant_B.Tab_Line_1.582b78e7"
    assert normalise_id("Tab Line #1") == "Tab_Line_1.72fc5ddb"
    assert normalise_id("Électrode") == "Electrode.28297e3b"
    assert normalise_id("(tab)") == "tab.78f530b5" and normalise_id("极耳") == "x.4f56042b"
    assert concept_id_for("plantb", "c1") == "plantb.c1.f5adc85f"  # no extension to drop
    assert concept_id_for("plant/b", "c1") == "plant_b.c1.c3f26037" and normalise_id("X ray") == "X_ray.cc59ba16"
    assert concept_id_for("a1.tbx", "c1") == "a1.c1.c1ccc4cb"  # a letter first is enough
    assert concept_id_for("工厂.tbx", "极耳") == "src.c.e34db271"  # nothing ASCII in either
    assert concept_id_for("2024 export.tbx", "c1") == "x2024_export.c1.a0b9a2ab"  # ids start with a letter
    # Two files' c1 are two concepts, even when their names slug alike.
    assert concept_id_for("a.tbx", "c1") == "a.c1.cd8b962e" and concept_id_for("a.csv", "c1") == "a.c1.7c1cb3df"
    assert concept_id_for("Very long plant glossary name.tbx", "An external identifier longer than thirty characters"
                          ) == "Very_long_plant_glos.An_external_identifier_longer_.f2885645"  # 20 and 30 characters


# --------------------------------------------------------------------------
# Edges found by mutation testing (each test names what it pins)


@pytest.mark.parametrize("rows, message", [
    ([], "line 1: the file is empty, expected a header row"),
    (["id,en,colour,Size"], "line 1: unknown column(s) 'colour', 'size'"),
    (["id,en,en,fr,fr", "a,x,y,u,v"], "line 1: column(s) given twice: en, fr"),
    (["en,category", "x,general"], "line 1: the header has no 'id' column"),
    (["id,category", "a,general"], "line 1: the header has no language column (zh, ko, ms, fr, en)"),
    (["id,fr,fr_gender", "a1,enduiseuse,fem"],
     "line 2: fr_gender: unknown gender 'fem' (one of: m, f, n)"),
])
def test_a_header_or_value_error_is_told_in_whole(rows, message):
    with pytest.raises(GlossaryError) as error:
        read_csv(csv_bytes(*rows) if rows else b"")
    assert str(error.value) == message


def test_line_breaks_inside_a_csv_cell_are_kept_as_they_were():
    """A spreadsheet's CR LF (or a lone CR) inside a quoted cell is the
    cell's text: the reader does not turn it into a bare LF."""
    data = csv_bytes("id,en,notes", 'a1,coater,"two\r\nlines\rand one"')
    [concept] = read_csv(data)
    assert concept.notes == "two\r\nlines\rand one"


def test_read_glossary_of_csv_reports_what_it_read(tmp_path):
    data = csv_bytes("id,en", "a1,coater", "", "a2,tab")
    path = tmp_path / "plant.txt"  # not a CSV name: the format is said
    path.write_bytes(data)
    reading = read_glossary(path, fmt="csv")
    assert (reading.report.kind, reading.report.held, reading.report.imported, reading.report.source,
            reading.report.native) == ("concepts", 2, 2, "plant.txt", True)
    assert reading.lines == {"a1": 2, "a2": 4} and reading.external == {}
    assert read_glossary(path, fmt="csv", source="Plant B").report.source == "Plant B"
    # An upload: the bytes are read, the path only names them (it need not exist).
    upload = read_glossary(tmp_path / "missing.csv", data=csv_bytes("id,en", "b1,electrode"))
    assert [c.id for c in upload.concepts] == ["b1"] and upload.report.source == "missing.csv"


TWO_ENTRIES = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
               b'<martif type="TBX"><martifHeader><fileDesc><sourceDesc><p>x</p></sourceDesc></fileDesc>'
               b'</martifHeader>\n<text><body>\n<!-- a comment -->\n<?pi here?>\n<unknown>x</unknown>\n'
               b'<termEntry id="e1"><langSet xml:lang="en"><tig><term>tab</term></tig></langSet></termEntry>\n'
               b'<termEntry id="e2"><langSet><tig><term>no language</term></tig></langSet>'
               b'<langSet xml:lang="fr"><tig><term>languette</term></tig></langSet></termEntry>\n'
               b'</body></text></martif>\n')


def test_a_tbx_body_s_comments_and_other_elements_are_passed_over():
    reading = read_tbx_reading(TWO_ENTRIES)
    assert [c.id for c in reading.concepts] == ["e1", "e2"]
    assert reading.lines == {"e1": 7, "e2": 8}  # for messages that name the line
    assert reading.report.held == 2 and reading.report.imported == 2


def test_read_tbx_report_keeps_the_file_s_origin():
    concepts, report = read_tbx_report(TWO_ENTRIES, "Plant B.tbx")
    assert [c.id for c in concepts] == [concept_id_for("Plant B.tbx", "e1"), concept_id_for("Plant B.tbx", "e2")]
    assert report.source == "Plant B.tbx" and not report.native


def test_inline_markup_and_line_breaks_in_tbx_text():
    """Text inside inline elements is part of the text, with nothing put
    between the pieces; a note keeps its line breaks, each line folded."""
    [concept] = read_tbx(martif(
        '<termEntry id="e1"><note>first   line\n   second <hi>li</hi>ne\n\n</note>'
        '<langSet xml:lang="en"><descrip type="definition">A <hi>co</hi>ated  foil.</descrip>'
        '<tig><term>co<hi>at</hi>er</term></tig></langSet></termEntry>'))
    assert [t.text for t in concept.terms] == ["coater"]
    assert concept.definitions == {"en": "A coated foil."}
    assert concept.notes == "first line\nsecond line"


def test_a_second_definition_and_one_of_no_known_language_go_to_the_notes():
    [concept] = read_tbx(martif(
        '<termEntry id="e1"><descrip type="definition" xml:lang="de">Said in German.</descrip>'
        '<langSet xml:lang="en"><descrip type="definition">The first.</descrip>'
        '<descrip type="definition">The first.</descrip>'
        '<descrip type="definition">The second.</descrip>'
        '<tig><term>coater</term></tig></langSet></termEntry>'))
    assert concept.definitions == {"en": "The first."}  # the same one again is not repeated
    assert concept.notes.splitlines() == ["Definition (de): Said in German.", "Definition (en): The second."]


@pytest.mark.parametrize("root_lang, lang", [(' xml:lang="fr"', "fr"), ("", "en")])
def test_a_definition_without_a_language_is_in_the_file_s_language(root_lang, lang):
    [concept] = read_tbx(martif('<termEntry id="e1"><descrip type="definition">Une définition.</descrip>'
                                '<langSet xml:lang="en"><tig><term>coater</term></tig></langSet></termEntry>',
                                root_lang))
    assert concept.definitions == {lang: "Une définition."}


@pytest.mark.parametrize("entry", [
    '<langSet xml:lang="en"><descrip type="definition">{x}</descrip><tig><term>coater</term></tig></langSet>',
    '<descrip type="definition">{x}</descrip><langSet xml:lang="en"><tig><term>coater</term></tig></langSet>',
    '<langSet xml:lang="en"><tig><term>coater</term><descrip type="definition">{x}</descrip></tig></langSet>',
], ids=["in its language", "at concept level", "on its term"])
def test_an_overlong_definition_is_cut_and_said_so(monkeypatch, entry):
    monkeypatch.setattr(exchange, "MAX_TEXT_CHARS", 20)
    [concept], report = read_tbx_report(martif('<termEntry id="e1">' + entry.format(x="x" * 30) + "</termEntry>"))
    assert concept.definitions == {"en": "x" * 19 + "…"}
    assert report.as_dict()["notes"] == {"definition cut to 20 characters": 1}


def test_the_headers_of_both_tbx_forms(tmp_path):
    concepts = [Concept(id="c1", terms=[Term("en", "tab")])]
    v3 = exchange.tbx_bytes(concepts)
    root = etree.fromstring(v3)
    assert [pi.target for pi in root.itersiblings(preceding=True)] == ["xml-model", "xml-model"]
    assert root.get(XML_LANG) == "en"
    ns = {"t": TBX_NS}
    assert root.findtext("t:tbxHeader/t:fileDesc/t:sourceDesc/t:p", namespaces=ns) == "shopbot glossary export"
    assert b"<!DOCTYPE" not in v3
    v2 = exchange.tbx_bytes(concepts, "tbx2008")
    assert v2.splitlines()[1] == b'<!DOCTYPE martif SYSTEM "TBXcoreStructV02.dtd">'
    martif = etree.fromstring(v2)
    assert (martif.tag, martif.get("type"), martif.get(XML_LANG)) == (
        "martif", "TBX", "en")
    assert martif.findtext("martifHeader/fileDesc/sourceDesc/p") == "shopbot glossary export"
    assert martif.findtext("text/body/termEntry[@id='c1']/langSet[@xml:lang='en']/tig/term",
                           namespaces={"xml": "http://www.w3.org/XML/1998/namespace"}) == "tab"


def test_each_definition_is_written_once_in_its_place():
    """With a term in its language, in that language's section; without one,
    at concept level with its language; a language with neither, nothing."""
    concept = Concept(id="c1", terms=[Term("en", "tab")], definitions={"en": "A strip.", "ms": "Jalur."})
    root = etree.fromstring(exchange.tbx_bytes([concept]))
    ns = {"t": TBX_NS}
    entry = root.find("t:text/t:body/t:conceptEntry", ns)
    where = [(etree.QName(d.getparent()).localname, d.getparent().get(XML_LANG) or d.get(XML_LANG), d.text)
             for d in entry.iter(f"{{{TBX_NS}}}descrip") if d.get("type") == "definition"]
    assert where == [("conceptEntry", "ms", "Jalur."), ("langSec", "en", "A strip.")]


def test_an_external_id_keeps_48_characters_in_its_slug():
    assert normalise_id("a" * 60 + "!").split(".")[0] == "a" * 48


_LONG_TERM = "t" * 120  # MAX_TERM_CHARS: the longest term kept
SINK = f'''<?xml version="1.0" encoding="UTF-8"?>
<martif type="TBX" xml:lang="en"><martifHeader><fileDesc><sourceDesc><p>vendor</p></sourceDesc></fileDesc></martifHeader>
<text><body>
<termEntry id="e1">
<descrip type="subjectField">electrode</descrip>
<admin type="projectSubset">reviewed</admin>
<admin type="source">Vendor manual</admin>
<note>Entry note.</note>
<descrip type="definition" xml:lang="fr">Définition au niveau du concept.</descrip>
<descrip type="definition" xml:lang="fr">Une autre définition.</descrip>
<descrip type="definition" xml:lang="de">Eine Definition.</descrip>
<descripGrp><descrip type="definition" xml:lang="ms-MY">Takrif.</descrip><admin type="source">ISO 1</admin></descripGrp>
<transacGrp><transac type="transactionType">origination</transac><date>2020-01-02</date><transacNote type="responsibility">Kim</transacNote></transacGrp>
<transacGrp><transac type="transactionType">modification</transac><date>2021-03-04</date></transacGrp>
<xref type="xGraphic" target="https://example.org/tab.png"/>
<descrip type="plantCode">B-7</descrip>
<langSet xml:lang="de"><tig><term>Beschichter</term></tig><tig><term>Auftragsmaschine</term></tig></langSet>
<langSet><tig><term>sans langue</term></tig></langSet>
<langSet xml:lang="zh-TW"><tig><term>塗佈機</term></tig><tig><term>塗覆機</term></tig></langSet>
<langSet xml:lang="en">
 <descripGrp><descrip type="definition">Machine that coats foil.</descrip><admin type="source">Handbook</admin><xref type="externalCrossReference" target="https://example.org/def"/></descripGrp>
 <note>A note in English.</note>
 <transacGrp><transac type="transactionType">modification</transac></transacGrp>
 <descrip type="context">Start the coater.</descrip>
 <xref type="externalCrossReference" target="https://example.org/coater"/>
 <tig><term>coater</term><termNote type="partOfSpeech">proper noun</termNote><termNote type="administrativeStatus">preferredTerm-admn-sts</termNote></tig>
 <tig><term>coater</term></tig>
 <tig><term>CTR</term><termNote type="termType">short form</termNote><termNote type="partOfSpeech">gerund</termNote></tig>
 <tig><term>old coater</term><termNote type="administrativeStatus">deprecatedTerm-admn-sts</termNote><termNote type="termType">abbreviation</termNote></tig>
 <tig><term>odd</term><termNote type="administrativeStatus">maybeTerm</termNote>
   <transacGrp><transac type="transactionType">origination</transac></transacGrp>
   <note>term note</note><xref type="xSource" target="https://example.org/odd"/>
   <descripGrp><descrip type="context">An odd term.</descrip><admin type="source">Guide</admin></descripGrp>
   <descripGrp><descrip type="plantCode">P-1</descrip><admin type="source">Plant</admin></descripGrp></tig>
 <tig><termNote type="partOfSpeech">verb</termNote><term>coat</term><term>second term element</term>
   <descrip type="definition">To apply a layer.</descrip></tig>
 <tig><termNote type="partOfSpeech">noun</termNote></tig>
 <tig><term>{_LONG_TERM}</term></tig>
 <tig><term>{_LONG_TERM}x</term></tig>
 <tig><term>a|b</term></tig>
</langSet>
<langSet xml:lang="en"><tig><term>coating machine</term></tig></langSet>
</termEntry>
</body></text></martif>
'''.encode()


def test_a_rich_tbx_entry_is_read_in_whole():
    """Every kind of data category a vendor's file holds, in one entry:
    what becomes a term, a definition, a note, and what the report counts."""
    [concept], report = read_tbx_report(SINK)
    assert [(t.lang, t.text, t.type, t.pos) for t in concept.terms] == [
        ("zh", "涂布机", "preferred", None), ("zh", "涂覆机", "admitted", None),  # Traditional, simplified
        ("en", "coater", "preferred", "noun"),  # "proper noun"; the same term again is not repeated
        ("en", "CTR", "abbreviation", "other"),  # "short form"; a part of speech we do not have
        ("en", "old coater", "deprecated", None),  # deprecated stays so, even as an abbreviation
        ("en", "odd", "admitted", None),  # an unknown status: the type from its place
        ("en", "coat", "admitted", "verb"),  # its note before it; the first <term> only
        ("en", _LONG_TERM, "admitted", None),
        ("en", "coating machine", "admitted", None)]  # a second section: English has its preferred term
    assert (concept.category, concept.status, concept.source) == ("electrode", "reviewed", "Vendor manual")
    assert concept.definitions == {"fr": "Définition au niveau du concept.", "ms": "Takrif.",
                                   "en": "Machine that coats foil."}
    assert concept.notes.splitlines() == [
        "Entry note.",
        "Definition (fr): Une autre définition.",  # a second one for French
        "Definition (de): Eine Definition.",
        "Definition (ms) Source: ISO 1",
        "Image: https://example.org/tab.png",
        "plantCode: B-7",
        "Definition (en) Source: Handbook",
        "Definition (en) See also: https://example.org/def",  # a link alone in a group
        "Note (en): A note in English.",
        "(en) Context: Start the coater.",
        "(en) See also: https://example.org/coater",
        "en «odd» Note: term note",
        "en «odd» xSource: https://example.org/odd",
        "en «odd» Context: An odd term.",
        "en «odd» Context Source: Guide",
        "en «odd» plantCode: P-1",  # a category we have no label for keeps its name
        "en «odd» plantCode Source: Plant",
        "en «coat» term: second term element",  # not lost: kept as a note
        "Definition (en): To apply a layer.",  # a term's own definition, not the section's
        "History: origination 2020-01-02 Kim; modification 2021-03-04",
    ]
    assert report.as_dict() == {
        "source": "", "held": 1, "imported": 1, "skipped": 0, "native_ids": True, "skipped_by_reason": {},
        "other_languages": {"de": 2, "(none)": 1},
        "notes": {"Traditional Chinese terms converted to Simplified": 2,
                  "change records below concept level (not kept)": 2,
                  "unknown administrativeStatus values (term kept, type from its place)": 1,
                  "<tig> without a <term> (left out)": 1,
                  "terms too long or with '|' (left out)": 2}}
    assert report.warnings() == [
        "skipped 1 term(s) in language '(none)'", "skipped 2 term(s) in language 'de'",
        "<tig> without a <term> (left out): 1", "Traditional Chinese terms converted to Simplified: 2",
        "change records below concept level (not kept): 2", "terms too long or with '|' (left out): 2",
        "unknown administrativeStatus values (term kept, type from its place): 1"]


def test_long_notes_and_sources_are_cut_and_said_so(monkeypatch):
    monkeypatch.setattr(exchange, "MAX_TEXT_CHARS", 12)

    def entry(note, source):
        return tbx(f'<conceptEntry id="c1"><admin type="source">{source}</admin><note>{note}</note>'
                   '<langSec xml:lang="en"><termSec><term>coater</term></termSec></langSec></conceptEntry>')

    [concept], report = read_tbx_report(entry("n" * 12, "s" * 12))  # exactly the limit: whole
    assert (concept.notes, concept.source, report.dropped) == ("n" * 12, "s" * 12, {})
    [concept], report = read_tbx_report(entry("n" * 13, "s" * 13))
    assert (concept.notes, concept.source) == ("n" * 11 + "…", "s" * 11 + "…")
    assert report.dropped == {"notes cut to 12 characters": 1, "source cut to 12 characters": 1}


def test_warnings_name_five_lines_then_an_ellipsis():
    report = ReadReport(kind="concepts")
    for line in range(1, 6):
        report.skip("five", line)
    for line in range(11, 17):
        report.skip("six", line)
    assert report.warnings() == ["skipped 6 concepts: six (line 11, 12, 13, 14, 15, …)",
                                 "skipped 5 concepts: five (line 1, 2, 3, 4, 5)"]


@pytest.mark.parametrize("raw, expected", [
    ("", exchange.LangTag(None, why="no language tag")),
    (None, exchange.LangTag(None, why="no language tag")),
    ("de", exchange.LangTag(None, why="not one of our languages (zh, ko, ms, fr, en)")),
    ("zh-Cyrl", exchange.LangTag(None, why="zh in the script Cyrl, not ours")),
    ("zh-cmn-Hant", exchange.LangTag("zh", True)),  # the extlang, then the script after it
    ("zh-cmn-TW", exchange.LangTag("zh", True)),
    ("zh-guoyu", exchange.LangTag("zh", False)),  # a grandfathered form, whole
    ("zh-hakka", exchange.LangTag(None, why="not one of our languages (zh, ko, ms, fr, en)")),  # Hakka
    ("zh-hakka-TW", exchange.LangTag(None, why="not one of our languages (zh, ko, ms, fr, en)")),
])
def test_language_tags_and_why_one_is_not_ours(raw, expected):
    assert exchange.lang_tag(raw) == expected


def test_size_and_count_limits_are_inclusive(monkeypatch, tmp_path):
    monkeypatch.setattr(exchange, "MAX_INPUT_BYTES", 10)
    assert exchange.read_bytes(b"x" * 10) == b"x" * 10
    with pytest.raises(GlossaryError, match="larger than"):
        exchange.read_bytes(b"x" * 11)
    (tmp_path / "ten").write_bytes(b"y" * 10)
    assert exchange.read_bytes(tmp_path / "ten") == b"y" * 10
    monkeypatch.setattr(exchange, "MAX_INPUT_BYTES", 1024)
    monkeypatch.setattr(exchange, "MAX_CONCEPTS", 2)
    assert len(read_csv(csv_bytes("id,en", "a1,x", "a2,y"))) == 2


def test_xml_decoding_edges():
    # Not UTF-8 and nothing declared: the UTF-8 error, with its line.
    with pytest.raises(GlossaryError) as error:
        exchange.decode_xml(b"<a>\n\xff</a>")
    assert str(error.value) == "not UTF-8 (line 2)"
    # Declared, and not that either: named, with the line.
    with pytest.raises(GlossaryError) as error:
        exchange.decode_xml(b'<?xml version="1.0" encoding="windows-1252"?>\n<a>\x81</a>\n\n')
    assert str(error.value) == "not windows-1252 (line 2)"
    # A second byte-order mark (a tool that added one more) is not text.
    assert exchange.decode_xml(b"\xef\xbb\xbf\xef\xbb\xbf<a/>") == "<a/>"


def _without_the_first_lock(monkeypatch):
    """The text search for an internal subset switched off: a pattern that
    never matches. What is refused then, the parsed document's check refuses."""
    monkeypatch.setattr(exchange, "_INTERNAL_SUBSET", re.compile("(?!)"))


def test_both_locks_against_an_internal_dtd_subset(monkeypatch):
    """The text is searched for an internal subset before parsing; the parsed
    document is checked too. Each lock holds alone."""
    bomb = "\n" + BOMB + "<tbx/>"
    with pytest.raises(GlossaryError) as error:
        exchange.parse_xml(bomb.encode())
    assert str(error.value) == "line 2: a DOCTYPE with an internal subset is refused"
    _without_the_first_lock(monkeypatch)
    for subset in ("<!ENTITY c 'x'>", "<!ELEMENT tbx ANY>"):
        with pytest.raises(GlossaryError) as error:
            exchange.parse_xml(f"\n\n<!DOCTYPE tbx [{subset}]>\n<tbx/>".encode())
        assert str(error.value) == "line 3: a DOCTYPE with an internal subset is refused"
    assert exchange.parse_xml(b'<!DOCTYPE tbx SYSTEM "tbx.dtd">\n<tbx/>').tag == "tbx"  # no subset


def test_the_line_of_a_refused_subset_is_the_doctype_s_own(monkeypatch):
    """"<!DOCTYPE" in a comment before or after is not the line named, by
    either lock."""
    doc = ("<!-- <!DOCTYPE x> -->\n<!DOCTYPE tbx [<!ENTITY c 'x'>]>\n<tbx/>\n<!-- <!DOCTYPE y> -->\n").encode()
    for first_lock in (True, False):
        if not first_lock:
            _without_the_first_lock(monkeypatch)
        with pytest.raises(GlossaryError) as error:
            exchange.parse_xml(doc)
        assert str(error.value) == "line 2: a DOCTYPE with an internal subset is refused", first_lock


def test_a_note_that_says_reviewed_is_a_note():
    [concept] = read_tbx(tbx('<conceptEntry id="c1"><note>reviewed</note><langSec xml:lang="en"><termSec>'
                             '<term>coater</term></termSec></langSec></conceptEntry>'))
    assert (concept.status, concept.notes) == ("draft", "reviewed")


def test_write_file_writes_tbx_v3_for_a_tbx_name(tmp_path):
    exchange.write_file([Concept(id="c1", terms=[Term("en", "tab")])], tmp_path / "g.tbx")
    assert etree.QName(etree.fromstring((tmp_path / "g.tbx").read_bytes())).localname == "tbx"


def test_a_document_nested_too_deep_is_refused():
    deep = b"<tbx>" + b"<a>" * 300 + b"</a>" * 300 + b"</tbx>"
    with pytest.raises(GlossaryError, match="^line 1: malformed XML: .*[Ee]xcessive depth"):
        exchange.parse_xml(deep)


def test_a_comment_before_the_body_is_passed_over():
    data = (b'<?xml version="1.0"?>\n<martif type="TBX"><text><!-- exported by X --><?x y?><body>'
            b'<termEntry id="e1"><langSet xml:lang="en"><tig><term>tab</term></tig></langSet></termEntry>'
            b'</body></text></martif>')
    assert [c.id for c in read_tbx(data)] == ["e1"]


def test_a_concept_lxml_refuses_is_named_by_its_place(tmp_path):
    good, bad = Concept(id="c1", terms=[Term("en", "x")]), Concept(id="c2", notes="bell\x07", terms=[Term("en", "y")])
    with pytest.raises(GlossaryError, match=r"^concept 2 \('c2'\): All strings must be XML compatible"):
        exchange.tbx_bytes([good, bad])


def test_format_errors_name_every_choice(tmp_path):
    with pytest.raises(GlossaryError) as error:
        exchange.format_of(tmp_path / "a.csv", "xlsx")
    assert str(error.value) == "unknown format 'xlsx' (one of: csv, tbx, tbx2008)"
    with pytest.raises(GlossaryError) as error:
        exchange.format_of(tmp_path / "a.xlsx", None)
    assert str(error.value).endswith("use a .csv, .tbx, .xml file")
