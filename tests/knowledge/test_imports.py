"""File imports with a preview (bot/knowledge/imports.py), as a service:
what a preview lists, the kept upload and its token, the commit's refusals.
The console's /files page drives the same functions over HTTP
(tests/web/test_console_files.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.knowledge import imports
from bot.translation import memory as tm
from glossary import exchange
from tests.conftest import concept
from tests.knowledge.test_fixes import LEAD, TRAINER, st_  # noqa: F401
from tests.translation.test_engine import approved_unit

T0 = datetime(2020, 1, 1, 8, 0, tzinfo=timezone.utc)  # far from today's clock
TBX = (Path(__file__).parents[1] / "data" / "tbx_basic.tbx").read_bytes()


def glossary_file(*concepts, name: str = "terms.csv", source: str = "") -> imports.Parsed:
    return imports.read_upload(name, exchange.csv_bytes(concepts), source)


def kept(st_, parsed, person=LEAD, now=T0) -> str:
    outcome = st_.read(imports.preview, parsed, "web:2")
    return st_.write(imports.keep_upload, person, parsed, outcome, now=now)


def fix_yaml(*fixes: tuple[str, str, str]) -> bytes:
    """(slug, equipment, extra YAML lines) per fix → a fix file: 8 lines a
    fix, then its extra lines."""
    return "".join(f"- slug: {slug}\n  equipment: {equipment}\n  original_lang: en\n  status: draft\n"
                   f"  texts:\n    en:\n      symptom: Symptom of {slug}\n      steps: [Check]\n{extra}"
                   for slug, equipment, extra in fixes).encode()


def test_a_glossary_preview_names_each_concept_as_a_person_knows_it(st_):
    parsed = glossary_file(
        concept("coater", en="coater", zh="涂布机", fr="enduiseuse"),  # known: one term added
        concept("dancer", en="dancer roller", zh="浮动辊"),
        concept("zh-only", zh="卷绕机|绕卷机"),  # no English term: its first term
    )
    outcome = st_.read(imports.preview, parsed, "web:2")
    assert outcome.added == [imports.Item("dancer", "dancer roller", "line 3"),
                             imports.Item("zh-only", "卷绕机", "line 4")]
    assert [i.key for i in outcome.changed] == ["coater"] and outcome.changed[0].where == "line 2"


@pytest.mark.parametrize("token", [None, 42, "", "a" * 19, "é" * 30, "a" * 65])
def test_a_token_that_cannot_be_one_finds_nothing(st_, token):
    assert imports.get_upload(st_.conn(), token, LEAD, now=T0) is None


def test_a_kept_upload_comes_back_for_its_person_for_one_hour(st_):
    parsed = glossary_file(concept("dancer", en="dancer roller"))
    token = kept(st_, parsed)
    assert 20 <= len(token) <= 64
    upload = imports.get_upload(st_.conn(), token, LEAD, now=T0 + timedelta(minutes=30))
    assert (upload.kind, upload.name, upload.sha256, upload.data, upload.created_at) == (
        "glossary", "terms.csv", parsed.sha256, parsed.data, T0)
    assert upload.outcome == [["dancer"], [], 0]
    assert imports.get_upload(st_.conn(), token, TRAINER, now=T0) is None  # someone else's
    assert imports.get_upload(st_.conn(), token, LEAD, now=T0 + imports.UPLOAD_TTL - timedelta(seconds=1))
    assert imports.get_upload(st_.conn(), token, LEAD, now=T0 + imports.UPLOAD_TTL) is None


@pytest.mark.parametrize("length, found", [(19, False), (20, True), (64, True), (65, False)])
def test_tokens_of_20_to_64_ascii_characters_are_looked_up(st_, length, found):
    token = kept(st_, glossary_file(concept("dancer", en="dancer roller")))
    st_.write(lambda db: db.execute("UPDATE console_upload SET token_hash = ? WHERE token_hash = ?",
                                    [imports._hash("t" * length), imports._hash(token)]))
    assert (imports.get_upload(st_.conn(), "t" * length, LEAD, now=T0) is not None) is found


def test_discarding_says_whether_there_was_something(st_):
    token = kept(st_, glossary_file(concept("dancer", en="dancer roller")))
    assert st_.write(imports.discard_upload, token, TRAINER) is False  # not theirs
    assert st_.write(imports.discard_upload, None, LEAD) is False
    assert st_.write(imports.discard_upload, token, LEAD) is True
    assert st_.write(imports.discard_upload, token, LEAD) is False


def test_reread_checks_the_file_and_keeps_its_source(st_):
    # A TBX file's ids belong to its source (the name given at the upload).
    parsed = imports.read_upload("x.tbx", TBX, "Vendor  manual")
    upload = imports.get_upload(st_.conn(), kept(st_, parsed), LEAD, now=T0)
    upload = dataclasses.replace(upload, source="Vendor manual")
    assert [c.id for c in imports.reread(upload).items] == [c.id for c in parsed.items]
    assert parsed.items[0].id.startswith("Vendor_manual.")
    with pytest.raises(imports.Changed, match="^the kept file is not the one previewed$"):
        imports.reread(dataclasses.replace(upload, data=upload.data + b" "))


def test_a_commit_refuses_what_the_preview_did_not_show(st_):
    parsed = glossary_file(concept("dancer", en="dancer roller"))
    with pytest.raises(imports.Changed, match="^this file was imported or discarded already, or its hour "
                                              "has passed$"):
        st_.write(imports.commit, "x" * 30, LEAD, parsed, "web:2")
    token = kept(st_, parsed)
    other = glossary_file(concept("dancer", en="dancer roller", fr="rouleau danseur"))
    with pytest.raises(imports.Changed, match="^the kept file is not the one previewed$"):
        st_.write(imports.commit, token, LEAD, other, "web:2")
    st_.write(imports.commit, kept(st_, other), LEAD, other, "web:2")  # "dancer" exists now
    with pytest.raises(imports.Changed, match="^the data changed since the preview$"):
        st_.write(imports.commit, token, LEAD, parsed, "web:2")
    assert imports.get_upload(st_.conn(), token, LEAD, now=T0) is not None  # nothing written


def test_a_committed_tbx_import_records_where_each_concept_came_from(st_):
    from glossary import store as glossary_store

    parsed = imports.read_upload("x.tbx", TBX, "Vendor manual")
    st_.write(imports.commit, kept(st_, parsed), LEAD, parsed, "web:2")
    recorded = st_.read(glossary_store.external_ids, "Vendor manual")
    assert sorted(recorded) == sorted((cid, *ext) for cid, ext in parsed.extra["external"].items())
    assert ("Vendor_manual.coater.9211dbc1", "Vendor manual", "coater") in recorded


def test_keeping_a_file_keeps_the_others_of_the_hour(st_):
    first = kept(st_, glossary_file(concept("dancer", en="dancer roller")), now=T0)
    second = kept(st_, glossary_file(concept("nip", en="nip roller")), person=TRAINER,
                  now=T0 + timedelta(minutes=59))
    assert imports.get_upload(st_.conn(), first, LEAD, now=T0 + timedelta(minutes=59)) is not None
    past_the_hour = T0 + imports.UPLOAD_TTL + timedelta(seconds=1)
    kept(st_, glossary_file(concept("nip", en="nip roller")), now=past_the_hour)  # purges the first
    count = st_.read(lambda db: db.execute("SELECT count(*) FROM console_upload").fetchone()[0])
    assert count == 2 and imports.get_upload(st_.conn(), second, TRAINER, now=T0 + timedelta(minutes=59))


def test_uploads_on_the_real_clock_and_hostile_tokens(st_):
    parsed = glossary_file(concept("dancer", en="dancer roller"))
    token = st_.write(imports.keep_upload, LEAD, parsed, st_.read(imports.preview, parsed, "web:2"))
    upload = imports.get_upload(st_.conn(), token, LEAD)
    assert upload is not None and upload.source == "" and upload.created_at.utcoffset() == timedelta(0)
    assert st_.write(imports.discard_upload, "\ud800" * 30, LEAD) is False  # a lone surrogate from a form


def test_a_preview_leaves_no_copy_of_the_database_on_disk(st_, tmp_path, monkeypatch):
    # The copy it imports into is in memory: a file would be a second copy
    # of every person and fix, wherever the process happens to run.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    st_.read(imports.preview, glossary_file(concept("dancer", en="dancer roller")), "web:2")
    assert list(cwd.iterdir()) == []


# -- reading an upload -----------------------------------------------------------

@pytest.mark.parametrize("name, clean", [
    (None, ""), ("", ""), ("C:\\Users\\lead\\terms.csv", "terms.csv"), ("../../etc/terms.csv", "terms.csv"),
    ("ter\u200bms\x00\u202e.csv", "terms.csv"), ("line\u00a0 3  terms.csv", "line 3 terms.csv"),
    ("x" * 130 + ".csv", "x" * 120),
])
def test_a_file_name_without_folders_or_invisible_characters(name, clean):
    assert imports.clean_filename(name) == clean


def test_what_a_file_may_be_called():
    with pytest.raises(imports.Refused, match=r"^this file: use a \.csv or \.tbx \(glossary\), \.tmx \(memory\), "
                                              r"\.yaml, \.yml or \.json \(fixes\) file$"):
        imports.read_upload("", b"x")
    with pytest.raises(imports.Refused, match=r"^notes\.txt: use a \.csv"):
        imports.read_upload("notes.txt", b"x")


def test_the_size_cap_is_exact():
    with pytest.raises(imports.Refused, match="^big.csv: larger than 4 MB$"):
        imports.read_upload("big.csv", b"x" * (imports.MAX_UPLOAD + 1))
    with pytest.raises(imports.Refused) as at_cap:  # refused for what it says, not for its size
        imports.read_upload("big.csv", b"x" * imports.MAX_UPLOAD)
    assert not str(at_cap.value).startswith("big.csv: larger than")


def test_a_tbx_file_s_ids_belong_to_its_file_name_or_the_source_given():
    assert {c.id.split(".")[0] for c in imports.read_upload("x.tbx", TBX).items} == {"x"}
    long = imports.read_upload("x.tbx", TBX, "s" * 130)
    assert {source for source, _ in long.extra["external"].values()} == {"s" * 120}


def test_a_fix_file_reads_with_its_lines():
    parsed = imports.read_upload("fixes.yaml", fix_yaml(("one", "coater", ""), ("two", "coater", "")))
    assert parsed.read == exchange.ReadReport(kind="fixes", held=2, imported=2)
    assert parsed.where == {"one": "line 1", "two": "line 9"}
    assert len(parsed.extra["where"]) == 2


# -- fixes, memory and the import's own record ------------------------------------

def test_a_fix_file_previews_and_commits_with_its_photos_and_lines(st_, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "roller.jpg").write_bytes(b"\xff\xd8\xff")
    parsed = imports.read_upload("fixes.yaml", fix_yaml(
        ("one", "coater", "  photos:\n  - local_path: roller.jpg\n"), ("two", "slitter", "")))
    outcome = st_.read(imports.preview, parsed, "web:2", photos)
    assert outcome.added == [imports.Item("one", "one", "line 1"), imports.Item("two", "two", "line 11")]
    token = st_.write(imports.keep_upload, LEAD, parsed, outcome, now=T0)
    assert st_.write(imports.commit, token, LEAD, parsed, "web:2", photos) == outcome
    detail = st_.read(lambda db: db.execute(
        "SELECT entity, entity_id, detail FROM audit WHERE action = 'import' AND actor = 'web:2' "
        "AND entity = 'fixes'").fetchall())
    assert [(e, i, json.loads(d)) for e, i, d in detail] == [
        ("fixes", "fixes.yaml", {"sha256": parsed.sha256, "added": 2, "changed": 0, "unchanged": 0})]
    # Without the photos folder the same file is refused, naming the fix's line.
    with pytest.raises(imports.Refused, match=r"^line 1 \(fix 1\): photos\[1\]\.local_path 'roller\.jpg': must name "
                                              "a file inside the photos folder$"):
        st_.read(imports.preview, imports.read_upload("again.yaml", fix_yaml(
            ("three", "coater", "  photos:\n  - local_path: roller.jpg\n"))), "web:2")


def test_an_import_refused_by_its_checks_names_the_line(st_):
    parsed = imports.read_upload("fixes.yaml", fix_yaml(("one", "coater", ""), ("two", "no-such-thing", "")))
    with pytest.raises(imports.Refused, match=r"^line 9 \(fix 2\): equipment 'no-such-thing' is not a glossary "
                                              "concept$"):
        st_.read(imports.preview, parsed, "web:2")


def test_a_memory_preview_names_units_by_id_or_english_text(st_):
    unit_id = approved_unit(st_, "Stop the coater.", "Arrêtez l'enduiseuse.")
    long = "Check the roller " + "again " * 40
    parsed = imports.read_upload("units.tmx", tm.tmx_bytes([
        tm.Unit({"en": "Stop the coater.", "ko": "코터를 정지하십시오."}),
        tm.Unit({"fr": "Vérifiez le rouleau.", "en": "Check the roller."}),
        tm.Unit({"en": long, "fr": "Vérifiez."})]))
    outcome = st_.read(imports.preview, parsed, "web:2")
    assert [(i.key, i.label) for i in outcome.changed] == [(str(unit_id), "Stop the coater.")]
    # A new unit is named by its English text (its id is the database's),
    # the label cut at 200 characters.
    assert outcome.added[0] == imports.Item("new:Check the roller.", "Check the roller.", "")
    assert [i.label for i in outcome.added[1:]] == [long.strip()[:200]]


def test_the_entry_cap_of_a_web_import(monkeypatch):
    monkeypatch.setattr(imports, "MAX_ITEMS", 2)
    data = exchange.csv_bytes([concept("a", en="a"), concept("b", en="b")])
    assert len(imports.read_upload("two.csv", data).items) == 2
    data = exchange.csv_bytes([concept("a", en="a"), concept("b", en="b"), concept("c", en="c")])
    with pytest.raises(imports.Refused, match=r"^three\.csv: 3 entries, more than the 2 a web import takes "
                                              r"\(one transaction\); import it with the shopbot command line, "
                                              r"which commits in batches$"):
        imports.read_upload("three.csv", data)
