"""The glossary editor as a service (bot/knowledge/termbase.py): what a new
concept keeps, the refusals word for word, merges, a trainer's proposal and
its closing, speakers. The console drives the same functions over HTTP
(tests/web/test_console_glossary.py), the CLI too (tests/test_cli_term.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.knowledge import fixes as fx
from bot.knowledge import suggestions
from bot.knowledge import termbase as tb
from glossary.model import LANGS
from glossary import store as gstore
from tests.knowledge.test_fixes import LEAD, TRAINER, approved, st_  # noqa: F401

CLI = tb.cli_editor("tests")  # an admin, no person behind it
A_LEAD = tb.Editor(f"web:{LEAD}", "lead", frozenset(LANGS), LEAD)
A_TRAINER = tb.Editor(f"web:{TRAINER}", "trainer", frozenset({"fr"}), TRAINER)
KIOSK = 2 ** 53  # web-only people have ids from 2**53


def term(lang: str, text: str, type_: str = "preferred"):
    return tb.make_term(lang, text, type_)


def french_plus_coucheuse(concept):
    return [t for t in concept.terms if t.lang == "fr"] + [term("fr", "coucheuse", "admitted")]


def refused(msgid: str, fn, *args, **kw):
    with pytest.raises(tb.EditError) as exc:
        fn(*args, **kw)
    assert exc.value.msgid == msgid
    return exc.value


OPERATOR_EDITOR = tb.Editor("web:5", "operator", frozenset(LANGS), 5)


def audit_id(st_, action: str, concept_id: str) -> int:
    return st_.read(lambda db: db.execute("SELECT max(id) FROM audit WHERE action = ? AND entity = 'concept' "
                                          "AND entity_id = ?", [action, concept_id]).fetchone()[0])


def audit_detail(st_, action: str, entity_id: str) -> tuple[str, str, dict]:
    """The newest audit row of that action on that entity: (actor, entity, detail)."""
    actor, entity, detail = st_.read(lambda db: db.execute(
        "SELECT actor, entity, detail FROM audit WHERE action = ? AND entity_id = ? ORDER BY id DESC",
        [action, entity_id]).fetchone())
    return actor, entity, json.loads(detail)


def edit_fr(st_, extra: str) -> int:
    """A lead adds a French admitted term to the coater: the audit id."""
    c = st_.read(tb.get, "coater")
    st_.write(tb.edit_language, A_LEAD, "coater", c.version, "fr", french_plus_coucheuse(c)[:-1]
              + [term("fr", extra, "admitted")])
    return st_.read(tb.changes, "coater")[0].id


# -- a new concept -----------------------------------------------------------------

def test_a_new_concept_keeps_every_field_it_was_given(st_):
    out = st_.write(tb.add_concept, CLI, [term("en", "dancer roller"), term("fr", "rouleau danseur")],
                    category="electrode", equipment=True, definitions={"en": " Roller that keeps tension. ",
                                                                      "xx": "ignored"},
                    source=" Vendor manual ", notes="seen on line 3")
    c = st_.read(tb.get, "dancer-roller")
    assert (out.applied, out.concept_id) == (True, "dancer-roller")
    assert (c.category, c.equipment, c.definitions, c.source, c.notes) == (
        "electrode", True, {"en": "Roller that keeps tension."}, "Vendor manual", "seen on line 3")
    assert [(t.lang, t.text, t.type) for t in c.terms] == [("en", "dancer roller", "preferred"),
                                                           ("fr", "rouleau danseur", "preferred")]


def test_a_new_concept_s_defaults(st_):
    st_.write(tb.add_concept, CLI, [term("en", "nip roller")])
    c = st_.read(tb.get, "nip-roller")
    assert (c.category, c.equipment, c.definitions, c.source, c.notes) == ("general", False, {}, "", "")


def test_a_new_concept_s_refusals(st_):
    add = lambda *a, **kw: st_.write(tb.add_concept, *a, **kw)  # noqa: E731
    refused("A concept needs at least one term.", add, CLI, [None])
    refused("Unknown category.", add, CLI, [term("en", "x roller")], category="nowhere")
    refused("A concept with this id already exists.", add, CLI, [term("en", "x roller")], concept_id="coater")
    refused("A language needs exactly one preferred term (or no term at all).", add, CLI,
            [term("en", "x roller"), term("fr", "rouleau x", "admitted")])
    for field in ("source", "notes"):
        e = refused("{what} is longer than {limit} characters.", add, CLI, [term("en", "x roller")],
                    **{field: "x" * (tb.MAX_TEXT_CHARS + 1)})
        assert e.values == {"what": field, "limit": tb.MAX_TEXT_CHARS}
    e = refused("{what} is longer than {limit} characters.", add, CLI, [term("en", "x roller")],
                definitions={"fr": "x" * (tb.MAX_TEXT_CHARS + 1)})
    assert e.values == {"what": "definition", "limit": tb.MAX_TEXT_CHARS}
    assert st_.read(tb.get, "x-roller") is None


def test_an_id_from_the_english_preferred_term_first(st_):
    assert tb.new_id(st_.conn(), []) == "concept"
    terms = [term("fr", "Rouleau danseur"), term("en", "dancer arm", "admitted"), term("en", "Dancer")]
    assert tb.new_id(st_.conn(), terms) == "dancer"
    assert tb.new_id(st_.conn(), [term("zh", "浮动辊"), term("fr", "Rouleau danseur")]) == "rouleau-danseur"
    assert tb.new_id(st_.conn(), [term("en", "coater")]) == "coater-2"  # taken
    # No Latin letter to start with: the fallback id.
    assert tb.new_id(st_.conn(), [term("zh", "浮动辊"), term("en", "1st roller")]) == "concept"
    assert tb.new_id(st_.conn(), [term("en", "(dancer)")]) == "dancer"
    assert tb.new_id(st_.conn(), [term("en", "a" * 60)]) == "a" * 48


def test_a_term_and_a_text_as_typed_are_cleaned(st_):
    assert tb.clean_term(" a\x07b\u200b  c ") == "a b c"
    assert tb.clean_term("x" * tb.MAX_TERM_CHARS) == "x" * tb.MAX_TERM_CHARS
    refused("A term is longer than {limit} characters.", tb.clean_term, "x" * (tb.MAX_TERM_CHARS + 1))
    refused("A term may not contain '|'.", tb.clean_term, "a|b")
    assert tb._clean_text(" a\r\nb\x07 c\td ", 20, "notes") == "a\nb c\td"
    assert tb._clean_text("x" * 20, 20, "notes") == "x" * 20
    refused("The same term is listed twice.", st_.write, tb.add_concept, CLI, [term("en", "x roller"),
                                                                               term("en", "x roller", "admitted")])
    e = refused("This concept cannot be stored: {reason}", st_.write, tb.add_concept, CLI, [term("en", "x roller")],
                concept_id="Not An Id!")
    assert e.values["reason"] and e.values["reason"] != "None"


def test_a_concept_by_id_however_long_the_id(st_):
    long_id = "a" * 64
    st_.write(tb.add_concept, CLI, [term("en", "long roller")], concept_id=long_id)
    assert st_.read(tb.get, long_id).id == long_id
    assert st_.read(tb.get, long_id + "a") is None and st_.read(tb.get, None) is None
    assert st_.read(tb.merged_into, "x" * 10_000) is None


def test_audit_tags_name_people_of_the_web_and_telegram_only(st_):
    names = st_.read(tb.actor_names, [f"tg:{LEAD}", f"web:{TRAINER}", f"cli:{LEAD}", "web:\u00b2", "tg:x", "web:"])
    assert names == {f"tg:{LEAD}": f"#{LEAD}", f"web:{TRAINER}": f"#{TRAINER}"}


def test_the_head_of_a_concept_is_its_english_term_else_the_first_language_with_one(st_):
    st_.write(tb.add_concept, CLI, [term("ko", "코터 롤"), term("fr", "rouleau de coucheuse")], concept_id="kf")
    assert tb._head(st_.read(tb.get, "kf")) == "코터 롤"  # LANGS order: zh, ko, ms, fr
    assert tb._head(st_.read(tb.get, "coater")) == "coater"  # English before Chinese


# -- editing and its refusals -------------------------------------------------------

def test_a_term_from_form_fields_keeps_its_part_of_speech_and_gender():
    assert tb.make_term("fr", " enduiseuse ", "preferred", "noun", "f") == tb.Term("fr", "enduiseuse", "preferred",
                                                                                   "noun", "f")
    assert tb.make_term("en", "", "preferred") is None  # an empty row of the form
    for args, msgid in ((("xx", "a", "preferred"), "Unknown language."),
                        (("en", "a", "favourite"), "Unknown term type."),
                        (("en", "a", "preferred", "pronoun"), "Unknown part of speech."),
                        (("en", "a", "preferred", None, "f"), "Only French terms have a gender here."),
                        (("fr", "a", "preferred", None, "x"), "Only French terms have a gender here.")):
        refused(msgid, tb.make_term, *args)


def test_editing_a_language_writes_its_terms_definition_and_an_audit_row(st_):
    before = st_.read(tb.get, "coater")
    out = st_.write(tb.edit_language, A_LEAD, "coater", before.version, "fr", french_plus_coucheuse(before),
                    definition=" Machine qui enduit. ")
    after = st_.read(tb.get, "coater")
    assert out == tb.Outcome(True, "coater", after.version) and after.version == before.version + 1
    assert after.definitions == {"en": "Machine that coats foil.", "fr": "Machine qui enduit."}
    assert "coucheuse" in {t.text for t in after.terms if t.lang == "fr"}
    actor, entity, detail = audit_detail(st_, "edit", "coater")
    assert (actor, entity, detail["version"], detail["lang"]) == (A_LEAD.tag, "concept", after.version, "fr")
    assert (detail["before"], detail["after"]) == (gstore.concept_snapshot(before), gstore.concept_snapshot(after))
    # An empty definition removes it; None leaves it as it is.
    st_.write(tb.edit_language, A_LEAD, "coater", None, "en", [t for t in after.terms if t.lang == "en"],
              definition="")
    assert st_.read(tb.get, "coater").definitions == {"fr": "Machine qui enduit."}


def test_editing_a_language_s_refusals(st_):
    c = st_.read(tb.get, "coater")
    fr = [t for t in c.terms if t.lang == "fr"]
    edit = lambda *a, **kw: st_.write(tb.edit_language, *a, **kw)  # noqa: E731
    refused("Unknown language.", edit, A_LEAD, "coater", None, "xx", fr)
    refused("Unknown language.", edit, A_LEAD, "coater", None, "en", fr)  # French terms in the English row
    refused("Nothing was changed.", edit, A_LEAD, "coater", None, "fr", fr)
    refused("Nothing was changed.", edit, A_LEAD, "coater", None, "fr", fr, definition=None)
    e = refused("{what} is longer than {limit} characters.", edit, A_LEAD, "coater", None, "fr", fr,
                definition="x" * (tb.MAX_TEXT_CHARS + 1))
    assert e.values == {"what": "definition", "limit": tb.MAX_TEXT_CHARS}
    refused("Your role cannot change the glossary.", edit, OPERATOR_EDITOR, "coater", None, "fr", fr[:1])
    st_.write(tb.add_concept, CLI, [term("fr", "rouleau")], concept_id="rouleau")
    refused("A concept needs at least one term.", edit, A_LEAD, "rouleau", None, "fr", [])
    assert st_.read(tb.get, "coater").version == c.version


def test_editing_the_general_fields(st_):
    before = st_.read(tb.get, "coater")
    st_.write(tb.edit_general, A_LEAD, "coater", before.version, category="general", equipment=0,
              source=" Vendor manual ", notes=" line 1 ")
    after = st_.read(tb.get, "coater")
    assert (after.category, after.equipment, after.source, after.notes) == ("general", False, "Vendor manual",
                                                                            "line 1")
    assert after.terms == before.terms and after.definitions == before.definitions
    actor, _, detail = audit_detail(st_, "edit", "coater")
    assert actor == A_LEAD.tag and "lang" not in detail and detail["version"] == after.version
    st_.write(tb.edit_general, A_LEAD, "coater", None, equipment=1)  # None: the other fields stay
    now = st_.read(tb.get, "coater")
    assert (now.category, now.equipment, now.source, now.notes) == ("general", True, "Vendor manual", "line 1")
    refused("Unknown category.", st_.write, tb.edit_general, A_LEAD, "coater", None, category="nowhere")
    for field in ("source", "notes"):
        e = refused("{what} is longer than {limit} characters.", st_.write, tb.edit_general, A_LEAD, "coater",
                    None, **{field: "x" * (tb.MAX_TEXT_CHARS + 1)})
        assert e.values == {"what": field, "limit": tb.MAX_TEXT_CHARS}
    refused("Nothing was changed.", st_.write, tb.edit_general, A_LEAD, "coater", None)


def test_a_trainer_s_proposal_that_cannot_be_stored_says_why(st_):
    # The editor says trainer, the person record says operator.
    stale = tb.Editor("web:5", "trainer", frozenset({"fr"}), 5)
    c = st_.read(tb.get, "coater")
    e = refused("This proposal cannot be stored: {reason}", st_.write, tb.edit_language, stale, "coater", None,
                "fr", french_plus_coucheuse(c))
    assert e.values == {"reason": "only a trainer or above can suggest glossary terms"}
    no_person = tb.Editor("cli:x", "trainer", frozenset({"fr"}))
    refused("Your role cannot change the glossary.", st_.write, tb.edit_language, no_person, "coater", None,
            "fr", french_plus_coucheuse(c))


def test_a_proposal_keeps_the_proposed_concept_as_readable_json(st_):
    c = st_.read(tb.get, "coater")
    sid = st_.write(tb.edit_language, A_TRAINER, "coater", None, "fr", french_plus_coucheuse(c)).suggestion
    raw = st_.read(lambda db: db.execute("SELECT after FROM glossary_proposal WHERE suggestion_id = ?",
                                         [sid]).fetchone()[0])
    assert "涂布机" in raw and "coucheuse" in raw  # not \\u escapes: the file stays greppable


def test_deprecating_a_term(st_):
    before = st_.read(tb.get, "coater")
    st_.write(tb.deprecate, A_LEAD, "coater", before.version, "fr", "enduiseuse")
    after = st_.read(tb.get, "coater")
    assert [(t.text, t.type) for t in after.terms if t.lang == "fr"] == [("enduiseuse", "deprecated"),
                                                                        ("coater", "preferred")]
    assert after.definitions == before.definitions
    _, _, detail = audit_detail(st_, "deprecate", "coater")
    assert detail["lang"] == "fr" and detail["version"] == after.version
    st_.write(tb.deprecate, A_LEAD, "coater", None, "en", "coating machine")  # an admitted term: no heir needed
    assert {(t.text, t.type) for t in st_.read(tb.get, "coater").terms if t.lang == "en"} == {
        ("coater", "preferred"), ("coating machine", "deprecated")}
    refused("No such term in this concept.", st_.write, tb.deprecate, A_LEAD, "coater", None, "fr", "coucheuse")
    refused("No such term in this concept.", st_.write, tb.deprecate, A_LEAD, "coater", None, "en", "enduiseuse")
    refused("This term is already deprecated.", st_.write, tb.deprecate, A_LEAD, "coater", None, "fr",
            "enduiseuse")
    refused("Add the term to use instead (as an admitted term) before deprecating the preferred one.",
            st_.write, tb.deprecate, A_LEAD, "coater", None, "ms", "mesin salutan")


def test_reviewing_and_its_refusals(st_):
    c = st_.read(tb.get, "coater")
    assert st_.write(tb.review, A_TRAINER, "coater", "fr", c.version) is True
    assert st_.write(tb.review, A_TRAINER, "coater", "fr") is False  # already reviewed
    refused("Your role cannot change the glossary.", st_.write, tb.review, OPERATOR_EDITOR, "coater", "fr")
    refused("Unknown language.", st_.write, tb.review, A_LEAD, "coater", "xx")
    refused("Only a speaker of this language can mark it reviewed.", st_.write, tb.review, A_TRAINER, "coater",
            "ko")
    st_.write(tb.add_concept, CLI, [term("fr", "rouleau")], concept_id="rouleau")
    refused("This concept has no term in this language yet.", st_.write, tb.review, A_LEAD, "rouleau", "ko")
    e = refused(tb.Conflict.EDITED, st_.write, tb.review, A_LEAD, "coater", "ko", c.version - 1)
    assert e.base == c.version - 1


def test_a_conflict_lists_the_content_changes_since_the_form_was_made(st_):
    seeded = st_.read(tb.get, "coater").version
    first = edit_fr(st_, "coucheuse")
    base = st_.read(tb.get, "coater").version
    second = edit_fr(st_, "machine d'enduction")
    st_.write(tb.review, A_LEAD, "coater", "ko")  # a review changes no content: not listed
    st_.write(tb.revert, A_LEAD, "coater", audit_id(st_, "review", "coater"))  # nor its undoing
    third = edit_fr(st_, "enducteur")
    c = st_.read(tb.get, "coater")
    e = refused(tb.Conflict.EDITED, st_.write, tb.edit_general, A_LEAD, "coater", base, notes="x")
    assert (e.base, e.current.version, [x.id for x in e.since]) == (base, c.version, [third, second])
    # From the seeded version: back to the import's row, which wrote no version.
    e = refused(tb.Conflict.EDITED, st_.write, tb.edit_general, A_LEAD, "coater", seeded, notes="x")
    assert [x.id for x in e.since] == [third, second, first]


def test_a_conflict_lists_the_last_fifty_changes_at_most(st_):
    base = st_.read(tb.get, "coater").version
    for n in range(55):
        st_.write(tb.edit_general, CLI, "coater", None, notes=f"note {n}")
    first_later = audit_id(st_, "edit", "coater") - 54
    e = refused(tb.Conflict.EDITED, st_.write, tb.edit_general, A_LEAD, "coater", base, notes="x")
    assert len(e.since) == 50 and e.since[0].lines[0][3] == "note 54"
    # Reverting the first of them: the 54 later ones touched the same notes.
    e = refused(tb.Conflict.LATER, st_.write, tb.revert, A_LEAD, "coater", first_later)
    assert len(e.since) == 50 and all(c.id > first_later for c in e.since)


def test_the_history_shows_the_last_hundred_changes(st_):
    for n in range(101):
        st_.write(lambda db: gstore.audit(db, "cli:tests", "edit", "concept", "coater", {"n": n}))
    history = st_.read(tb.changes, "coater")
    assert len(history) == 100 and history[0].id > history[-1].id


def test_setting_a_person_s_languages(st_):
    assert st_.write(tb.set_speaker_langs, A_LEAD, TRAINER, ["zh", "ko", "zh"]) == ["ko", "zh"]
    assert st_.write(tb.set_speaker_langs, A_LEAD, TRAINER, ["ms"]) == ["ms"]  # replaces, not adds
    assert st_.read(tb.declared_langs, TRAINER) == ["ms"]
    assert audit_detail(st_, "languages", str(TRAINER)) == (A_LEAD.tag, "person", {"langs": ["ms"]})
    refused("Only a lead or an admin can do this.", st_.write, tb.set_speaker_langs, A_TRAINER, TRAINER, ["ko"])
    refused("No such person.", st_.write, tb.set_speaker_langs, A_LEAD, 10 ** 6, ["ko"])
    assert st_.read(tb.declared_langs, TRAINER) == ["ms"]


def test_the_fixes_about_a_concept_in_english_unless_asked_otherwise(st_):
    fix_id = approved(st_, equipment="coater", symptom="涂布机停机", original_lang="zh")
    st_.write(fx.add_machine_texts, fix_id, {"en": fx.FixText("coater stopped", steps=["check"])}, "system")
    assert [link.symptom for link in st_.read(tb.fixes_mentioning, "coater")] == ["coater stopped"]
    assert [link.symptom for link in st_.read(tb.fixes_mentioning, "coater", "ko")] == ["涂布机停机"]


def test_the_fixes_about_a_concept_come_before_those_that_mention_it(st_):
    mentions = approved(st_, equipment="coating", symptom="La coater s'arrête", original_lang="fr")
    about = approved(st_, equipment="coater", symptom="涂布机张力报警", original_lang="zh")
    st_.write(lambda db: db.execute("INSERT OR IGNORE INTO fix_concept (snippet_id, concept_id) VALUES (?, ?)",
                                    [mentions, "coater"]))
    links = st_.read(tb.fixes_mentioning, "coater", "fr")
    slug = {r[0]: r[1] for r in st_.read(lambda db: db.execute("SELECT id, slug FROM fix").fetchall())}
    # No French text: the original's symptom.
    assert links[0] == tb.FixLink(about, slug[about], "approved", "涂布机张力报警", True)
    assert links[1] == tb.FixLink(mentions, slug[mentions], "approved", "La coater s'arrête", False)
    assert st_.read(tb.fixes_mentioning, "coater", "fr", 1) == links[:1]


# -- merge ---------------------------------------------------------------------------

def test_merging_keeps_the_target_s_preferred_terms_and_both_notes(st_):
    st_.write(tb.add_concept, CLI, [term("en", "coating unit"), term("ko", "도포기")], concept_id="coating-unit",
              notes="from the Korean manual")
    st_.write(tb.edit_general, CLI, "coater", None, notes="line 1")
    target = st_.read(tb.get, "coater")
    st_.write(tb.merge, A_LEAD, "coater", target.version, "coating-unit")
    merged = st_.read(tb.get, "coater")
    by = {(t.lang, t.text): t.type for t in merged.terms}
    assert by[("en", "coating unit")] == "admitted"  # the target has an English preferred term
    assert by[("en", "coater")] == "preferred" and by[("ko", "도포기")] == "admitted"
    assert merged.notes == "line 1\n[coating-unit] from the Korean manual"
    assert st_.read(tb.get, "coating-unit") is None


def test_merging_into_a_concept_without_notes_or_a_term_in_that_language(st_):
    st_.write(tb.add_concept, CLI, [term("en", "wind-up"), term("ms", "penggulung")], concept_id="wind-up",
              notes="old id")
    st_.write(tb.add_concept, CLI, [term("en", "rewinder")], concept_id="rewinder")
    st_.write(tb.merge, A_LEAD, "rewinder", None, "wind-up")
    merged = st_.read(tb.get, "rewinder")
    assert merged.notes == "[wind-up] old id"
    assert merged.preferred("ms").text == "penggulung"  # no Malay term before: it stays preferred


def test_merging_takes_the_absorbed_concept_s_flags_and_missing_definitions(st_):
    st_.write(tb.add_concept, CLI, [term("en", "coating head")], concept_id="coating-head", equipment=True,
              definitions={"en": "Another text.", "fr": "Tête qui enduit."})
    st_.write(tb.add_concept, CLI, [term("en", "coating line")], concept_id="coating-line",
              definitions={"en": "The line."})
    sid = st_.write(suggestions.add, "coating line", "merge", TRAINER)
    st_.write(tb.merge, A_LEAD, "coating-line", None, "coating-head")
    merged = st_.read(tb.get, "coating-line")
    assert merged.equipment is True and merged.definitions == {"en": "The line.", "fr": "Tête qui enduit."}
    assert st_.read(suggestions.get, sid).status == "pending"  # a merge decides no proposal


def test_a_proposed_general_change_closes_when_the_lead_applies_it(st_):
    out = st_.write(tb.edit_general, A_TRAINER, "coater", None, notes="line 2 only")
    assert out.applied is False and st_.read(tb.get, "coater").notes == ""
    st_.write(tb.edit_general, A_LEAD, "coater", None, notes="line 2 only", proposal=out.suggestion)
    assert st_.read(suggestions.get, out.suggestion).status == "approved"


def test_merging_skips_the_terms_both_have_and_keeps_the_flags_either_had(st_):
    st_.write(tb.add_concept, CLI, [term("en", "coater"), term("en", "coating head", "admitted")],
              concept_id="coating-head", equipment=False, source="Korean manual")
    st_.write(tb.edit_general, CLI, "coater", None, source="")
    absorbed = st_.read(tb.get, "coating-head")
    st_.write(tb.merge, A_LEAD, "coater", None, "coating-head")
    merged = st_.read(tb.get, "coater")
    assert [t.text for t in merged.terms if t.lang == "en"] == ["coater", "coating machine", "coating head"]
    assert (merged.equipment, merged.source) == (True, "Korean manual")
    actor, _, detail = audit_detail(st_, "merged", "coating-head")
    assert (actor, detail) == (A_LEAD.tag, {"into": "coater", "before": gstore.concept_snapshot(absorbed)})
    assert st_.read(tb.merged_into, "coating-head") == "coater"


def test_merge_refusals(st_):
    refused("Only a lead or an admin can do this.", st_.write, tb.merge, A_TRAINER, "coater", None, "coating")
    refused("A concept cannot be merged with itself.", st_.write, tb.merge, A_LEAD, "coater", None, " coater ")
    refused("No such concept.", st_.write, tb.merge, A_LEAD, "coater", None, None)


def test_a_conflict_names_both_versions(st_):
    c = st_.read(tb.get, "coater")
    e = tb.Conflict(c, c.version - 1, [])
    assert e.values == {"base": c.version - 1, "now": c.version}
    assert str(e).startswith(f"Someone else changed this concept while you were editing it "
                             f"(version {c.version - 1}, now {c.version}).")


# -- a trainer's proposal --------------------------------------------------------------

def test_a_trainer_s_proposal_carries_the_change_and_closes_when_applied(st_):
    before = st_.read(tb.get, "coater")
    terms = french_plus_coucheuse(before)
    out = st_.write(tb.edit_language, A_TRAINER, "coater", before.version, "fr", terms)
    assert (out.applied, out.concept_id) == (False, "coater")
    p = st_.read(tb.proposal, out.suggestion)
    assert (p.concept_id, p.action, p.lang, p.base_version) == ("coater", "edit", "fr", before.version)
    assert ("fr", "coucheuse") in {(t.lang, t.text) for t in p.after.terms}
    assert (p.suggestion.term, p.suggestion.proposal) == ("coater", tb._proposal_text("edit", before, p.after))
    # The lead applies it: the suggestion is approved in the same write;
    # applying again (corrected) leaves the decision as it was.
    st_.write(tb.edit_language, A_LEAD, "coater", before.version, "fr", terms, proposal=out.suggestion)
    assert st_.read(suggestions.get, out.suggestion).status == "approved"
    now = st_.read(tb.get, "coater")
    st_.write(tb.edit_language, A_LEAD, "coater", now.version, "fr", terms[:1], proposal=out.suggestion)
    assert st_.read(suggestions.get, out.suggestion).status == "approved"


def test_the_command_line_applies_but_decides_no_proposal(st_):
    before = st_.read(tb.get, "coater")
    terms = french_plus_coucheuse(before)
    sid = st_.write(tb.edit_language, A_TRAINER, "coater", before.version, "fr", terms).suggestion
    st_.write(tb.edit_language, CLI, "coater", before.version, "fr", terms, proposal=sid)
    assert st_.read(suggestions.get, sid).status == "pending"  # a person decides, not the CLI


def test_a_plain_suggestion_has_no_structured_change(st_):
    sid = st_.write(suggestions.add, "coater", "coucheuse", TRAINER)
    p = st_.read(tb.proposal, sid)
    assert p.suggestion.id == sid and (p.concept_id, p.action, p.after) == (None, None, None)
    assert st_.read(tb.proposal, 10 ** 6) is None


def test_the_text_of_a_proposal_lists_each_change(st_):
    before = st_.read(tb.get, "coater")
    after = dataclasses.replace(before, category="general")
    text = tb._proposal_text("edit", before, after)
    assert text.split("\n")[0] == "[edit] coater" and len(text.split("\n")) == 2
    assert "  " not in text and "electrode" in text and "general" in text
    created = tb._proposal_text("create", None, before)
    assert created.startswith("[create] coater\n") and "涂布机" in created


def test_a_proposed_new_concept_closes_when_the_lead_adds_it(st_):
    terms = [term("en", "dancer roller"), term("fr", "rouleau danseur")]
    out = st_.write(tb.add_concept, A_TRAINER, terms)
    assert out.applied is False and st_.read(tb.get, "dancer-roller") is None
    st_.write(tb.add_concept, A_LEAD, terms, proposal=out.suggestion)
    assert st_.read(suggestions.get, out.suggestion).status == "approved"


def test_a_proposal_line_reads_with_single_spaces(st_):
    before = st_.read(tb.get, "coater")
    after = dataclasses.replace(before, definitions={**before.definitions, "fr": "Machine  qui enduit"})
    assert tb._proposal_text("edit", before, after).split("\n")[1:] == ["definition fr: — → Machine qui enduit"]


# -- speakers ----------------------------------------------------------------------------

def test_speakers_are_everyone_but_the_kiosk_with_their_languages(st_):
    st_.write(lambda db: db.execute(
        "INSERT INTO person (user_id, role, ui_lang, created_at) VALUES (?, 'operator', 'fr', '2024-01-01')",
        [KIOSK]))
    st_.write(lambda db: db.execute("INSERT INTO web_person (user_id, kind) VALUES (?, 'kiosk')", [KIOSK]))
    assert st_.write(tb.set_speaker_langs, A_LEAD, TRAINER, ["ko", "zh", "xx"]) == ["ko", "zh"]
    listed = {p.user_id: langs for p, langs in st_.read(tb.speakers)}
    assert KIOSK not in listed and listed[TRAINER] == ["ko", "zh"] and listed[LEAD] == []


# -- revert, browsing, the queue ------------------------------------------------------------

def test_reverting_a_definition_puts_it_back(st_):
    before = st_.read(tb.get, "coater")
    en = [t for t in before.terms if t.lang == "en"]
    st_.write(tb.edit_language, A_LEAD, "coater", before.version, "en", en, definition="A new definition.")
    change = st_.read(tb.changes, "coater")[0]
    st_.write(tb.revert, A_LEAD, "coater", change.id)
    assert st_.read(tb.get, "coater").definitions == before.definitions == {"en": "Machine that coats foil."}


def test_reverting_a_review_puts_the_language_back_to_draft_once(st_):
    assert st_.write(tb.review, A_LEAD, "coater", "fr") is True
    st_.write(tb.review, A_LEAD, "coating", "fr")  # another review of French stays
    change = audit_id(st_, "review", "coater")
    refused("Only a lead or an admin can do this.", st_.write, tb.revert, A_TRAINER, "coater", change)
    refused("No such change.", st_.write, tb.revert, A_LEAD, "coater", 10 ** 6)
    out = st_.write(tb.revert, A_LEAD, "coater", change)
    assert (out.applied, out.concept_id) == (True, "coater")
    assert set(st_.read(tb.get, "coater").reviews) == set() and set(st_.read(tb.get, "coating").reviews) == {"fr"}
    assert audit_detail(st_, "unreview", "coater") == (A_LEAD.tag, "concept", {"lang": "fr", "reverts": change})
    refused("Nothing was changed.", st_.write, tb.revert, A_LEAD, "coater", change)


def test_a_reverted_review_reports_the_concept_s_version(st_):
    st_.write(tb.review, A_LEAD, "coater", "fr")
    out = st_.write(tb.revert, A_LEAD, "coater", audit_id(st_, "review", "coater"))
    assert out.version == st_.read(tb.get, "coater").version is not None


def test_reverting_an_old_change_leaves_later_changes_to_other_parts_alone(st_):
    before = st_.read(tb.get, "coater")
    st_.write(tb.edit_language, A_LEAD, "coater", None, "ms", [term("ms", "mesin penyalut")])
    ms_change = st_.read(tb.changes, "coater")[0].id
    ko = st_.write(tb.edit_language, A_LEAD, "coater", None, "ko", [term("ko", "코터")])
    reverted = st_.read(tb.get, "coater")
    out = st_.write(tb.revert, A_LEAD, "coater", ms_change)
    now = st_.read(tb.get, "coater")
    assert (out.applied, out.version) == (True, now.version) and now.version == ko.version + 1
    assert [t for t in now.terms if t.lang == "ms"] == [t for t in before.terms if t.lang == "ms"]
    assert [(t.text, t.type) for t in now.terms if t.lang == "ko"] == [("코터", "preferred")]
    # Parts the change did not touch keep their stored order (French:
    # enduiseuse, the preferred term, before coater), not the sorted order
    # used to compare them.
    assert [t for t in now.terms if t.lang in ("zh", "fr", "en")] == [t for t in before.terms
                                                                      if t.lang in ("zh", "fr", "en")]
    assert [t.text for t in now.terms if t.lang == "fr"] == ["enduiseuse", "coater"]
    actor, _, detail = audit_detail(st_, "revert", "coater")
    assert actor == A_LEAD.tag and detail["reverts"] == ms_change
    assert detail["before"] == gstore.concept_snapshot(reverted)  # so the revert itself can be reverted
    revert_change = st_.read(tb.changes, "coater")[0].id
    st_.write(tb.revert, A_LEAD, "coater", revert_change)
    assert [(t.text, t.type) for t in st_.read(tb.get, "coater").terms if t.lang == "ms"] == [
        ("mesin penyalut", "preferred")]


def test_reverting_a_change_a_later_one_overwrote_is_a_conflict(st_):
    first = edit_fr(st_, "coucheuse")
    second = edit_fr(st_, "machine d'enduction")
    current = st_.read(tb.get, "coater")
    e = refused(tb.Conflict.LATER, st_.write, tb.revert, A_LEAD, "coater", first)
    assert (e.base, e.current.version, [c.id for c in e.since]) == (current.version, current.version, [second])
    assert st_.read(tb.get, "coater").version == current.version  # nothing written


def test_reverting_a_creation_removes_the_concept(st_):
    st_.write(tb.add_concept, A_LEAD, [term("en", "dancer roller")], concept_id="dancer-roller")
    created = st_.read(tb.get, "dancer-roller")
    change = audit_id(st_, "create", "dancer-roller")
    out = st_.write(tb.revert, A_LEAD, "dancer-roller", change)
    assert out == tb.Outcome(True, "dancer-roller", deleted=True)
    assert st_.read(tb.get, "dancer-roller") is None
    assert audit_detail(st_, "delete", "dancer-roller") == (
        A_LEAD.tag, "concept", {"before": gstore.concept_snapshot(created), "reverts": change})


def test_a_creation_edited_since_cannot_be_reverted(st_):
    st_.write(tb.add_concept, A_LEAD, [term("en", "dancer roller")], concept_id="dancer-roller")
    change = audit_id(st_, "create", "dancer-roller")
    st_.write(tb.edit_language, A_LEAD, "dancer-roller", None, "fr", [term("fr", "rouleau danseur")])
    e = refused(tb.Conflict.LATER, st_.write, tb.revert, A_LEAD, "dancer-roller", change)
    assert [c.action for c in e.since] == ["edit"]
    assert st_.read(tb.get, "dancer-roller") is not None


def test_reverting_a_merge_brings_back_the_absorbed_concept_and_its_fixes(st_):
    st_.write(tb.add_concept, CLI, [term("en", "coating unit"), term("ko", "도포기")], concept_id="coating-unit")
    unit = st_.read(tb.get, "coating-unit")
    moved = approved(st_, equipment="coating-unit")
    stays = approved(st_, equipment="coater")
    st_.write(tb.merge, A_LEAD, "coater", None, "coating-unit")
    equipment = lambda: st_.read(lambda db: dict(db.execute("SELECT id, equipment FROM fix")))  # noqa: E731
    assert equipment() == {moved: "coater", stays: "coater"}
    merge = audit_id(st_, "merge", "coater")
    out = st_.write(tb.revert, A_LEAD, "coater", merge)
    assert out.applied and out.concept_id == "coater"
    assert st_.read(tb.get, "coating-unit").terms == unit.terms
    assert "coating unit" not in {t.text for t in st_.read(tb.get, "coater").terms}
    assert equipment() == {moved: "coating-unit", stays: "coater"}
    assert audit_detail(st_, "unmerge", "coating-unit") == (A_LEAD.tag, "concept",
                                                           {"from": "coater", "reverts": merge})
    # Once more: the absorbed concept exists again, so it is not made twice.
    refused("A concept with this id already exists.", st_.write, tb.revert, A_LEAD, "coater", merge)


def test_what_a_revert_refuses(st_):
    seeded = audit_id(st_, "create", "coater")  # an import row: no earlier state kept
    refused("This change cannot be reverted here: no earlier state was recorded.",
            st_.write, tb.revert, A_LEAD, "coater", seeded)
    refused("No such change.", st_.write, tb.revert, A_LEAD, "coating", seeded)  # another concept's row
    st_.write(tb.add_concept, CLI, [term("en", "coating unit")], concept_id="coating-unit")
    st_.write(tb.edit_language, CLI, "coating-unit", None, "fr", [term("fr", "unité d'enduction")])
    edit = audit_id(st_, "edit", "coating-unit")
    st_.write(tb.merge, A_LEAD, "coater", None, "coating-unit")
    refused("No such concept.", st_.write, tb.revert, A_LEAD, "coating-unit", edit)


# -- history ---------------------------------------------------------------------------

def test_the_history_lists_each_change_newest_first_with_what_it_changed(st_):
    st_.write(tb.add_concept, A_LEAD, [term("en", "dancer roller"), term("fr", "rouleau danseur")],
              concept_id="dancer-roller", category="electrode", definitions={"fr": "Rouleau mobile."})
    st_.write(tb.edit_language, A_LEAD, "dancer-roller", None, "fr",
              [term("fr", "rouleau danseur"), term("fr", "danseur", "admitted")])
    st_.write(tb.review, A_LEAD, "dancer-roller", "fr")
    st_.write(tb.revert, A_LEAD, "dancer-roller", audit_id(st_, "review", "dancer-roller"))
    st_.write(tb.add_concept, CLI, [term("en", "dancer")], concept_id="dancer", notes="old id")
    st_.write(tb.merge, A_LEAD, "dancer-roller", None, "dancer")
    history = st_.read(tb.changes, "dancer-roller")
    assert [(c.action, c.who, c.revertible, c.note, c.version) for c in history] == [
        ("merge", "#2", True, "dancer", 3), ("unreview", "#2", False, "", None),
        ("review", "#2", True, "", None), ("edit", "#2", True, "", 2), ("create", "#2", True, "", 1)]
    assert {c.actor for c in history} == {A_LEAD.tag} and history[0].id > history[1].id
    assert history[1].lines == [("back to draft", "fr", "", "")]
    assert history[2].lines == [("reviewed", "fr", "", "")]
    assert history[3].lines == [("terms", "fr", "rouleau danseur (preferred)",
                                 "rouleau danseur (preferred) · danseur (admitted)")]
    # A creation lists what the concept has, and no line for what it lacks.
    assert history[4].lines == [("terms", "fr", "—", "rouleau danseur (preferred)"),
                                ("terms", "en", "—", "dancer roller (preferred)"),
                                ("definition", "fr", "—", "Rouleau mobile."),
                                ("category", "", "—", "electrode"), ("equipment", "", "—", "False")]
    assert ("terms", "en", "dancer roller (preferred)", "dancer roller (preferred) · dancer (admitted)") \
        in history[0].lines
    assert [c.action for c in st_.read(tb.changes, "dancer-roller", 2)] == ["merge", "unreview"]
    # The absorbed concept's own history: where it went, what it lost.
    absorbed = st_.read(tb.changes, "dancer")
    assert [(c.action, c.who, c.note, c.revertible) for c in absorbed] == [
        ("merged", "#2", "dancer-roller", False), ("create", "cli:tests", "", True)]
    assert ("notes", "", "old id", "—") in absorbed[0].lines


def test_a_change_s_lines_come_in_the_order_of_the_form(st_):
    before = st_.read(tb.get, "coater")
    after = dataclasses.replace(
        before, terms=[term(lang, f"new {lang}") for lang in LANGS],
        definitions={lang: f"def {lang}" for lang in LANGS},
        category="general", equipment=False, source="manual", notes="note")
    lines = tb.diff(gstore.concept_snapshot(before), gstore.concept_snapshot(after))
    assert [line[:2] for line in lines] == ([("terms", lang) for lang in LANGS]
                                            + [("definition", lang) for lang in LANGS]
                                            + [("category", ""), ("equipment", ""), ("source", ""), ("notes", "")])
    assert lines[-4:] == [("category", "", "electrode", "general"), ("equipment", "", "True", "False"),
                          ("source", "", "tests", "manual"), ("notes", "", "—", "note")]
    assert tb.diff(None, None) == [] and tb.diff(gstore.concept_snapshot(before), gstore.concept_snapshot(before)) == []
    shuffled = gstore.concept_snapshot(before)
    shuffled["terms"].reverse()  # the same terms in another order: no change
    assert tb.diff(gstore.concept_snapshot(before), shuffled) == []


def test_browsing_filters_and_pages(st_):
    browse = lambda **kw: st_.read(lambda db: tb.browse(db, **kw))  # noqa: E731
    every, total = browse()
    assert total == len(every) > 3 and [c.id for c in every] == sorted(c.id for c in every)
    page2, _ = browse(per_page=2, page=2)
    assert [c.id for c in page2] == [c.id for c in every[2:4]]
    assert [c.id for c in browse(per_page=2)[0]] == [c.id for c in every[:2]]
    equipment, n = browse(equipment=True)
    assert n == len(equipment) and {c.id for c in equipment} == {c.id for c in every if c.equipment}
    alarms, _ = browse(category="alarm")
    assert [c.id for c in alarms] == [c.id for c in every if c.category == "alarm"]
    st_.write(tb.review, A_LEAD, "coater", "fr")
    assert [c.id for c in browse(lang="fr", state="reviewed")[0]] == ["coater"]
    draft = [c.id for c in browse(lang="fr", state="draft")[0]]
    assert "coater" not in draft and set(draft) == {c.id for c in every if c.terms_in("fr")} - {"coater"}
    assert browse(state="reviewed")[1] == total  # a state without a language filters nothing
    electrode_draft = [c.id for c in browse(category="electrode", lang="fr", state="draft")[0]]
    assert electrode_draft == [c.id for c in every if c.category == "electrode" and c.terms_in("fr")
                               and c.id != "coater"]


@pytest.mark.parametrize("filters", [
    {}, {"category": "alarm"}, {"equipment": True}, {"equipment": False}, {"lang": "fr"},
    {"lang": "fr", "state": "reviewed"}, {"lang": "fr", "state": "draft"}, {"lang": "ko", "state": "draft"},
    {"category": "electrode", "lang": "fr", "state": "draft"}, {"state": "reviewed"}])
def test_the_filter_of_search_results_agrees_with_browsing(st_, filters):
    st_.write(tb.add_concept, CLI, [term("fr", "rouleau")], concept_id="rouleau")  # no Korean term
    st_.write(tb.review, A_LEAD, "coater", "fr")
    every, _ = st_.read(lambda db: tb.browse(db))
    browsed, _ = st_.read(lambda db: tb.browse(db, **filters))
    assert [c.id for c in every if tb.keep(c, **filters)] == [c.id for c in browsed]


def test_the_queue_lists_pending_proposals_up_to_its_limit(st_):
    for text in ("coucheuse", "machine d'enduction", "enducteur"):
        st_.write(suggestions.add, "coater", text, TRAINER)
    assert [p.suggestion.term for p in st_.read(tb.pending_proposals, 2)] == ["coater", "coater"]
    assert len(st_.read(tb.pending_proposals)) == 3


def test_a_conflict_on_a_concept_brought_back_lists_its_return_not_its_merge(st_):
    """A form made before the concept was merged away and brought back: the
    conflict lists the later edit and the undoing of the merge; the row that
    says it was absorbed changed nothing of its own content."""
    st_.write(tb.add_concept, CLI, [term("en", "coating unit")], concept_id="coating-unit")
    base = st_.read(tb.get, "coating-unit").version
    st_.write(tb.merge, A_LEAD, "coater", None, "coating-unit")
    st_.write(tb.revert, A_LEAD, "coater", audit_id(st_, "merge", "coater"))
    st_.write(tb.edit_general, CLI, "coating-unit", None, notes="later")
    e = refused(tb.Conflict.EDITED, st_.write, tb.edit_general, A_LEAD, "coating-unit", base, notes="x")
    assert [(x.action, x.version) for x in e.since] == [("edit", base + 1), ("unmerge", None)]
