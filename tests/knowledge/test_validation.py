"""What a fix may hold (bot/knowledge/fixes.py): each check and the message
a trainer or an import reads (FixError messages are shown as is)."""

from __future__ import annotations

import json

import pytest

from bot.knowledge import fixes as fx
from bot.knowledge import search as ks
from tests.knowledge.test_fixes import (ADMIN, LEAD, OPERATOR, STRANGER, TRAINER, TRAINER2, approved,  # noqa: F401
                                        draft, kb, st_, versions)


def refused(fn, *args, **kwargs) -> str:
    with pytest.raises(fx.FixError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def fix_data(**kw) -> fx.FixData:
    args = dict(slug="a-b", equipment="coater", original_lang="en",
                texts={"en": {"symptom": "Burr", "steps": ["Change the knife"]}})
    args.update(kw)
    return fx.FixData(**args)


def test_codes():
    assert fx.clean_code(" e-203 ") == "E-203"
    assert fx.clean_code("ｅ２０３") == "E203"
    assert fx.clean_code(4051) == "4051"
    assert fx.clean_code("e 2 03") == "E203"
    assert fx.clean_code("A" + "1" * 31) == "A" + "1" * 31
    assert refused(fx.clean_code, 1.5) == "code 1.5 is not text"
    assert refused(fx.clean_code, "hello") == \
        "code 'hello' is not an alarm code (letters and digits, e.g. E-203)"
    for bad in ("A" + "1" * 32, "-203", "E#203", ""):
        assert "is not an alarm code" in refused(fx.clean_code, bad)
    assert fx.fold_code("e-2.03/x") == "E203X" and fx.fold_code("Ｅ 203") == "E203"


def test_text_fields():
    assert fx._text(None, "cause", 10) == ""
    assert fx._text("  ab  ", "cause", 2) == "ab"
    assert refused(fx._text, 5, "cause", 10) == "cause must be text, not int"
    assert refused(fx._text, "abc", "cause", 2) == "cause is longer than 2 characters"
    assert refused(fx._text, "a\x07b", "cause", 10) == "cause contains a control character"
    assert refused(fx._text, "\u200b ", "symptom", 10, True) == "symptom is empty"
    assert fx._text("", "cause", 10, False) == ""


def test_item_lists():
    assert fx._items(None, "steps", 2) == []
    assert fx._items(["a", " ", "", "b"], "steps", 2) == ["a", "b"]  # blanks dropped before counting
    assert refused(fx._items, "a", "steps", 2) == "steps must be a list of text"
    assert refused(fx._items, ["a", "b", "c"], "steps", 2) == "steps has more than 2 items"
    assert refused(fx._items, [], "steps", 2, True) == "steps needs at least one item"
    assert refused(fx._items, ["a", 3], "steps", 5) == "steps[2] must be text, not int"
    assert refused(fx._items, ["x" * (fx.MAX_ITEM + 1)], "steps", 5) == "steps[1] is longer than 1000 characters"


def test_clean_text():
    text = fx.clean_text({"symptom": " s ", "steps": ["x"]}, "texts.en")
    assert text == fx.FixText("s", "", ["x"], [], "original")
    assert fx.clean_text(fx.FixText("s", "c", ["x"], ["y"], "machine"), "t").kind == "machine"
    assert fx.clean_text({"symptom": "s", "steps": ["x"], "kind": "machine"}, "t", kind="verified").kind == "verified"
    assert refused(fx.clean_text, ["s"], "texts.en") == \
        "texts.en: must be a mapping with symptom, cause, steps, safety"
    assert refused(fx.clean_text, {"symptom": "s", "steps": ["x"], "zz": 1, "aa": 2}, "texts.en") == \
        "texts.en: unknown field(s) aa, zz"
    assert refused(fx.clean_text, {"symptom": "s", "steps": ["x"], "kind": "robot"}, "texts.en") == \
        "texts.en.kind: 'robot' is not one of original, machine, verified"
    assert refused(fx.clean_text, {"symptom": "s", "steps": ["x"] * 31}, "t") == "t.steps has more than 30 items"
    assert refused(fx.clean_text, {"symptom": "s", "steps": ["x"], "safety": ["y"] * 11}, "t") == \
        "t.safety has more than 10 items"
    assert refused(fx.clean_text, {"symptom": "s" * 501, "steps": ["x"]}, "t") == \
        "t.symptom is longer than 500 characters"
    assert refused(fx.clean_text, {"symptom": "s", "cause": "c" * 2001, "steps": ["x"]}, "t") == \
        "t.cause is longer than 2000 characters"
    long = fx.clean_text({"symptom": "s" * 500, "cause": "c" * 2000, "steps": ["x"] * 30,
                          "safety": ["y"] * 10}, "t")
    assert (len(long.symptom), len(long.cause), len(long.steps), len(long.safety)) == (500, 2000, 30, 10)


def test_photos():
    assert fx.clean_photos(None) == []
    assert fx.clean_photos([fx.Photo("f", None, "c"), {"local_path": " p.jpg "}]) == [
        fx.Photo("f", None, "c"), fx.Photo(None, "p.jpg", "")]
    assert refused(fx.clean_photos, "p.jpg") == "photos must be a list of at most 10"
    assert refused(fx.clean_photos, [{"file_id": "f"}] * 11) == "photos must be a list of at most 10"
    assert len(fx.clean_photos([{"file_id": "f"}] * 10)) == 10
    assert refused(fx.clean_photos, [{"file_id": "f"}, "x"]) == \
        "photos[2]: a mapping of file_id, local_path, caption"
    assert refused(fx.clean_photos, [{"file_id": "f", "url": "u"}]) == \
        "photos[1]: a mapping of file_id, local_path, caption"
    assert refused(fx.clean_photos, [{"caption": "c"}]) == "photos[1]: needs a file_id or a local_path"
    assert refused(fx.clean_photos, [{"file_id": " ", "local_path": ""}]) == \
        "photos[1]: needs a file_id or a local_path"
    assert refused(fx.clean_photos, [{"file_id": "f" * 257}]) == \
        "photos[1].file_id is longer than 256 characters"
    assert refused(fx.clean_photos, [{"local_path": "p" * 1025}]) == \
        "photos[1].local_path is longer than 1024 characters"
    assert refused(fx.clean_photos, [{"file_id": "f", "caption": "c" * 1001}]) == \
        "photos[1].caption is longer than 1000 characters"


def test_clip_repr():
    assert fx.clip_repr("abc") == "'abc'"
    assert fx.clip_repr("x" * 81) == repr("x" * 80) + "…"
    assert fx.clip_repr("x" * 80) == repr("x" * 80)
    assert fx.clip_repr(["y" * 100]) == repr(["y" * 100])[:80] + "…"
    assert fx.clip_repr(12) == "12" and fx.clip_repr("abcdef", 3) == "'abc'…"


def test_clean_fix():
    data = fx.clean_fix(fix_data(texts={"fr": {"symptom": "Bavure", "steps": ["x"], "kind": "machine"},
                                        "en": {"symptom": "Burr", "steps": ["Change"]}},
                                 codes=["e-1", "E1", "e-1"], sample=1, author=42,
                                 reject_reason="  ", photos=None))
    assert list(data.texts) == ["fr", "en"]  # in the order of LANGS
    assert data.codes == ["E-1", "E1"] and data.sample is True and data.author == "42"
    assert data.reject_reason is None and data.photos == []
    assert fx.clean_fix(fix_data(slug=None)).slug is None
    assert refused(fx.clean_fix, fix_data(slug="Bad Slug")) == \
        "slug 'Bad Slug': lower-case letters, digits and '-', at most 80"
    assert refused(fx.clean_fix, fix_data(slug=5)).startswith("slug 5:")
    assert fx.clean_fix(fix_data(slug="a" * 80)).slug == "a" * 80
    assert refused(fx.clean_fix, fix_data(slug="a" * 81)).startswith("slug ")
    assert refused(fx.clean_fix, fix_data(equipment="")) == "equipment: a glossary concept id is required"
    assert refused(fx.clean_fix, fix_data(equipment=None)) == "equipment: a glossary concept id is required"
    assert refused(fx.clean_fix, fix_data(original_lang="de")) == \
        "original_lang 'de' is not one of zh, ko, ms, fr, en"
    assert refused(fx.clean_fix, fix_data(status="done")) == \
        "status 'done' is not one of draft, pending, approved, rejected, archived"
    assert refused(fx.clean_fix, fix_data(texts={"fr": {"symptom": "s", "steps": ["x"]}})) == \
        "texts: the original language (en) needs a text"
    assert refused(fx.clean_fix, fix_data(texts=None)) == "texts: the original language (en) needs a text"
    assert refused(fx.clean_fix, fix_data(texts={"en": {"symptom": "s", "steps": ["x"]},
                                                 "de": {"symptom": "s", "steps": ["x"]}})) == \
        "texts: unknown language 'de'"
    assert refused(fx.clean_fix, fix_data(texts={"en": {"symptom": "s", "steps": ["x"], "kind": "machine"}})) == \
        "texts.en.kind: only the original language's text is 'original'"
    assert refused(fx.clean_fix, fix_data(texts={"en": {"symptom": "s", "steps": ["x"]},
                                                 "fr": {"symptom": "s", "steps": ["x"]}})) == \
        "texts.fr.kind: only the original language's text is 'original'"
    assert refused(fx.clean_fix, fix_data(codes="E1")) == "codes must be a list of at most 20"
    assert refused(fx.clean_fix, fix_data(codes=[f"E{i}" for i in range(21)])) == \
        "codes must be a list of at most 20"
    assert len(fx.clean_fix(fix_data(codes=[f"E{i}" for i in range(20)])).codes) == 20
    assert refused(fx.clean_fix, fix_data(status="rejected", reject_reason=" ")) == \
        "a rejected fix needs a reject_reason"
    assert fx.clean_fix(fix_data(status="rejected", reject_reason=" why ")).reject_reason == "why"
    assert refused(fx.clean_fix, fix_data(status="rejected", reject_reason=None)) == \
        "a rejected fix needs a reject_reason"
    assert refused(fx.clean_fix, fix_data(status="rejected", reject_reason="x" * (fx.MAX_CAUSE + 1))) == \
        f"reject_reason is longer than {fx.MAX_CAUSE} characters"
    assert refused(fx.clean_fix, fix_data(texts={"en": {"symptom": " ", "steps": ["x"]}})) == \
        "texts.en.symptom is empty"


def test_check_import_authors(st_):
    db = st_.conn()
    fx.check_import(db, fix_data(author=str(TRAINER)), None)
    for tag in ("import", "sample", "system", "cli:x"):
        fx.check_import(db, fix_data(author=tag), None)
    assert refused(fx.check_import, db, fix_data(author="1" * 16), None) == (
        "author '1111111111111111': not a known person (/users in the bot lists them; "
        "invite them first, or leave the author out)")
    assert refused(fx.check_import, db, fix_data(author="seed"), None) == \
        "author 'seed': a known person's Telegram id, or one of import, sample, system"
    photo = fix_data(photos=[fx.Photo(local_path="../x.jpg")])
    assert refused(fx.check_import, db, photo, None) == \
        "photos[1].local_path '../x.jpg': must name a file inside the photos folder"


def test_actor_roles(st_):
    db = st_.conn()
    assert [fx.actor_role(db, a) for a in (ADMIN, LEAD, TRAINER, OPERATOR, STRANGER)] == [
        "admin", "lead", "trainer", "operator", None]
    assert [fx.actor_role(db, a) for a in ("system", "seed", "cli:bob", "import", "1", True, 0, -1,
                                           2**53, None, 1.0)] == [
        "admin", "admin", "admin", None, None, None, None, None, None, None, None]
    assert fx.actor_tag(5) == "tg:5" and fx.actor_tag("cli:x") == "cli:x"


def test_messages_of_refused_requests(st_):
    fix_id = draft(st_)
    assert refused(st_.write, fx.submit, fix_id, TRAINER2) == f"only the author of fix {fix_id} can submit this fix"
    assert refused(st_.write, fx.submit, fix_id, OPERATOR) == "only a trainer or above can submit this fix"
    assert refused(st_.write, fx.approve, fix_id, TRAINER) == "only a lead or above can approve fixes"
    assert refused(st_.write, fx.approve, fix_id, LEAD) == \
        f"cannot approve fix {fix_id}: it is draft (only a pending fix can be)"
    assert refused(st_.write, fx.update_draft, fix_id, TRAINER, slug="x", author="y") == "cannot change author, slug"
    assert refused(st_.write, fx.submit, 999, TRAINER) == "no fix #999"
    assert refused(st_.write, fx.reject, fix_id, LEAD, "  ") == "a rejection needs a reason the author can act on"
    assert refused(st_.write, fx.reject, fix_id, LEAD, None) == "a rejection needs a reason the author can act on"
    assert refused(st_.write, fx.adopt_sample, fix_id, TRAINER) == \
        "only a lead or above can validate a sample fix for this site"
    assert refused(st_.write, fx.feedback, fix_id, OPERATOR, True) == f"fix {fix_id} is not approved"
    assert refused(st_.write, fx.feedback, fix_id, STRANGER, True) == "only registered people can rate fixes"
    assert refused(st_.write, fx.verify_text, fix_id, "fr", TRAINER) == \
        f"fix {fix_id} is draft: translations are reviewed once it is approved"
    st_.write(fx.submit, fix_id, TRAINER)
    st_.write(fx.approve, fix_id, LEAD)
    assert refused(st_.write, fx.verify_text, fix_id, "de", TRAINER) == "unknown language 'de'"
    assert refused(st_.write, fx.verify_text, fix_id, "fr", TRAINER) == f"fix {fix_id} has no fr text to verify"
    assert refused(st_.write, fx.verify_text, fix_id, "fr", OPERATOR) == "only a trainer or above can verify translations"
    assert refused(st_.write, fx.correct_text, fix_id, "fr", "s", "", ["x"], [], OPERATOR) == \
        "only a trainer or above can correct translations"
    assert refused(st_.write, fx.withdraw, fix_id, TRAINER) == \
        f"cannot withdraw fix {fix_id}: it is approved (only a draft or pending fix can be)"
    assert refused(st_.write, fx.update_draft, fix_id, TRAINER, symptom="x") == \
        f"fix {fix_id} is approved: only drafts, pending and rejected fixes can be edited"


def test_import_needs_slugs_and_names_the_item(st_):
    assert refused(st_.write, fx.import_fixes, [fix_data(slug=None)], "cli:t") == \
        "item 1: a slug is required in a file (it is what import merges on)"
    assert refused(st_.write, fx.import_fixes, [fix_data(), fix_data(equipment="nope")], "cli:t") == \
        "item 2: equipment 'nope' is not a glossary concept"
    assert refused(st_.write, fx.import_fixes, [fix_data(), fix_data()], "cli:t", ["A", "B"]) == \
        "B: slug 'a-b' also at A"


def test_samples_are_adopted_or_removed(st_):
    sample = st_.write(fx.import_fixes, [fix_data(slug="s-1", sample=True, status="approved"),
                                         fix_data(slug="s-2", sample=True, status="approved"),
                                         fix_data(slug="own", status="approved")], "cli:t")
    assert sample.added == 3
    ids = dict(st_.conn().execute("SELECT slug, id FROM fix").fetchall())
    before = versions(st_, ids["s-1"])
    assert st_.write(fx.adopt_sample, ids["s-1"], LEAD) is True
    assert versions(st_, ids["s-1"]) == before + [before[-1] + 1]
    assert st_.write(fx.adopt_sample, ids["s-1"], LEAD) is False
    assert st_.write(fx.adopt_sample, ids["own"], LEAD) is False
    assert st_.read(fx.load_fix, ids["s-1"]).sample is False
    st_.write(fx.import_fixes, [fix_data(slug="s-3", sample=True, status="approved")], "cli:t")
    snapshot = st_.read(fx.load_fix, ids["s-2"]).to_dict()
    assert st_.write(fx.remove_samples, "cli:t") == 2
    assert dict(st_.conn().execute("SELECT slug, sample FROM fix").fetchall()) == {"s-1": 0, "own": 0}
    actor, action, detail = st_.conn().execute(
        "SELECT actor, action, detail FROM audit WHERE entity = 'fix' AND entity_id = ? ORDER BY id DESC",
        [str(ids["s-2"])]).fetchone()
    assert (actor, action, json.loads(detail)) == ("cli:t", "remove sample", {"snapshot": snapshot})
    assert st_.write(fx.remove_samples, "cli:t") == 0


def test_common_concepts_and_filler_words(st_, kb, monkeypatch):
    """Past COMMON_MENTIONS fixes, a concept is checked only on the fixes the
    other signals found; past FTS_COMMON texts a word only gives a flat score."""
    a = approved(st_, codes=["E-1"])  # 涂布机张力报警: mentions alarm, web-tension
    b = approved(st_, codes=["E-2"])
    c = approved(st_, codes=["E-3"], equipment="slitter", symptom="分切机报警", cause="", steps=["换刀"])
    monkeypatch.setattr(ks, "COMMON_MENTIONS", 1)
    # "alarme" is common now: found on the fixes E1 found, and on no other.
    results = kb.search("E1 alarme", "fr")
    assert [(r.id, r.reasons) for r in results] == [(a, ["code:E1", "mentions:alarm"])]
    # Alone, a common concept gives the first fixes that mention it.
    assert sorted(r.id for r in kb.search("alarme", "fr")) == [a, b, c]
    assert all(r.reasons == ["mentions:alarm"] and r.score == 25.0 for r in kb.search("alarme", "fr"))
    monkeypatch.setattr(ks, "FTS_COMMON", 1)
    fr1 = approved(st_, original_lang="fr", symptom="Le film se plisse", cause="", steps=["x"], codes=[])
    fr2 = approved(st_, original_lang="fr", symptom="Le film plisse encore", cause="", steps=["x"], codes=[])
    flat = kb.search("plisse", "fr")
    assert sorted(r.id for r in flat) == [fr1, fr2] and {r.score for r in flat} == {10.0}
    rare = kb.search("plisse encore", "fr")  # "encore" is in one text: it ranks, "plisse" does not
    assert [(r.id, r.score) for r in rare] == [(fr2, 40.0)]


def test_machine_texts_only_for_an_approved_fix(st_):
    fix_id = draft(st_)
    assert st_.write(fx.add_machine_texts, fix_id, {"fr": fx.FixText("s", "", ["x"], [], "machine")}, LEAD) == []
    assert list(st_.read(fx.load_texts, fix_id)) == ["zh"] and versions(st_, fix_id) == [1]


def test_blank_searches_are_not_logged(st_):
    for query in ("   ", "", None, 5):
        st_.write(fx.log_search, query, "fr", 0, None)
    st_.write(fx.log_search, " x" * 300, None, 2, "cli:a")
    rows = st_.conn().execute("SELECT query, lang, results, user_id FROM fix_search").fetchall()
    assert rows == [("x " * 100, None, 2, "cli:a")]  # stripped, then cut at MAX_QUERY


def test_photo_file_of_a_bad_path(tmp_path):
    assert fx.photo_file(tmp_path, "a\x00b") is None
    assert fx.photo_file(tmp_path, "") is None
    assert fx.photo_file(tmp_path, ".") is None  # the folder itself
