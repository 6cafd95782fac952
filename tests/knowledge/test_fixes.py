"""The knowledge base of fixes (bot/knowledge/fixes.py, bot/knowledge/search.py,
bot/knowledge/files.py): state machine, permissions, translations, corrections,
search, import/export, samples."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot.knowledge import files as fix_files, search as knowledge
from bot.knowledge import fixes as fx
from bot.translation.memory import TranslationMemory
from bot.storage import connect, migrate, run_in_transaction
from glossary import Glossary
from glossary import store as glossary_store
from tests.conftest import SMALL, concept
from tests.translation.test_engine import make_engine

EXTRA = [
    concept("web-tension", zh="张力", ko="장력", ms="ketegangan", fr="tension de bande|tension",
            en="web tension|tension"),
    concept("alarm", category="alarm", zh="报警", ko="알람", ms="penggera", fr="alarme", en="alarm"),
    concept("slitter", equipment=True, zh="分切机", ko="슬리터", ms="mesin belah", fr="refendeuse",
            en="slitter"),
]

ADMIN, LEAD, TRAINER, TRAINER2, OPERATOR, STRANGER = 1, 2, 3, 4, 5, 99


def add_people(db) -> None:
    for uid, role in ((ADMIN, "admin"), (LEAD, "lead"), (TRAINER, "trainer"),
                      (TRAINER2, "trainer"), (OPERATOR, "operator")):
        db.execute("INSERT INTO person (user_id, role, ui_lang, created_at) VALUES (?, ?, 'fr', '2024-01-01T00:00:00+00:00')",
                   [uid, role])


@pytest.fixture
def st_(empty_storage):
    """A database with a small known glossary and one person per role."""
    empty_storage.write(glossary_store.upsert_concepts, SMALL + EXTRA, "tests")
    empty_storage.write(add_people)
    return empty_storage


@pytest.fixture
def kb(st_):
    return knowledge.FixBase(st_, Glossary(st_.conn))


def draft(storage, author=TRAINER, **kw) -> int:
    args = dict(author=author, equipment="coater", original_lang="zh", symptom="涂布机张力报警",
                cause="浮动辊卡住", steps=["停机", "检查浮动辊"], safety=["先挂牌上锁"], codes=["E-203"])
    args.update(kw)
    return storage.write(fx.create_draft, **args)


def approved(storage, **kw) -> int:
    fix_id = draft(storage, **kw)
    storage.write(fx.submit, fix_id, kw.get("author", TRAINER))
    storage.write(fx.approve, fix_id, LEAD)
    return fix_id


def status(storage, fix_id) -> str:
    return storage.read(fx.load_fix, fix_id).status


def versions(storage, fix_id) -> list[int]:
    return [r[0] for r in storage.conn().execute(
        "SELECT version FROM fix_version WHERE snippet_id = ? ORDER BY version", [fix_id])]


def fix_audits(storage, fix_id):
    return [(actor, action, json.loads(detail) if detail else None) for actor, action, detail in
            storage.conn().execute("SELECT actor, action, detail FROM audit WHERE entity = 'fix' "
                                   "AND entity_id = ? ORDER BY id", [str(fix_id)])]


def fix_concepts(storage, fix_id) -> set[str]:
    return {r[0] for r in storage.conn().execute("SELECT concept_id FROM fix_concept WHERE snippet_id = ?",
                                                 [fix_id])}


def audits(storage, fix_id, action=None) -> int:
    sql = "SELECT count(*) FROM audit WHERE entity = 'fix' AND entity_id = ?"
    args = [str(fix_id)]
    if action:
        sql += " AND action = ?"
        args.append(action)
    return storage.conn().execute(sql, args).fetchone()[0]


def flush(storage) -> None:
    """Wait for queued writes (the search log) to commit."""
    storage.write(lambda db: None)


# -- the state machine ---------------------------------------------------------

def test_lifecycle_records_a_version_and_an_audit_row_per_change(st_):
    fix_id = draft(st_)
    assert status(st_, fix_id) == "draft"
    st_.write(fx.submit, fix_id, TRAINER)
    assert st_.write(fx.approve, fix_id, LEAD) is True
    st_.write(fx.archive, fix_id, ADMIN)
    st_.write(fx.restore, fix_id, LEAD)
    assert status(st_, fix_id) == "approved"
    assert versions(st_, fix_id) == [1, 2, 3, 4, 5]
    assert audits(st_, fix_id) == 5
    snap = json.loads(st_.conn().execute(
        "SELECT snapshot FROM fix_version WHERE snippet_id = ? AND version = 4", [fix_id]).fetchone()[0])
    assert snap["status"] == "archived" and snap["codes"] == ["E-203"]


@pytest.mark.parametrize("setup, action", [
    ("draft", lambda s, i: s.write(fx.approve, i, LEAD)),
    ("draft", lambda s, i: s.write(fx.archive, i, LEAD)),
    ("pending", lambda s, i: s.write(fx.submit, i, TRAINER)),
    ("pending", lambda s, i: s.write(fx.restore, i, LEAD)),
    ("approved", lambda s, i: s.write(fx.reject, i, LEAD, "no")),
    ("approved", lambda s, i: s.write(fx.withdraw, i, TRAINER)),
    ("approved", lambda s, i: s.write(fx.update_draft, i, TRAINER, symptom="x")),
    ("approved", lambda s, i: s.write(fx.restore, i, LEAD)),
])
def test_illegal_transitions_raise_and_change_nothing(st_, setup, action):
    fix_id = draft(st_)
    if setup != "draft":
        st_.write(fx.submit, fix_id, TRAINER)
    if setup == "approved":
        st_.write(fx.approve, fix_id, LEAD)
    before = versions(st_, fix_id)
    with pytest.raises(fx.FixStateError, match="cannot|only"):
        action(st_, fix_id)
    assert status(st_, fix_id) == setup and versions(st_, fix_id) == before


def test_reject_needs_a_reason_and_the_author_revises(st_):
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    for reason in ("", "   ", None):
        with pytest.raises(fx.FixError, match="reason"):
            st_.write(fx.reject, fix_id, LEAD, reason)
    st_.write(fx.reject, fix_id, LEAD, "step 2 is unsafe")
    assert st_.read(fx.load_fix, fix_id).reject_reason == "step 2 is unsafe"
    st_.write(fx.update_draft, fix_id, TRAINER, steps=["停机", "挂牌上锁", "检查浮动辊"])
    fix = st_.read(fx.load_fix, fix_id)
    assert (fix.status, fix.reject_reason, len(fix.texts["zh"].steps)) == ("draft", None, 3)


def test_editing_a_pending_fix_keeps_it_pending(st_):
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    version = st_.write(fx.update_draft, fix_id, TRAINER, codes=["e 204"])
    assert status(st_, fix_id) == "pending" and version == 3
    assert st_.read(fx.load_fix, fix_id).codes == ["E204"]


def test_withdraw_deletes_and_ids_are_never_reused(st_):
    fix_id = draft(st_)
    st_.write(fx.withdraw, fix_id, TRAINER)
    with pytest.raises(fx.FixNotFound):
        st_.read(fx.load_fix, fix_id)
    assert audits(st_, fix_id, "withdraw") == 1
    assert draft(st_) == fix_id + 1


def test_approve_is_idempotent(st_):
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    assert st_.write(fx.approve, fix_id, LEAD) is True
    assert st_.write(fx.approve, fix_id, ADMIN) is False
    assert st_.write(fx.approve, fix_id, LEAD) is False
    assert audits(st_, fix_id, "approve") == 1
    assert versions(st_, fix_id) == [1, 2, 3]


# -- permissions ---------------------------------------------------------------

def test_permissions(st_):
    with pytest.raises(fx.FixPermissionError):
        draft(st_, author=OPERATOR)
    with pytest.raises(fx.FixPermissionError):
        draft(st_, author=STRANGER)
    with pytest.raises(fx.FixPermissionError):
        draft(st_, author="3")  # a Telegram id as text: refused, not guessed
    fix_id = draft(st_)
    for other in (TRAINER2, LEAD, OPERATOR):  # drafts are their author's
        with pytest.raises(fx.FixPermissionError):
            st_.write(fx.submit, fix_id, other)
        with pytest.raises(fx.FixPermissionError):
            st_.write(fx.update_draft, fix_id, other, symptom="x")
    st_.write(fx.submit, fix_id, TRAINER)
    for who in (TRAINER, TRAINER2, OPERATOR, STRANGER):
        with pytest.raises(fx.FixPermissionError):
            st_.write(fx.approve, fix_id, who)
    st_.write(fx.approve, fix_id, LEAD)
    with pytest.raises(fx.FixPermissionError):  # already approved, still not theirs to say
        st_.write(fx.approve, fix_id, TRAINER)
    assert st_.write(fx.feedback, fix_id, OPERATOR, True) == (1, 0)
    assert st_.write(fx.feedback, fix_id, OPERATOR, False) == (0, 1)  # changeable, one vote
    with pytest.raises(fx.FixPermissionError):
        st_.write(fx.feedback, fix_id, STRANGER, True)
    with pytest.raises(fx.FixPermissionError):
        st_.write(fx.verify_text, fix_id, "fr", OPERATOR)


def test_bad_content_is_refused(st_):
    with pytest.raises(fx.FixError, match="not a glossary concept"):
        draft(st_, equipment="no-such-machine")
    with pytest.raises(fx.FixError, match="steps"):
        draft(st_, steps=[])
    with pytest.raises(fx.FixError, match="alarm code"):
        draft(st_, codes=["hello"])
    with pytest.raises(fx.FixError, match="control"):
        draft(st_, symptom="a\x00b")


def test_who_may_read_a_fix():
    for role, viewer, status, author, ok in (
            ("lead", LEAD, "draft", str(TRAINER), True), ("admin", "cli:x", "rejected", str(TRAINER), True),
            ("operator", OPERATOR, "approved", str(TRAINER), True), ("trainer", TRAINER, "draft", str(TRAINER), True),
            ("trainer", TRAINER2, "draft", str(TRAINER), False), ("operator", OPERATOR, "pending", str(TRAINER), False),
            (None, STRANGER, "approved", str(TRAINER), False), (None, TRAINER, "draft", str(TRAINER), False)):
        assert fx.can_read(role, viewer, status, author) is ok, (role, viewer, status)


def test_the_role_the_caller_names_is_the_one_checked(st_):
    # The web app passes the signed-in person's role: the actor's stored
    # role (here an unknown id) is not looked up again.
    fix_id = approved(st_, codes=[])
    for fn in (fx.archive, fx.restore):
        with pytest.raises(fx.FixPermissionError, match=r"^only a lead or above can (archive|restore) fixes$"):
            st_.write(fn, fix_id, STRANGER)
        st_.write(fn, fix_id, STRANGER, role="lead")
    st_.write(lambda db: db.execute("UPDATE fix SET sample = 1 WHERE id = ?", [fix_id]))
    with pytest.raises(fx.FixPermissionError, match="^only a lead or above can validate a sample fix for this site$"):
        st_.write(fx.adopt_sample, fix_id, STRANGER)
    assert st_.write(fx.adopt_sample, fix_id, STRANGER, role="lead") is True
    assert fix_audits(st_, fix_id)[-1][1] == "adopt"
    st_.write(fx.add_machine_texts, fix_id, {"fr": fx.FixText("alarme de tension", steps=["arrêter"])}, "system")
    with pytest.raises(fx.FixPermissionError, match="^only a trainer or above can verify translations$"):
        st_.write(fx.verify_text, fix_id, "fr", STRANGER)
    assert st_.write(fx.verify_text, fix_id, "fr", STRANGER, role="trainer") is True
    with pytest.raises(fx.FixPermissionError, match="^only a trainer or above can correct translations$"):
        st_.write(fx.correct_text, fix_id, "fr", "alarme", "", ["arrêter"], [], STRANGER)
    st_.write(fx.correct_text, fix_id, "fr", "alarme", "", ["arrêter"], [], STRANGER, role="trainer")


def test_the_lifecycle_checks_the_role_the_caller_names(st_):
    # A role given by the caller wins over the stored one, both ways.
    fix_id = st_.write(fx.create_and_submit, author=STRANGER, role="trainer", equipment="coater",
                       original_lang="en", symptom="tension alarm", steps=["stop"])
    assert status(st_, fix_id) == "pending"
    with pytest.raises(fx.FixPermissionError, match="^only a trainer or above can edit this fix$"):
        st_.write(fx.update_draft, fix_id, STRANGER, symptom="x")
    st_.write(fx.update_draft, fix_id, STRANGER, role="trainer", symptom="tension alarm on unwind")
    with pytest.raises(fx.FixPermissionError, match="^only a lead or above can reject fixes$"):
        st_.write(fx.reject, fix_id, STRANGER, "too vague")
    assert st_.write(fx.reject, fix_id, STRANGER, "too vague", role="lead") is True
    other = draft(st_)
    with pytest.raises(fx.FixPermissionError, match="^only a trainer or above can submit this fix$"):
        st_.write(fx.submit, other, TRAINER, role="operator")  # demoted since the page was made
    with pytest.raises(fx.FixPermissionError, match="^only a trainer or above can edit this fix$"):
        st_.write(fx.update_draft, other, TRAINER, role="operator", symptom="x")
    st_.write(fx.submit, other, TRAINER)
    with pytest.raises(fx.FixPermissionError, match="^only a lead or above can approve fixes$"):
        st_.write(fx.approve, other, LEAD, role="trainer")
    assert st_.write(fx.approve, other, STRANGER, role="lead") is True
    theirs = draft(st_)
    with pytest.raises(fx.FixPermissionError, match=f"^only the author of fix {theirs} can edit this fix$"):
        st_.write(fx.update_draft, theirs, TRAINER2, symptom="x")


def test_a_rejection_s_reason_is_checked(st_):
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    for reason in (None, 42, "", " \u200b "):
        with pytest.raises(fx.FixError, match="^a rejection needs a reason the author can act on$"):
            st_.write(fx.reject, fix_id, LEAD, reason)
    with pytest.raises(fx.FixError, match=f"^reason is longer than {fx.MAX_CAUSE} characters$"):
        st_.write(fx.reject, fix_id, LEAD, "x" * (fx.MAX_CAUSE + 1))
    assert status(st_, fix_id) == "pending"


def test_editing_a_draft_keeps_or_changes_its_photos(st_):
    fix_id = draft(st_, photos=[{"file_id": "AgAD1", "caption": "roller"}])
    st_.write(fx.update_draft, fix_id, TRAINER, symptom="张力报警")
    assert [p.file_id for p in st_.read(fx.load_fix, fix_id).photos] == ["AgAD1"]
    st_.write(fx.update_draft, fix_id, TRAINER, photos=[{"file_id": "AgAD2"}])
    assert [p.file_id for p in st_.read(fx.load_fix, fix_id).photos] == ["AgAD2"]
    with pytest.raises(fx.FixError, match="^cannot change author, slug$"):
        st_.write(fx.update_draft, fix_id, TRAINER, slug="x", author="y")


def test_a_draft_s_defaults_and_stored_texts(st_):
    fix_id = st_.write(fx.create_draft, author=TRAINER, equipment="coater", original_lang="zh", symptom="涂布机停机",
                       steps=["停机", "检查浮动辊"])
    text = st_.read(fx.load_texts, fix_id)["zh"]
    assert (text.cause, text.safety, text.kind) == ("", [], "original")
    st_.write(fx.update_draft, fix_id, TRAINER, safety=["先挂牌上锁"])
    assert st_.read(lambda db: db.execute("SELECT safety FROM fix_text WHERE snippet_id = ?",
                                          [fix_id]).fetchone()[0]) == '["先挂牌上锁"]'
    st_.write(fx.update_draft, fix_id, TRAINER, safety=[])
    # Stored as text a person can read in the database (sqlite3, a backup), not \u escapes.
    raw = st_.read(lambda db: db.execute("SELECT steps, safety FROM fix_text WHERE snippet_id = ?",
                                         [fix_id]).fetchone())
    assert tuple(raw) == ('["停机", "检查浮动辊"]', "[]")
    with pytest.raises(fx.FixPermissionError, match="^only a trainer or above can write a fix$"):
        st_.write(fx.create_draft, author=OPERATOR, equipment="coater", original_lang="zh", symptom="x", steps=["y"])


def test_concepts_are_spotted_in_every_field_and_language(st_):
    fix_id = st_.write(fx.create_draft, author=TRAINER, equipment="coater", original_lang="en", symptom="coater",
                       cause="alarm", steps=["stop"])
    assert {"coater", "alarm"} <= fix_concepts(st_, fix_id)  # a term at the end of one field, another at the start of the next


def test_withdrawing_someone_else_s_fix_says_who_may(st_):
    fix_id = draft(st_)
    with pytest.raises(fx.FixPermissionError, match=f"^only the author of fix {fix_id} can withdraw this fix$"):
        st_.write(fx.withdraw, fix_id, TRAINER2)
    with pytest.raises(fx.FixPermissionError, match="^only a trainer or above can withdraw this fix$"):
        st_.write(fx.withdraw, fix_id, OPERATOR)
    with pytest.raises(fx.FixPermissionError):  # a person acts on their own fixes only, whatever their role
        st_.write(fx.withdraw, fix_id, TRAINER2, role="admin")


def test_machine_texts_are_stored_as_machine_and_spotted(st_):
    fix_id = approved(st_, codes=[], symptom="涂布机停机", cause="", safety=[])
    assert "alarm" not in fix_concepts(st_, fix_id)
    original = fx.FixText("alarme de tension", steps=["arrêter"], kind="original")
    assert st_.write(fx.add_machine_texts, fix_id, {"fr": original, "zh": original}, "system") == ["fr"]
    assert st_.read(fx.load_texts, fix_id)["fr"].kind == "machine"
    assert {"alarm", "coater"} <= fix_concepts(st_, fix_id)  # the French text's "alarme", the Chinese one's 涂布机
    with pytest.raises(fx.FixError, match=r"^texts\.en\.symptom is empty$"):
        st_.write(fx.add_machine_texts, fix_id, {"en": fx.FixText(" ", steps=["stop"])}, "system")
    with pytest.raises(fx.FixError, match=r"^texts\.fr\.steps needs at least one item$"):
        st_.write(fx.correct_text, fix_id, "fr", "alarme", "", [], [], TRAINER)
    st_.write(fx.correct_text, fix_id, "fr", "tension", "", ["arrêter"], [], TRAINER)
    assert "alarm" not in fix_concepts(st_, fix_id)  # spotted again after the correction


def test_codes_and_values_as_typed():
    assert fx.typed_codes(" - ") == [] and fx.typed_codes("E-203, e204;E205\nE206") == ["E-203", "e204", "E205",
                                                                                      "E206"]
    assert fx.clip_repr(12345, 5) == "12345" and fx.clip_repr(123456, 5) == "12345…"
    assert fx.clip_repr("abcdef", 5) == "'abcde'…" and fx.clip_repr("abcde", 5) == "'abcde'"


def test_a_chunk_with_fixes_left_does_not_mark_them_spotted(st_):
    first, second = approved(st_), approved(st_)
    st_.write(glossary_store.upsert_concepts, [STUCK], "tests")
    rev = st_.read(glossary_store.glossary_rev)
    assert st_.write(fx.reindex_chunk, 0, rev, 1) == [first]
    assert st_.read(fx.concepts_stale)  # a crash here must leave the second one to do
    assert st_.write(fx.reindex_chunk, first, rev, 1) == [second]
    assert st_.write(fx.reindex_chunk, second, rev, 1) == [] and not st_.read(fx.concepts_stale)


# -- approve + machine translation ------------------------------------------------

def test_approve_translates_into_the_other_languages(st_, tmp_path, packages):
    glossary = Glossary(st_.conn)
    engine = make_engine(tmp_path, glossary, TranslationMemory(st_.conn), packages,
                         pairs=("zh_en", "en_fr", "en_ms"))
    kb = knowledge.FixBase(st_, glossary, engine)
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    report = kb.approve(fix_id, LEAD)
    assert report.changed and sorted(report.translated) == ["en", "fr", "ms"]
    assert list(report.missing) == ["ko"] and "no translation model" in report.missing["ko"]
    card = kb.get(fix_id, "fr")
    assert card.langs == {"zh": "original", "ms": "machine", "fr": "machine", "en": "machine"}
    assert (card.lang, card.kind, len(card.steps), len(card.safety)) == ("fr", "machine", 2, 1)
    assert "enduiseuse" in card.symptom  # the glossary's term, enforced by the engine
    again = kb.approve(fix_id, LEAD)  # a redelivered tap: nothing new
    assert (again.changed, again.translated) == (False, [])
    assert kb.get(fix_id).versions == card.versions
    engine.close()


def test_a_translation_past_the_field_limit_is_reported_missing_with_its_field(st_, tmp_path, packages):
    """The glossary's French term is longer than the English one (tab,
    languette): a symptom near its 500-character limit comes out longer
    than the limit. That language stays without text, and the lead reads
    which field of which language broke the rule; the other fields are not
    kept half-made."""
    glossary = Glossary(st_.conn)
    engine = make_engine(tmp_path, glossary, None, packages, pairs=("en_fr",))
    kb = knowledge.FixBase(st_, glossary, engine)
    symptom = " ".join(["Tab."] * 100)
    assert len(symptom) <= fx.MAX_SYMPTOM < len(engine.translate(symptom, "fr", source="en").text)
    fix_id = draft(st_, original_lang="en", symptom=symptom, cause="", steps=["Stop"], safety=[], codes=[])
    st_.write(fx.submit, fix_id, TRAINER)
    try:
        report = kb.approve(fix_id, LEAD)
        assert report.changed and report.translated == []
        assert report.missing["fr"] == "texts.fr.symptom is longer than 500 characters"
        assert "fr" not in st_.read(fx.load_fix, fix_id).texts
    finally:
        engine.close()


def test_approve_without_models_still_approves(st_, tmp_path, packages):
    glossary = Glossary(st_.conn)
    engine = make_engine(tmp_path, glossary, TranslationMemory(st_.conn), packages)  # none installed
    kb = knowledge.FixBase(st_, glossary, engine)
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    report = kb.approve(fix_id, LEAD)
    assert report.changed and report.translated == []
    assert sorted(report.missing) == ["en", "fr", "ko", "ms"]
    assert status(st_, fix_id) == "approved"
    assert [r.id for r in kb.search("E203")] == [fix_id]  # searchable at once
    engine.close()


async def test_async_approve_and_search(st_, tmp_path, packages):
    glossary = Glossary(st_.conn)
    engine = make_engine(tmp_path, glossary, TranslationMemory(st_.conn), packages, pairs=("zh_en",))
    kb = knowledge.FixBase(st_, glossary, engine)
    fix_id = draft(st_)
    await st_.awrite(fx.submit, fix_id, TRAINER)
    report = await kb.aapprove(fix_id, LEAD)
    assert report.translated == ["en"]
    results = await kb.asearch("e-203", "en", user=OPERATOR)
    assert results[0].id == fix_id and results[0].lang == "en" and results[0].kind == "machine"
    engine.close()


# -- corrections feed the translation memory ------------------------------------------

def test_correction_becomes_a_translation_memory_unit(st_, kb):
    fix_id = approved(st_)
    st_.write(fx.add_machine_texts, fix_id, {"fr": fx.FixText(
        "Alarme tension enduiseuse", "Rouleau bloqué", ["Arrêter", "Vérifier le rouleau"], ["Consigner"],
        kind="machine")}, LEAD)
    assert st_.write(fx.verify_text, fix_id, "fr", TRAINER2) is True
    assert st_.write(fx.verify_text, fix_id, "fr", TRAINER2) is False
    units = st_.write(fx.correct_text, fix_id, "fr", "Alarme de tension sur l'enduiseuse",
                      "Rouleau danseur bloqué", ["Arrêter la machine", "Vérifier le rouleau"],
                      ["Consigner"], TRAINER2)
    assert len(units) == 3  # symptom, cause, first step: unchanged items make no unit
    assert st_.read(fx.load_fix, fix_id).texts["fr"].kind == "verified"
    match = TranslationMemory(st_.conn).lookup("浮动辊卡住", "zh", "fr")
    assert match is not None and match.text == "Rouleau danseur bloqué"
    assert (match.status, match.origin) == ("approved", "correction")
    with pytest.raises(fx.FixStateError, match="original"):
        st_.write(fx.correct_text, fix_id, "zh", "x", "", ["y"], [], TRAINER2)


def test_correction_pairs_only_aligned_items():
    original = fx.FixText("s", "c", ["a", "b"], ["x"])
    new = fx.FixText("s2", "c", ["A", "B", "C"], ["X"], kind="verified")
    assert fx._pairs(original, None, new) == [("s", "s2"), ("c", "c"), ("x", "X")]


# -- search ----------------------------------------------------------------------

def test_a_code_beats_text_and_any_spelling_finds_it(st_, kb):
    by_code = approved(st_, codes=["E-203"], symptom="涂布机报警")
    by_text = approved(st_, codes=[], symptom="E203 mentioned in text only, coater", original_lang="en",
                       steps=["check"], cause="")
    for q in ("E-203", "e203", "E 203", "alarm e203 please", "Ｅ２０３"):
        results = kb.search(q)
        assert results[0].id == by_code, q
        assert "code:E203" in results[0].reasons
    assert by_text in [r.id for r in kb.search("e203")]
    assert kb.search("203")[0].reasons[0] == "code-number:E203"


def test_a_french_query_finds_a_chinese_fix(st_, kb):
    zh = approved(st_)  # 涂布机张力报警, written in Chinese
    other = approved(st_, equipment="slitter", symptom="分切机毛刺", codes=[], cause="", steps=["换刀"])
    results = kb.search("enduiseuse alarme tension", "fr")
    assert results[0].id == zh
    assert {"equipment:coater", "mentions:alarm", "mentions:web-tension"} <= set(results[0].reasons)
    assert results[0].lang == "zh" and not results[0].in_reader_lang  # no French text yet
    assert other not in [r.id for r in results]
    assert kb.search("张力")[0].id == zh  # 2 characters: through the glossary
    assert kb.search("refendeuse", "fr")[0].id == other


def test_full_text_in_any_language(st_, kb):
    fix_id = approved(st_, original_lang="fr", symptom="Le film se plisse à l'entrée du four",
                      cause="Réglage du rouleau", steps=["Réduire la vitesse"], codes=[])
    other = approved(st_, original_lang="fr", symptom="Le four chauffe trop", cause="", steps=["x"], codes=[])
    assert [r.id for r in kb.search("plisse")] == [fix_id]
    best = kb.search("PLISSE four", "fr")
    assert [r.id for r in best] == [fix_id, other] and best[0].reasons == ["text"]
    assert best[0].in_reader_lang and best[0].kind == "original"


def test_two_character_chinese_and_korean_words_the_glossary_lacks(st_, kb):
    ko = approved(st_, original_lang="ko", symptom="주액 후 누액 발생", cause="씰 불량", steps=["정지"], codes=[])
    zh = approved(st_, original_lang="zh", symptom="注液后漏液", cause="密封不良", steps=["停机"], codes=[])
    pending = draft(st_, original_lang="zh", symptom="严重漏液", cause="", steps=["停机"], codes=[])
    assert [r.id for r in kb.search("누액")] == [ko]
    assert [r.id for r in kb.search("漏液 报告")] == [zh]  # pending fixes stay out
    assert pending not in [r.id for r in kb.search("漏液")]
    assert kb.search("누") == [] and kb.search("漏") == []  # one character: too vague


def test_feedback_reorders_equal_matches_only(st_, kb):
    a = approved(st_, codes=["E-500"])
    b = approved(st_, codes=["E-500"])
    assert [r.id for r in kb.search("E500")] == [a, b]
    for voter in (OPERATOR, TRAINER, LEAD):
        st_.write(fx.feedback, b, voter, True)
    st_.write(fx.feedback, a, OPERATOR, False)
    assert [r.id for r in kb.search("E500")] == [b, a]
    # A better match stays first, whatever the votes: the machine is named too.
    c = approved(st_, codes=["E-600"], equipment="coater")
    d = approved(st_, codes=["E-600"], equipment="slitter")
    for voter in (OPERATOR, TRAINER, LEAD):
        st_.write(fx.feedback, d, voter, True)
    assert [r.id for r in kb.search("E600 enduiseuse")][:2] == [c, d]  # then a, b: the coater


def test_only_approved_fixes_are_found(st_, kb):
    d = draft(st_, codes=["E-700"])
    p = draft(st_, codes=["E-700"])
    st_.write(fx.submit, p, TRAINER)
    ar = approved(st_, codes=["E-700"])
    st_.write(fx.archive, ar, LEAD)
    r = draft(st_, codes=["E-700"])
    st_.write(fx.submit, r, TRAINER)
    st_.write(fx.reject, r, LEAD, "dup")
    assert kb.search("E-700") == [] and kb.search("涂布机") == []
    st_.write(fx.restore, ar, LEAD)
    assert [x.id for x in kb.search("E-700")] == [ar]
    assert d and p


@pytest.mark.parametrize("query", [
    "", " ", "\u200b\u200b", '"', '""', "'", "*", "NEAR(a b)", "a OR", "AND", "col:x", "^x", "-x",
    "(((", "e203\"", "<script>alert(1)</script>", "<b>涂布机</b>", "x" * 100_000, "涂" * 5000,
    "e203 " * 1000, "enduiseuse\u200b alarme", "涂布机 coater 코터 E-203", "\x00\x01", "🔥🔥", "٣٤٥",
    "NOT NOT", "{a b}", "a:b:c", "\\", "%_%",
])
def test_hostile_queries_never_raise(st_, kb, query):
    approved(st_)
    results = kb.search(query, "fr")
    assert isinstance(results, list)
    assert kb.search(query, lang="xx") == []


def test_searches_are_logged_and_counted(st_, kb):
    fix_id = approved(st_)
    kb.search("E203", "fr", user=OPERATOR)
    kb.search("E203", "fr", user=OPERATOR)
    kb.search("nothing like this", "fr", user=OPERATOR)
    st_.write(fx.feedback, fix_id, OPERATOR, True)
    flush(st_)
    s = kb.stats()
    assert s.top_searches[0] == ("E203", 2)
    assert s.unanswered == [("nothing like this", 1)]
    assert s.most_useful == [(fix_id, st_.read(fx.load_fix, fix_id).slug, 1, 0)]
    assert s.by_status["approved"] == 1
    assert set(s.glossary_missing_by_lang) == {"zh", "ko", "ms", "fr", "en"}
    rows = st_.conn().execute("SELECT user_id, results FROM fix_search ORDER BY id").fetchall()
    assert rows == [("tg:5", 1), ("tg:5", 1), ("tg:5", 0)]


def test_card(st_, kb):
    fix_id = approved(st_, photos=[{"file_id": "AgAD", "caption": "roller"}, {"local_path": "p/1.jpg"}])
    card = kb.get(fix_id, "ko")
    assert card.steps == ["停机", "检查浮动辊"] and card.lang == "zh" and not card.in_reader_lang
    assert [p.file_id for p in card.photos] == ["AgAD", None]
    assert (card.codes, card.equipment, card.status, card.versions) == (["E-203"], "coater", "approved", 3)
    assert kb.get(12345) is None


# -- import / export ---------------------------------------------------------------

YAML_OK = """\
- slug: coater-web-tension-alarm
  sample: true
  status: approved
  equipment: coater
  codes: [E-203]
  original_lang: zh
  author: sample
  photos: []
  texts:
    zh: {kind: original, symptom: 涂布机张力报警, cause: 浮动辊卡住, steps: [停机, 检查浮动辊], safety: [挂牌上锁]}
    fr: {kind: machine, symptom: Alarme de tension, cause: Rouleau bloqué, steps: [Arrêter, Vérifier], safety: []}
- slug: slitter-burr
  status: pending
  equipment: slitter
  original_lang: en
  author: "3"
  texts:
    en: {symptom: Burr on the edge, steps: [Change the knife]}
"""


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_import_export_round_trip(st_, kb, tmp_path, suffix):
    src = tmp_path / "in.yaml"
    src.write_text(YAML_OK, encoding="utf-8")
    items, where = fix_files.read_fixes(src)
    assert where == ["line 1 (fix 1)", "line 12 (fix 2)"]
    assert str(st_.write(fx.import_fixes, items, "cli:test", where)) == "2 added, 0 updated, 0 unchanged"
    assert kb.search("E203", "fr")[0].kind == "machine"
    out = tmp_path / f"out{suffix}"
    fix_files.write_fixes(st_.read(fx.all_fixes), out)
    again, where = fix_files.read_fixes(out)
    assert str(st_.write(fx.import_fixes, again, "cli:test", where)) == "0 added, 0 updated, 2 unchanged"
    again[1].status = "approved"
    assert str(st_.write(fx.import_fixes, again, "cli:test", where)) == "0 added, 1 updated, 1 unchanged"
    assert [fx.clean_fix(f).to_dict() for f in again] == [f.to_dict() for f in st_.read(fx.all_fixes)]
    for item in again:
        item.codes = ["E-999"]
    assert str(st_.write(fx.import_fixes, again, "cli:test", where)) == "0 added, 2 updated, 0 unchanged"


@pytest.mark.parametrize("name, text, message", [
    ("bad.yaml", YAML_OK + "- slug: [unclosed\n", "line 20"),
    ("bad.yaml", YAML_OK.replace("equipment: slitter", "equipment: nope"), "line 12 .*not a glossary concept"),
    ("bad.yaml", YAML_OK.replace("steps: [Change the knife]", "steps: []"), "line 12 .*steps"),
    ("bad.yaml", YAML_OK.replace("status: pending", "status: maybe"), "line 12 .*status"),
    ("bad.yaml", YAML_OK.replace("slitter-burr", "coater-web-tension-alarm"), "line 12 .*also at line 1"),
    ("bad.yaml", "slug: x\n", "line 1: the file must be a list"),
    ("bad.json", '[\n  {"slug": "a"},\n', "line 3: not valid JSON"),
    ("bad.json", '[\n {"slug": "a-b", "equipment": "coater", "original_lang": "en",\n'
                 '  "texts": {"en": {"symptom": "s", "steps": ["x"]}}},\n'
                 ' {"slug": "a-c", "equipment": "coater", "original_lang": "en",\n'
                 '  "texts": {"en": {"symptom": "", "steps": ["x"]}}}\n]', "line 4 \\(fix 2\\).*symptom"),
    ("bad.txt", "", "use a .yaml"),
])
def test_bad_files_name_the_line_and_import_nothing(st_, tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(fx.FixError, match=message):
        items, where = fix_files.read_fixes(path)
        st_.write(fx.import_fixes, items, "cli:test", where)
    assert st_.conn().execute("SELECT count(*) FROM fix").fetchone()[0] == 0


def _with_photo(local_path: str, author: str = "sample") -> str:
    return YAML_OK.replace("  photos: []", f"  photos: [{{local_path: {json.dumps(local_path)}}}]").replace(
        "  author: sample", f"  author: {json.dumps(author)}")


def test_import_refuses_photo_paths_outside_the_photos_folder(st_, tmp_path):
    """A fix file naming any path made the bot upload that file to whoever
    opened the card, or delete it when the fix was withdrawn."""
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("the plant's passwords")
    (photos / "link.jpg").symlink_to(secret)
    for bad in (str(secret), "../secret.txt", "sub/../../secret.txt", "link.jpg", str(photos)):
        items, where = fix_files.read_fixes(tmp_path / "f.yaml", _with_photo(bad))
        with pytest.raises(fx.FixError, match=f"line 1 .*photos\\[1\\].local_path .*inside the photos folder "
                                              f"\\({re.escape(str(photos))}\\)$"):
            st_.write(fx.import_fixes, items, "cli:test", where, photos_dir=photos)
        with pytest.raises(fx.FixError, match="inside the photos folder"):  # no folder given: no local path
            st_.write(fx.import_fixes, items, "cli:test", where)
    items, where = fix_files.read_fixes(tmp_path / "f.yaml", _with_photo("a\x00b"))
    with pytest.raises(fx.FixError, match="control character"):
        st_.write(fx.import_fixes, items, "cli:test", where, photos_dir=photos)
    assert st_.conn().execute("SELECT count(*) FROM fix").fetchone()[0] == 0
    for good in ("sub/roller.jpg", str(photos / "roller.jpg")):
        items, where = fix_files.read_fixes(tmp_path / "f.yaml", _with_photo(good))
        st_.write(fx.import_fixes, items, "cli:test", where, photos_dir=photos)
    assert fx.photo_file(photos, "sub/roller.jpg") == (photos / "sub" / "roller.jpg").resolve()
    assert fx.photo_file(photos, str(secret)) is None and fx.photo_file(photos, None) is None


@pytest.mark.parametrize("author, ok", [
    ("3", True), ("sample", True), ("import", True), ("cli:alice", True),
    ("98765", False), ("42" * 20, False), ("9" * 19, False), ("²", False), ("evil", False), ("", False),
    (str(2 ** 53), True),  # a person of the web only (a kiosk, a lead without Telegram)
])
def test_import_author_is_a_known_person_or_a_tag(st_, tmp_path, author, ok):
    """An imported author gets an author's rights over the fix (edit,
    withdraw, delete its photos): only a known person, or a tag nobody is."""
    st_.write(lambda db: db.execute("INSERT INTO person (user_id, role, ui_lang, created_at) "
                                    "VALUES (?, 'trainer', 'fr', '2024-01-01')", [2 ** 53]))
    items, where = fix_files.read_fixes(tmp_path / "f.yaml", _with_photo("p.jpg", author))
    if ok:
        st_.write(fx.import_fixes, items, "cli:test", where, photos_dir=tmp_path)
    else:
        with pytest.raises(fx.FixError, match="line 1 .*author"):
            st_.write(fx.import_fixes, items, "cli:test", where, photos_dir=tmp_path)


def test_withdraw_names_only_photo_files_no_other_fix_uses(st_):
    shared = {"local_path": "/photos/3-same.jpg"}
    first = draft(st_, photos=[shared, {"local_path": "/photos/3-own.jpg"}])
    second = draft(st_, photos=[shared])
    assert st_.write(fx.withdraw, first, TRAINER) == ["/photos/3-own.jpg"]  # the shared one stays
    assert st_.write(fx.withdraw, second, TRAINER) == ["/photos/3-same.jpg"]


def test_a_yaml_alias_bomb_is_refused_before_anything_is_built(tmp_path):
    """494 bytes of nested aliases became a 351 MB author string."""
    import resource

    lines = ["- &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"- &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines += ["- slug: bomb\n  author: *a8\n  equipment: coater\n  original_lang: en\n"
              "  texts: {en: {symptom: s, steps: [x]}}"]
    text = "\n".join(lines) + "\n"
    assert len(text) < 1000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(fx.FixError, match="line 1: YAML anchors and aliases"):
        fix_files.read_fixes(tmp_path / "bomb.yaml", text)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


@pytest.mark.parametrize("name, text, message", [
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deep"),
    ("deep.yaml", "- " + "[" * 20_000 + "]" * 20_000, "line 1: .*nest"),
    ("deep.yaml", "- " + "[" * 14 + "]" * 14, "line 1: nested too deep"),
    ("huge.yaml", "- slug: a\n  author: " + "x" * 5_000_000 + "\n  texts: {}\n", "author: a Telegram user id"),
    ("huge.yaml", "- slug: " + "x" * 5_000_000 + "\n  equipment: coater\n  original_lang: en\n"
                  "  texts: {en: {symptom: s, steps: [x]}}\n", "slug 'xxx"),
    ("keys.yaml", "- {" + ", ".join(f"k{i}{'y' * 1000}: 1" for i in range(2000)) + "}\n", "unknown field"),
    ("list.yaml", "- slug: [a, b]\n  texts: {}\n", "slug: must be text"),
])
def test_hostile_fix_files_get_a_short_clear_error(st_, tmp_path, name, text, message):
    with pytest.raises(fx.FixError, match=message) as caught:
        items, where = fix_files.read_fixes(tmp_path / name, text)
        st_.write(fx.import_fixes, items, "cli:test", where)
    assert len(str(caught.value)) < 600


def test_a_fix_file_not_in_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("- slug: a\n  texts: {en: {symptom: ok}}\n- slug: é\n".encode("latin-1"))
    with pytest.raises(fx.FixError, match="latin1.yaml: not UTF-8 \\(line 3\\)"):
        fix_files.read_fixes(path)


# -- the shipped samples -------------------------------------------------------------

def test_samples_load_once(storage):
    db = storage.conn()
    n, samples, equipment = db.execute(
        "SELECT count(*), sum(sample), count(DISTINCT equipment) FROM fix").fetchone()
    assert n >= 30 and samples == n and equipment >= 8
    areas = db.execute("SELECT count(DISTINCT c.category) FROM fix f JOIN concept c ON c.id = f.equipment")
    assert areas.fetchone()[0] >= 8
    assert fix_files.seed(db) is None  # loaded once
    assert db.execute("SELECT count(*) FROM fix WHERE status = 'approved'").fetchone()[0] >= 1
    # The operator at 3 a.m.: French words, a fix written by a Chinese expert.
    best = knowledge.FixBase(storage, Glossary(storage.conn)).search("enduiseuse alarme tension", "fr")[0]
    assert best.equipment == "coater" and best.original_lang != "fr"


def test_a_new_database_has_its_fixes_spotted_already(storage):
    assert not storage.read(fx.concepts_stale)
    assert fx.reindex_concepts(storage.write, storage.read) == 0


# -- concepts spotted again when the glossary changes ------------------------------------

STUCK = concept("dancer-stuck", zh="浮动辊卡住", ko="댄서 롤 고착", ms="penggelek tersekat",
                fr="danseur bloqué", en="stuck dancer roll")


def test_fixes_are_spotted_again_in_chunks_after_a_glossary_change(st_, kb):
    ids = [approved(st_) for _ in range(5)]
    assert fx.reindex_concepts(st_.write, st_.read) == 5  # never spotted at this revision
    assert kb.search("danseur bloqué", "fr") == []
    st_.write(glossary_store.upsert_concepts, [STUCK], "tests")
    assert st_.read(fx.concepts_stale)
    progress = []  # chunks of 2: three transactions, and a last one that finds none left
    assert fx.reindex_concepts(st_.write, st_.read, progress.append, chunk=2) == 5
    assert progress == [2, 4, 5]
    assert not st_.read(fx.concepts_stale)
    assert sorted(r.id for r in kb.search("danseur bloqué", "fr")) == ids


def test_a_glossary_change_during_a_run_leaves_the_fixes_stale(st_):
    approved(st_)
    rev = st_.read(glossary_store.glossary_rev)
    st_.write(glossary_store.upsert_concepts, [STUCK], "tests")  # moved after the run began
    assert st_.write(fx.reindex_chunk, 0, rev) != []
    assert st_.write(fx.reindex_chunk, 10**9, rev) == []
    assert st_.read(fx.concepts_stale)  # not marked at the old revision: a new pass is due


# -- the approval state machine, against a model ---------------------------------------

_DB = {}


@pytest.fixture(scope="module", autouse=True)
def _machine_folder(tmp_path_factory):
    """The state machine's database lives in a pytest folder and is closed
    after the module (it leaked a temporary database on every run)."""
    _DB["dir"] = tmp_path_factory.mktemp("machine")
    yield
    db = _DB.pop("db", None)
    if db is not None:
        db.conn.close()
    _DB.clear()


def _machine_db():
    """One database for every run of the state machine (each run makes its own fixes)."""
    if "db" not in _DB:
        path = _DB["dir"] / "machine.db"
        db = connect(path)
        db.execute("PRAGMA synchronous = OFF")
        migrate(db)
        run_in_transaction(db, glossary_store.upsert_concepts, SMALL, "tests")
        run_in_transaction(db, add_people)
        _DB["db"] = db
    return _DB["db"]


ACTORS = st.sampled_from([ADMIN, LEAD, TRAINER, TRAINER2, OPERATOR, STRANGER, "system"])
_REVIEW_FROM = {"approve": "pending", "reject": "pending", "archive": "approved", "restore": "archived"}


class ApprovalMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.db = _machine_db()
        self.fix_id = run_in_transaction(self.db, fx.create_draft, author=TRAINER, equipment="coater",
                                         original_lang="en", symptom="jam", steps=["clear it"])
        self.state = "draft"
        self.version = 1

    def _do(self, fn, *args):
        try:
            result = run_in_transaction(self.db, fn, *args)
        except (fx.FixStateError, fx.FixPermissionError) as exc:
            return exc
        return result

    def _versions_now(self) -> int:
        return self.db.execute("SELECT version FROM fix WHERE id = ?", [self.fix_id]).fetchone()[0]

    @precondition(lambda self: self.state == "gone")
    @rule()
    def new_draft(self):
        self.__init__()

    @precondition(lambda self: self.state != "gone")
    @rule(action=st.sampled_from(sorted(_REVIEW_FROM)), actor=ACTORS)
    def review(self, action, actor):
        args = (self.fix_id, actor, "reason") if action == "reject" else (self.fix_id, actor)
        result = self._do(getattr(fx, action), *args)
        allowed = actor in (ADMIN, LEAD, "system")
        if not allowed:
            assert isinstance(result, fx.FixPermissionError)
        elif (action, self.state) in (("approve", "approved"), ("reject", "rejected")):
            assert result is False  # idempotent: decided once
        elif self.state == _REVIEW_FROM[action]:
            assert not isinstance(result, Exception)
            self.state = fx.TRANSITIONS[(action, self.state)]
            self.version += 1
        else:
            assert isinstance(result, fx.FixStateError)

    @precondition(lambda self: self.state != "gone")
    @rule(actor=ACTORS)
    def submit(self, actor):
        result = self._do(fx.submit, self.fix_id, actor)
        if actor not in (TRAINER, "system"):
            assert isinstance(result, fx.FixPermissionError)
        elif self.state == "draft":
            self.state, self.version = "pending", self.version + 1
        else:
            assert isinstance(result, fx.FixStateError)

    @precondition(lambda self: self.state != "gone")
    @rule(actor=ACTORS, text=st.text(min_size=1, max_size=20).filter(lambda t: t.strip().isalnum()))
    def edit(self, actor, text):
        result = self._do(lambda db, *a: fx.update_draft(db, *a, symptom=text), self.fix_id, actor)
        if actor not in (TRAINER, "system"):
            assert isinstance(result, fx.FixPermissionError)
        elif self.state in ("draft", "pending", "rejected"):
            self.state = "draft" if self.state == "rejected" else self.state
            self.version += 1
        else:
            assert isinstance(result, fx.FixStateError)

    @precondition(lambda self: self.state != "gone")
    @rule(actor=ACTORS)
    def withdraw(self, actor):
        result = self._do(fx.withdraw, self.fix_id, actor)
        if actor not in (TRAINER, "system"):
            assert isinstance(result, fx.FixPermissionError)
        elif self.state in ("draft", "pending"):
            self.state = "gone"
        else:
            assert isinstance(result, fx.FixStateError)

    @invariant()
    def matches_the_model(self):
        row = self.db.execute("SELECT status, version FROM fix WHERE id = ?", [self.fix_id]).fetchone()
        if self.state == "gone":
            assert row is None
            return
        assert row == (self.state, self.version)
        stored = [r[0] for r in self.db.execute(
            "SELECT version FROM fix_version WHERE snippet_id = ? ORDER BY version", [self.fix_id])]
        assert stored == list(range(1, self.version + 1))  # strictly increasing, no gap


ApprovalMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestApprovalMachine = ApprovalMachine.TestCase


@pytest.mark.parametrize("slug, lang, must", [
    ("filling-post-fill-weight-low", "en", ["calcium gluconate", "medical attention", "face shield"]),
    ("filling-post-fill-weight-low", "zh", ["葡萄糖酸钙", "立即就医", "面罩"]),
    ("filling-post-fill-weight-low", "fr", ["gluconate de calcium", "consultez immédiatement", "écran facial"]),
    ("filling-post-fill-weight-low", "ko", ["글루콘산칼슘", "즉시 진료", "보안면"]),
    ("filling-post-fill-weight-low", "ms", ["kalsium glukonat", "rawatan perubatan segera", "pelindung muka"]),
    ("filling-needle-crystals-dripping", "en", ["LOTO", "depressurise", "face shield", "ignition"]),
    ("filling-needle-crystals-dripping", "ko", ["LOTO", "압력을 빼고", "보안면", "점화원"]),
    ("formation-cell-over-temperature", "en", ["under watch", "fire-resistant quarantine bin", "face shield"]),
    ("formation-cell-over-temperature", "ko", ["감시", "내화성 격리함", "보안면"]),
    ("cap-plate-laser-weld-pinholes", "zh", ["上锁挂牌", "激光防护眼镜", "受控区域"]),
    ("cap-plate-laser-weld-pinholes", "en", ["LOTO", "class 4", "controlled area"]),
    ("busbar-laser-weld-ng", "en", ["LOTO", "treat every exposed conductor as live", "class 0"]),
    ("busbar-laser-weld-ng", "zh", ["上锁挂牌", "0 级绝缘手套"]),
    ("filling-chamber-low-vacuum", "ms", ["LOTO", "respirator"]),
    ("filling-chamber-low-vacuum", "en", ["isolate", "LOTO", "respirator"]),
    ("slot-die-coating-streaks", "fr", ["caoutchouc butyle", "LOTO"]),
    ("mixer-slurry-viscosity-high", "ko", ["부틸 고무 장갑"]),
    ("agv-position-lost", "ms", ["Kenal pasti dahulu", "respirator"]),
    ("agv-position-lost", "en", ["Identify any liquid first", "respirator"]),
    ("degassing-second-seal-defect", "en", ["chemical-resistant gloves and goggles"]),
    ("degassing-second-seal-defect", "zh", ["耐化学手套和护目镜"]),
])
def test_reviewed_safety_content_of_the_samples(slug, lang, must):
    """The review's major-safety rows (docs/review-log.tsv): HF first aid and
    isolation before opening an electrolyte line, in every language."""
    [fix] = [f for f in fix_files.read_samples()[0] if f.slug == slug]
    text = fix.texts[lang]
    blob = " ".join([*text["steps"], *text.get("safety", [])])
    for phrase in must:
        assert phrase in blob, (slug, lang, phrase)


@pytest.mark.parametrize("slug", ["stacking-double-sheet-alarm", "slitter-rewind-edge-shift",
                                  "vision-camera-no-image", "vision-width-measurement-drift"])
def test_hands_in_samples_start_with_lockout(slug):
    """Hands go to suction cups, air shafts, axes and rollers in these fixes:
    the lockout is step 1 in every language, not a trailing note."""
    [fix] = [f for f in fix_files.read_samples()[0] if f.slug == slug]
    for lang, text in fix.texts.items():
        assert "LOTO" in text["steps"][0], (slug, lang)


def test_samples_use_no_deprecated_glossary_term():
    """The review (docs/review-log.tsv) deprecated calques such as Malay
    *ketegangan* for web tension; a sample fix that still says them would
    teach the word the glossary warns against."""
    import re

    from glossary import LANGS, exchange

    deprecated = {}
    for f in glossary_store.seed_files():
        for c in exchange.read_csv(f.read_bytes()):
            for lang in LANGS:
                for t in c.terms_in(lang):
                    if t.type == "deprecated":
                        deprecated.setdefault(lang, set()).add(t.text.casefold())
    for fix in fix_files.read_samples()[0]:
        for lang, text in fix.texts.items():
            blob = " ".join([text["symptom"], text["cause"], *text["steps"], *text.get("safety", [])]).casefold()
            for term in deprecated.get(lang, ()):
                assert not re.search(r"(?<!\w)" + re.escape(term) + r"(?!\w)", blob), (fix.slug, lang, term)


@pytest.mark.parametrize("slug, lang, field, must", [
    ("filling-needle-crystals-dripping", "en", "cause", "solvent"),
    ("filling-needle-crystals-dripping", "ko", "cause", "증발"),
    ("areal-density-high-one-side", "ko", "steps", "높은 쪽의 코팅 갭을 2 µm씩 줄이고"),
    ("areal-density-high-one-side", "en", "steps", "reduce (close) the coating gap on the high side"),
    ("coater-unwind-tension-alarm", "en", "steps", "maintenance zeroes it"),
    ("coater-unwind-tension-alarm", "zh", "steps", "不要自行校准张力传感器"),
    ("module-nutrunner-torque-low", "fr", "cause", "couple haut"),
    ("formation-cell-over-temperature", "ms", "steps", "kosongkan kawasan"),
])
def test_reviewed_technical_content_of_the_samples(slug, lang, field, must):
    """The review's technical rows: the crystal chemistry, the gap direction,
    the load-cell zero as a maintenance task, low-torque causes."""
    [fix] = [f for f in fix_files.read_samples()[0] if f.slug == slug]
    text = fix.texts[lang]
    blob = " ".join([*text["steps"], *text.get("safety", [])]) if field == "steps" else text[field]
    assert must in blob, (slug, lang)
