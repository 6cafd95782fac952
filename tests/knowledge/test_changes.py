"""What each change to a fix writes (bot/knowledge/fixes.py): slugs,
versions and their snapshots, audit details, edits, imports, votes."""

from __future__ import annotations

import json

import pytest

from bot.knowledge import fixes as fx
from bot.storage import Storage
from glossary import store as glossary_store
from tests.conftest import concept
from tests.knowledge.test_fixes import (ADMIN, LEAD, OPERATOR, STUCK, TRAINER, TRAINER2, approved,  # noqa: F401
                                        draft, fix_audits, st_, versions)


def slug(storage, fix_id):
    return storage.read(fx.load_fix, fix_id).slug


def test_slugs(st_):
    assert slug(st_, draft(st_)) == "coater-e203"  # Chinese symptom: the codes
    assert slug(st_, draft(st_)) == "coater-e203-2"
    assert slug(st_, draft(st_)) == "coater-e203-3"
    assert slug(st_, draft(st_, codes=["E-1", "x.2", "E3"])) == "coater-e1-x2"
    hashed = slug(st_, draft(st_, codes=[]))
    assert hashed.startswith("coater-") and len(hashed) == len("coater-") + 8
    assert slug(st_, draft(st_, original_lang="fr", symptom="L'Enduiseuse s'arrête: tension trop haute, alarme E-9",
                           codes=[])) == "coater-l-enduiseuse-s-arrete-tension-trop"
    long = slug(st_, draft(st_, original_lang="en", symptom=" ".join(["abcdefghijklmnopqrstuvwxyz"] * 6), codes=[]))
    assert len(long) == 72 and long.startswith("coater-abcdefghijklmnopqrstuvwxyz-")
    assert slug(st_, draft(st_, slug="my-own")) == "my-own"


def test_a_slug_from_the_machine_and_the_symptom_s_latin_words(st_):
    st_.write(glossary_store.upsert_concepts, [concept("Line_3.Coater", en="line 3 coater")], "tests")
    assert slug(st_, draft(st_, equipment="Line_3.Coater", original_lang="fr", symptom="Alarme tension (bobine) !")) \
        == "line-3-coater-alarme-tension-bobine"
    # 72 characters at most, never ending on the hyphen the cut fell after.
    assert slug(st_, draft(st_, original_lang="en", symptom="a" * 64 + " b")) == "coater-" + "a" * 64
    assert slug(st_, draft(st_, original_lang="en", symptom="a" * 64 + " b")) == "coater-" + "a" * 64 + "-2"


def test_a_version_and_an_audit_row_per_change(st_):
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    st_.write(fx.reject, fix_id, LEAD, "  add the torque ")
    assert fix_audits(st_, fix_id) == [
        (f"tg:{TRAINER}", "create", {"version": 1}),
        (f"tg:{TRAINER}", "submit", {"version": 2, "from": "draft", "to": "pending"}),
        (f"tg:{LEAD}", "reject", {"version": 3, "from": "pending", "to": "rejected", "reason": "add the torque"}),
    ]
    row = st_.conn().execute("SELECT actor, why, snapshot FROM fix_version WHERE snippet_id = ? AND version = 3",
                             [fix_id]).fetchone()
    assert row[:2] == (f"tg:{LEAD}", "reject")
    snapshot = json.loads(row[2])
    assert snapshot == st_.read(fx.load_fix, fix_id).to_dict()
    assert snapshot["reject_reason"] == "add the torque" and snapshot["status"] == "rejected"
    assert st_.conn().execute("SELECT version FROM fix WHERE id = ?", [fix_id]).fetchone() == (3,)


def test_editing_a_rejected_fix(st_):
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    st_.write(fx.reject, fix_id, LEAD, "add the torque")
    assert st_.write(fx.update_draft, fix_id, TRAINER, steps=["停机", "拧紧到 5 Nm"], codes=["E-204"]) == 4
    data = st_.read(fx.load_fix, fix_id)
    assert (data.status, data.reject_reason, data.codes) == ("draft", None, ["E-204"])
    assert data.texts["zh"].steps == ["停机", "拧紧到 5 Nm"] and data.texts["zh"].symptom == "涂布机张力报警"
    assert fix_audits(st_, fix_id)[-1] == (f"tg:{TRAINER}", "edit", {"version": 4, "status": "draft"})
    codes = st_.conn().execute("SELECT code, digits FROM fix_code WHERE snippet_id = ?", [fix_id]).fetchall()
    assert codes == [("E204", "204")]


def test_editing_the_original_drops_machine_texts_and_keeps_verified_ones(st_):
    fix_id = approved(st_)
    st_.write(fx.add_machine_texts, fix_id, {
        "fr": fx.FixText("Alarme", "", ["Arrêter"], [], "machine"),
        "en": fx.FixText("Alarm", "", ["Stop"], [], "machine"),
        "ko": fx.FixText("알람", "", ["정지"], [], "machine")}, LEAD)
    st_.write(fx.verify_text, fix_id, "fr", TRAINER2)
    st_.write(fx.verify_text, fix_id, "en", TRAINER2)
    # Approved fixes cannot be edited: send it back through an import as a draft.
    data = st_.read(fx.load_fix, fix_id)
    data.status = "draft"
    st_.write(fx.import_fixes, [data], "cli:t")
    st_.write(fx.update_draft, fix_id, TRAINER, original_lang="en",
              symptom="Coater tension alarm", cause="", steps=["Stop"], safety=[])
    texts = st_.read(fx.load_texts, fix_id)
    assert {lang: t.kind for lang, t in texts.items()} == {"fr": "verified", "en": "original"}
    assert texts["en"].symptom == "Coater tension alarm"


def test_changes_other_than_content_are_refused(st_):
    fix_id = draft(st_)
    with pytest.raises(fx.FixError, match="^cannot change status$"):
        st_.write(fx.update_draft, fix_id, TRAINER, status="approved")
    with pytest.raises(fx.FixError, match="not a glossary concept"):
        st_.write(fx.update_draft, fix_id, TRAINER, equipment="nope")
    assert versions(st_, fix_id) == [1]


def test_pending_stays_pending_and_the_author_is_kept(st_):
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    st_.write(fx.update_draft, fix_id, "system", cause="新原因")
    data = st_.read(fx.load_fix, fix_id)
    assert (data.status, data.author, data.texts["zh"].cause) == ("pending", str(TRAINER), "新原因")


def test_import_updates_every_field(st_):
    fix_id = draft(st_, slug="imp")
    data = st_.read(fx.load_fix, fix_id)
    new = fx.FixData(slug="imp", equipment="slitter", original_lang="en", codes=["X-9"], author="sample",
                     sample=True, status="rejected", reject_reason="old",
                     photos=[fx.Photo("AgAD", None, "cap")],
                     texts={"en": fx.FixText("Burr", "", ["Change"], [])})
    assert data.to_dict() != new.to_dict()
    report = st_.write(fx.import_fixes, [new], "cli:t")
    assert (report.added, report.updated, report.unchanged) == (0, 1, 0)
    assert st_.read(fx.load_fix, fix_id).to_dict() == fx.clean_fix(new).to_dict()
    assert st_.read(fx.load_texts, fix_id).keys() == {"en"}  # the zh text went
    assert fix_audits(st_, fix_id)[-1] == ("cli:t", "import", {"version": 2})
    assert st_.conn().execute("SELECT count(*) FROM fix_concept WHERE snippet_id = ? AND concept_id = 'coater'",
                              [fix_id]).fetchone() == (0,)


def test_to_dict_names_a_reject_reason_only_when_there_is_one(st_):
    fix_id = draft(st_)
    assert "reject_reason" not in st_.read(fx.load_fix, fix_id).to_dict()
    st_.write(fx.submit, fix_id, TRAINER)
    st_.write(fx.reject, fix_id, LEAD, "why")
    assert st_.read(fx.load_fix, fix_id).to_dict()["reject_reason"] == "why"


def test_votes_can_change(st_):
    fix_id = approved(st_)
    assert tuple(st_.write(fx.feedback, fix_id, OPERATOR, True)) == (1, 0)
    assert tuple(st_.write(fx.feedback, fix_id, TRAINER, 0)) == (1, 1)
    assert tuple(st_.write(fx.feedback, fix_id, OPERATOR, False)) == (0, 2)
    assert tuple(st_.write(fx.feedback, fix_id, OPERATOR, "yes")) == (1, 1)
    assert versions(st_, fix_id) == [1, 2, 3]  # votes are not versions


def test_a_correction_is_audited_with_its_units(st_):
    fix_id = approved(st_)
    units = st_.write(fx.correct_text, fix_id, "fr", "Alarme de tension", "", ["Arrêter", "Vérifier"],
                      ["Consigner"], TRAINER2)
    assert len(units) == 4  # symptom, two steps, one safety item: no cause
    assert fix_audits(st_, fix_id)[-1] == (f"tg:{TRAINER2}", "correct",
                                          {"version": 4, "lang": "fr", "tm_units": units})
    note = st_.conn().execute("SELECT DISTINCT note FROM tm_unit WHERE origin = 'correction'").fetchall()
    assert note == [(f"fix {slug(st_, fix_id)}",)]
    text = st_.read(fx.load_texts, fix_id)["fr"]
    assert (text.kind, text.cause) == ("verified", "")
    assert st_.conn().execute("SELECT updated_by FROM fix_text WHERE snippet_id = ? AND lang = 'fr'",
                              [fix_id]).fetchone() == (f"tg:{TRAINER2}",)


def test_a_second_correction_pairs_only_what_changed(st_):
    fix_id = approved(st_)
    st_.write(fx.correct_text, fix_id, "en", "Tension alarm", "Stuck roller", ["Stop", "Check"], ["Lock out"],
              TRAINER2)
    again = st_.write(fx.correct_text, fix_id, "en", "Tension alarm", "Stuck dancer roller",
                      ["Stop", "Check the dancer"], ["Lock out"], TRAINER2)
    assert len(again) == 2  # the cause and the second step


def test_pairs():
    original = fx.FixText("s", "c", ["a", "b"], ["x"])
    old = fx.FixText("S", "C", ["A", "B"], ["X"], "machine")
    new = fx.FixText("S", "C2", ["A", "B2"], ["X"], "verified")
    assert fx._pairs(original, old, new) == [("c", "C2"), ("b", "B2")]
    assert fx._pairs(fx.FixText("s", "", ["a"], []), None, fx.FixText("S", "C", ["A"], [])) == [
        ("s", "S"), ("a", "A")]  # no original cause: nothing to pair it with


def test_verify_records_who(st_):
    fix_id = approved(st_)
    st_.write(fx.add_machine_texts, fix_id, {"fr": fx.FixText("Alarme", "", ["Arrêter"], [], "machine")}, LEAD)
    assert fix_audits(st_, fix_id)[-1] == (f"tg:{LEAD}", "translate", {"version": 4, "langs": ["fr"]})
    st_.write(fx.verify_text, fix_id, "fr", TRAINER2)
    assert fix_audits(st_, fix_id)[-1] == (f"tg:{TRAINER2}", "verify", {"version": 5, "lang": "fr"})
    assert st_.conn().execute("SELECT kind, updated_by FROM fix_text WHERE snippet_id = ? AND lang = 'fr'",
                              [fix_id]).fetchone() == ("verified", f"tg:{TRAINER2}")
    # A person's text is never overwritten by a machine.
    assert st_.write(fx.add_machine_texts, fix_id, {"fr": fx.FixText("X", "", ["Y"], [], "machine")}, LEAD) == []
    assert st_.read(fx.load_texts, fix_id)["fr"].symptom == "Alarme"


def test_withdraw_keeps_the_content_in_the_audit(st_):
    fix_id = draft(st_)
    snapshot = st_.read(fx.load_fix, fix_id).to_dict()
    assert st_.write(fx.withdraw, fix_id, TRAINER) == []
    assert fix_audits(st_, fix_id)[-1] == (f"tg:{TRAINER}", "withdraw", {"snapshot": snapshot})
    with pytest.raises(fx.FixNotFound):
        st_.read(fx.load_fix, fix_id)


def test_admins_act_for_authors_only_as_local_processes(st_):
    fix_id = draft(st_)
    with pytest.raises(fx.FixPermissionError):
        st_.write(fx.submit, fix_id, ADMIN)  # a person: only their own fixes
    st_.write(fx.submit, fix_id, "cli:ops")
    assert fix_audits(st_, fix_id)[-1][0] == "cli:ops"
    with pytest.raises(fx.FixPermissionError):
        st_.write(fx.withdraw, fix_id, TRAINER, role="operator")  # the role given wins
    st_.write(fx.withdraw, fix_id, TRAINER, role="trainer")


def test_concepts_inside_longer_terms(st_):
    spot = fx.term_index(st_.conn()).spot
    assert {"web-tension", "alarm"} <= fx.concepts_in(spot, "涂布机张力报警")
    assert fx.concepts_in(spot, "") == set()
    assert fx.concepts_in(spot, "coating machine") >= {"coater", "coating"}
    assert fx.concepts_in(spot, "报警", depth=3) == {"alarm"}


def test_a_term_is_split_three_levels_deep_and_no_deeper(st_):
    chain = "一二三四五六"
    st_.write(glossary_store.upsert_concepts,
              [concept(f"c{n}", zh=chain[:n]) for n in range(2, 7)], "tests")
    spot = fx.term_index(st_.conn()).spot
    # 一二三四五六 (depth 0) holds 一二三四五 (1), which holds 一二三四 (2), which
    # holds 一二三 (3): found, and not split again, so 一二 is not reached.
    assert fx.concepts_in(spot, chain) == {"c6", "c5", "c4", "c3"}


def test_a_latin_term_is_split_into_its_words(st_):
    st_.write(glossary_store.upsert_concepts, [concept("coater-alarm", en="coating machine alarm")], "tests")
    spot = fx.term_index(st_.conn()).spot
    assert fx.concepts_in(spot, "coating machine alarm") == {"coater-alarm", "coater", "coating", "alarm"}


def test_a_mixed_term_is_cut_around_its_chinese_or_korean_characters(st_):
    """CCD检测 (CCD inspection) holds 检测 and CCD; 2차 실링 holds 실링. A term
    with no Chinese or Korean character and no space is not cut (CCD is not C)."""
    st_.write(glossary_store.upsert_concepts,
              [concept("ccd-inspection", zh="CCD检测"), concept("inspection", zh="检测"),
               concept("ccd", en="CCD*abbr"), concept("cd", en="CD*abbr"),
               concept("second-sealing", ko="2차 실링"), concept("sealing", ko="실링"),
               concept("x-ray-inspection", zh="X射线检测", en="X-ray inspection"),
               concept("x-ray", zh="X射线")], "tests")
    spot = fx.term_index(st_.conn()).spot
    assert fx.concepts_in(spot, "CCD检测") == {"ccd-inspection", "inspection", "ccd"}
    assert fx.concepts_in(spot, "2차 실링") == {"second-sealing", "sealing"}
    assert fx.concepts_in(spot, "X射线检测") == {"x-ray-inspection", "x-ray", "inspection"}
    assert fx.concepts_in(spot, "X-ray inspection") == {"x-ray-inspection"}


def test_the_upgrade_to_mixed_term_cuts_spots_every_fix_again(st_):
    from bot.storage import MIGRATIONS

    assert fx.migrate_respot_mixed_terms in MIGRATIONS  # (last today; not pinned, so the next one can follow)
    draft(st_)
    draft(st_)
    fx.reindex_concepts(st_.write, st_.read)  # a database spotted before the upgrade
    assert not st_.read(fx.concepts_stale)
    st_.write(fx.migrate_respot_mixed_terms)
    assert st_.read(fx.concepts_stale)
    assert fx.reindex_concepts(st_.write, st_.read) == 2  # every fix, once
    assert not st_.read(fx.concepts_stale)


def test_each_database_file_has_its_own_term_index(st_, tmp_path):
    other = Storage(tmp_path / "other.db", seed=False)
    try:
        other.write(glossary_store.upsert_concepts, [STUCK], "tests")
        assert other.read(glossary_store.glossary_rev) == st_.read(glossary_store.glossary_rev)  # same revision
        assert fx.concepts_in(fx.term_index(other.conn()).spot, "danseur bloqué") == {"dancer-stuck"}
        assert fx.concepts_in(fx.term_index(st_.conn()).spot, "danseur bloqué") == set()
    finally:
        other.close()


def test_a_version_s_snapshot_is_readable_sorted_json(st_):
    fix_id = draft(st_)
    snapshot = st_.read(lambda db: db.execute("SELECT snapshot FROM fix_version WHERE snippet_id = ?",
                                              [fix_id]).fetchone()[0])
    assert "涂布机张力报警" in snapshot  # not \u escapes
    data = json.loads(snapshot)
    assert list(data) == sorted(data) and list(data["texts"]["zh"]) == sorted(data["texts"]["zh"])


def test_the_term_index_follows_the_glossary(st_):
    db = st_.conn()
    first = fx.term_index(db)
    assert fx.term_index(db) is first
    st_.write(glossary_store.upsert_concepts, [STUCK], "tests")
    assert fx.term_index(db) is not first
    assert "dancer-stuck" in fx.concepts_in(fx.term_index(db).spot, "danseur bloqué")


def test_codes_are_stored_folded_with_their_number(st_):
    fix_id = draft(st_, codes=["E-0", "e-0203", "X 7b"])
    rows = st_.conn().execute("SELECT code, digits FROM fix_code WHERE snippet_id = ? ORDER BY code",
                              [fix_id]).fetchall()
    assert rows == [("E0", "0"), ("E0203", "203"), ("X7B", "7")]
    assert st_.read(fx.load_fix, fix_id).codes == ["E-0", "E-0203", "X7B"]  # as displayed


def test_terms_inside_a_three_character_term(st_):
    spot = fx.term_index(st_.conn()).spot
    assert fx.concepts_in(spot, "正极耳") == {"positive-tab", "tab"}
    assert fx.concepts_in(spot, "正极耳", depth=2) == {"positive-tab", "tab"}
    assert fx.concepts_in(spot, "正极耳", depth=3) == {"positive-tab"}  # deep enough: not split again
    assert fx.concepts_in(spot, "positive tab") == {"positive-tab", "tab"}
    assert fx.concepts_in(spot, "tab") == {"tab"}
