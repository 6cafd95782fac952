"""`shopbot term` as a group: QUERY still looks up; `term edit` and
`term review` go through the console's service (bot.knowledge.termbase)."""

import json

import pytest

from bot.knowledge import termbase as tb
from bot.storage import Storage


def test_term_query_still_looks_up_with_options_anywhere(run):
    assert "enduiseuse" in run("term", "涂布机").output
    assert run("term", "--lang", "fr", "calandrage").exit_code == 0
    assert run("term", "calandrage", "--lang", "fr", "--limit", "2").exit_code == 0
    looked = run("term", "lookup", "edit", "--json")  # the word "edit" itself, not the subcommand
    assert looked.exit_code == 0 and isinstance(json.loads(looked.output), list)
    usage = run("term", "--help")
    assert usage.exit_code == 0 and "edit" in usage.output and "review" in usage.output


def test_json_shows_each_languages_review_state(run):
    [first, *_] = json.loads(run("term", "coater", "--json").output)
    assert first["review"] == {lang: {"state": "draft"} for lang in ("zh", "ko", "ms", "fr", "en")}
    result = run("term", "review", "coater", "--lang", "ms", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["state"] == "reviewed"
    [first, *_] = json.loads(run("term", "coater", "--json").output)
    assert first["review"]["ms"]["state"] == "reviewed" and first["review"]["ms"]["by"].startswith("cli:")
    assert first["review"]["fr"] == {"state": "draft"}
    again = run("term", "review", "coater", "--lang", "ms")
    assert again.exit_code == 0 and "(already)" in again.output
    assert "ms ✓" in run("term", "coater").output


def test_edit_a_term_puts_that_language_back_to_draft(run):
    run("term", "review", "coater", "--lang", "ms")
    run("term", "review", "coater", "--lang", "fr")
    result = run("term", "edit", "coater", "--lang", "ms", "--term", "mesin penyalut kerajang", "--type",
                 "preferred", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["applied"] is True and out["version"] == 2
    [first, *_] = json.loads(run("term", "mesin penyalut kerajang", "--json").output)
    assert first["concept_id"] == "coater"
    assert first["terms"]["ms"][0]["text"] == "mesin penyalut kerajang"
    assert first["review"]["ms"] == {"state": "draft"} and first["review"]["fr"]["state"] == "reviewed"
    # the old preferred term became admitted, not lost
    with Storage(run.db) as s:
        c = s.read(tb.get, "coater")
        history = s.read(tb.changes, "coater")
    assert sum(t.type == "preferred" for t in c.terms_in("ms")) == 1 and len(c.terms_in("ms")) >= 2
    assert history[0].action == "edit" and history[0].actor.startswith("cli:")


def test_edit_definition_general_remove_and_deprecate(run):
    assert run("term", "edit", "coater", "--lang", "fr", "--definition", "Machine qui enduit.").exit_code == 0
    assert run("term", "edit", "coater", "--notes", "checked on line 2", "--no-equipment").exit_code == 0
    assert run("term", "edit", "coater", "--lang", "fr", "--deprecate", "coater").exit_code == 0
    with Storage(run.db) as s:
        c = s.read(tb.get, "coater")
    assert c.definitions["fr"] == "Machine qui enduit." and c.notes == "checked on line 2" and not c.equipment
    assert ("coater", "deprecated") in {(t.text, t.type) for t in c.terms_in("fr")}
    admitted = next(t.text for t in c.terms_in("fr") if t.type == "admitted")
    assert run("term", "edit", "coater", "--lang", "fr", "--remove", admitted).exit_code == 0


def test_a_stale_version_is_refused_with_the_other_change(run):
    assert run("term", "edit", "coater", "--notes", "first").exit_code == 0
    result = run("term", "edit", "coater", "--version", "1", "--notes", "second")
    assert result.exit_code == 1
    assert "Someone else changed this concept" in result.output and "first" in result.output
    with Storage(run.db) as s:
        assert s.read(tb.get, "coater").notes == "first"


@pytest.mark.parametrize("args,message", [
    (("term", "edit", "nope", "--notes", "x"), "No such concept."),
    (("term", "edit", "coater", "--lang", "ms", "--term", "a" * 500), "longer than 120"),
    (("term", "edit", "coater", "--lang", "ms", "--term", "a|b"), "'|'"),
    (("term", "edit", "coater", "--lang", "ms", "--term", "\u200b"), "at least one term"),
    (("term", "edit", "coater", "--lang", "ms", "--remove", "nothing like it"), "No such term"),
    (("term", "edit", "coater", "--lang", "ms", "--term", "x", "--gender", "f"), "Only French terms"),
    (("term", "edit", "coater", "--notes", "n" * 5000), "longer than 4000"),
    (("term", "review", "<script>", "--lang", "ko"), "No such concept."),
])
def test_bad_edits_are_one_line_and_change_nothing(run, args, message):
    with Storage(run.db) as s:
        before = s.read(tb.get, "coater")
    result = run(*args)
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and message in result.output
    with Storage(run.db) as s:
        after = s.read(tb.get, "coater")
    assert after.key() == before.key() and after.version == before.version


def test_usage_errors(run):
    assert run("term", "edit", "coater").exit_code == 2
    assert run("term", "edit", "coater", "--term", "x").exit_code == 2  # no --lang
    assert run("term", "review", "coater").exit_code == 2  # no --lang
    assert run("term", "review", "coater", "--lang", "xx").exit_code == 2
