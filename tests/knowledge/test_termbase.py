"""The glossary editor as a service (bot/knowledge/termbase.py): what a new
concept keeps, the refusals word for word, merges, a trainer's proposal and
its closing, speakers. The console drives the same functions over HTTP
(tests/web/test_console_glossary.py), the CLI too (tests/test_cli_term.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot.knowledge import suggestions
from bot.knowledge import termbase as tb
from glossary.model import LANGS
from tests.knowledge.test_fixes import LEAD, TRAINER, st_  # noqa: F401

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


def test_the_head_of_a_concept_is_its_english_term_else_the_first_language_with_one(st_):
    st_.write(tb.add_concept, CLI, [term("ko", "코터 롤"), term("fr", "rouleau de coucheuse")], concept_id="kf")
    assert tb._head(st_.read(tb.get, "kf")) == "코터 롤"  # LANGS order: zh, ko, ms, fr
    assert tb._head(st_.read(tb.get, "coater")) == "coater"  # English before Chinese


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


def audit_id(st_, action: str, concept_id: str) -> int:
    return st_.read(lambda db: db.execute("SELECT max(id) FROM audit WHERE action = ? AND entity = 'concept' "
                                          "AND entity_id = ?", [action, concept_id]).fetchone()[0])


def test_reverting_a_review_puts_the_language_back_to_draft_once(st_):
    assert st_.write(tb.review, A_LEAD, "coater", "fr") is True
    st_.write(tb.review, A_LEAD, "coating", "fr")  # another review of French stays
    change = audit_id(st_, "review", "coater")
    refused("Only a lead or an admin can do this.", st_.write, tb.revert, A_TRAINER, "coater", change)
    refused("No such change.", st_.write, tb.revert, A_LEAD, "coater", 10 ** 6)
    out = st_.write(tb.revert, A_LEAD, "coater", change)
    assert (out.applied, out.concept_id) == (True, "coater")
    assert set(st_.read(tb.get, "coater").reviews) == set() and set(st_.read(tb.get, "coating").reviews) == {"fr"}
    actor, detail = st_.read(lambda db: db.execute(
        "SELECT actor, detail FROM audit WHERE action = 'unreview'").fetchone())
    assert (actor, json.loads(detail)) == (A_LEAD.tag, {"lang": "fr", "reverts": change})
    refused("Nothing was changed.", st_.write, tb.revert, A_LEAD, "coater", change)


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


def test_the_queue_lists_pending_proposals_up_to_its_limit(st_):
    for text in ("coucheuse", "machine d'enduction", "enducteur"):
        st_.write(suggestions.add, "coater", text, TRAINER)
    assert [p.suggestion.term for p in st_.read(tb.pending_proposals, 2)] == ["coater", "coater"]
    assert len(st_.read(tb.pending_proposals)) == 3
