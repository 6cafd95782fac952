"""The review decisions both front ends call (bot.knowledge.review): one
approval however often it is asked for, a reason that says something, and
the queue's listing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.knowledge import fixes as fx
from bot.knowledge import review, suggestions
from bot.knowledge.search import FixBase
from bot.people import directory
from glossary import Glossary
from glossary.model import LANGS

TRAINER, LEAD = 11, 12


@pytest.fixture
def kb(storage):
    kb = FixBase(storage, Glossary(storage.conn))
    admit(kb, TRAINER, "trainer")
    admit(kb, LEAD, "lead")
    return kb


def pending(kb) -> int:
    return kb.storage.write(fx.create_and_submit, author=TRAINER, equipment="coater", original_lang="en",
                            symptom="Coater unwind tension alarm", steps=["Stop.", "Check the splice."])


async def test_approve_is_idempotent_and_names_the_author(kb):
    fix_id = pending(kb)
    first = await review.approve(kb, "fix", fix_id, LEAD)
    again = await review.approve(kb, "fix", fix_id, LEAD)
    assert (first.changed, again.changed) == (True, False)
    assert first.author == TRAINER and first.title == "Coater unwind tension alarm"
    assert kb.storage.read(lambda db: db.execute(
        "SELECT count(*) FROM audit WHERE entity = 'fix' AND entity_id = ? AND action = 'approve'",
        [str(fix_id)]).fetchone()[0]) == 1
    with pytest.raises(fx.FixStateError):
        await review.reject(kb, "fix", fix_id, LEAD, "too late")


@pytest.mark.parametrize("reason", ["", "   ", "\u200b\u2060", None])
async def test_a_rejection_needs_a_real_reason(kb, reason):
    fix_id = pending(kb)
    sid = kb.storage.write(suggestions.add, "tab", "languette", TRAINER)
    with pytest.raises(fx.FixError):
        await review.reject(kb, "fix", fix_id, LEAD, reason)
    with pytest.raises(suggestions.SuggestionError):
        await review.reject(kb, "suggestion", sid, LEAD, reason)
    assert kb.storage.read(review.status_of, "fix", fix_id) == "pending"
    assert kb.storage.read(review.status_of, "suggestion", sid) == "pending"


async def test_reject_twice_writes_once_and_keeps_the_first_reason(kb):
    fix_id = pending(kb)
    assert (await review.reject(kb, "fix", fix_id, LEAD, "step 2 is unsafe")).changed
    assert not (await review.reject(kb, "fix", fix_id, LEAD, "another")).changed
    assert kb.storage.read(fx.load_fix, fix_id).reject_reason == "step 2 is unsafe"


async def test_a_trainer_cannot_decide(kb):
    fix_id = pending(kb)
    with pytest.raises(fx.FixPermissionError):
        await review.approve(kb, "fix", fix_id, TRAINER)
    assert kb.storage.read(review.status_of, "fix", fix_id) == "pending"


def test_pending_list_and_filters(kb):
    fix_id = pending(kb)
    sid = kb.storage.write(suggestions.add, "tab", "languette", TRAINER)
    rows = kb.storage.read(review.pending_list)
    assert rows[0][:2] == ("fix", fix_id) and rows[-1][:2] == ("suggestion", sid)
    everyone, total = kb.storage.read(review.list_fixes, LEAD, "lead", review.FixFilter(status="pending"))
    assert [r.id for r in everyone] == [fix_id] and total == 1
    other, total = kb.storage.read(review.list_fixes, 99, "trainer", review.FixFilter(status="pending"))
    assert other == [] and total == 0
    stranger, total = kb.storage.read(review.list_fixes, 99, None, review.FixFilter())
    assert stranger == [] and total == 0
    forged = review.FixFilter(status="<x>", lang="zz", sample="maybe").clean()
    assert (forged.status, forged.lang, forged.sample) == ("", "", "")


def test_typed_items_and_codes():
    assert fx.typed_items(" a \n\n b ") == ["a", "b"] and fx.typed_items(" - ") == []
    assert fx.typed_codes("E-203, e204; E 205\nE-206") == ["E-203", "e204", "E", "205", "E-206"]


# -- exact results ---------------------------------------------------------------------
# Whole Decisions, rows and tuples compared with ==, so that a wrong field, a
# dropped filter or an off-by-one limit shows.

OTHER, OPERATOR = 13, 14
SYMPTOM = "Coater unwind tension alarm"


def admit(kb, user: int, role: str) -> None:
    kb.storage.write(lambda d: directory._admit(d, user, role, now=directory._now(None), seen=True,
                                                actor="system", via="tests", name=str(user)))


def new_fix(kb, author: int = TRAINER, equipment: str = "coater", lang: str = "en",
            symptom: str = SYMPTOM, submit: bool = True) -> int:
    make = fx.create_and_submit if submit else fx.create_draft
    return kb.storage.write(make, author=author, equipment=equipment, original_lang=lang,
                            symptom=symptom, steps=["Stop.", "Check."])


def no_samples(kb) -> None:
    kb.storage.write(fx.remove_samples, "system")


def sql(kb, query: str, args=()) -> None:
    kb.storage.write(lambda db: db.execute(query, list(args)))


@pytest.mark.parametrize("author, expected", [
    ("11", 11), (42, 42), ("1", 1), ("1" * 19, int("1" * 19)), ("9" * 19, int("9" * 19)),
    ("1" * 20, None), ("", None), ("\u0661\u0662\u0663", None), ("\u00b2", None), ("12a", None),
    ("sample", None), ("-5", None), (" 12", None), ("1.5", None), ("0", None), ("00", None), (0, None),
])
def test_author_id_is_ascii_digits_of_at_most_19(author, expected):
    assert review.author_id(author) == expected


async def test_approve_a_suggestion_returns_the_whole_decision(kb):
    sid = kb.storage.write(suggestions.add, "tab", "languette", TRAINER)
    first = await review.approve(kb, "suggestion", sid, LEAD)
    again = await review.approve(kb, "suggestion", sid, LEAD)
    assert first == review.Decision("suggestion", sid, True, TRAINER, "tab")
    assert again == review.Decision("suggestion", sid, False, TRAINER, "tab")
    assert first.translated == [] and again.translated == []
    s = kb.storage.read(suggestions.get, sid)
    assert (s.status, s.reason) == ("approved", None)
    assert kb.storage.read(review.status_of, "suggestion", sid) == "approved"
    with pytest.raises(suggestions.SuggestionError):
        await review.reject(kb, "suggestion", sid, LEAD, "too late")
    with pytest.raises(suggestions.SuggestionError):
        await review.approve(kb, "suggestion", sid + 1000, LEAD)


async def test_a_trainer_cannot_decide_a_suggestion(kb):
    sid = kb.storage.write(suggestions.add, "tab", "languette", TRAINER)
    with pytest.raises(suggestions.SuggestionError):
        await review.approve(kb, "suggestion", sid, TRAINER)
    with pytest.raises(suggestions.SuggestionError):
        await review.reject(kb, "suggestion", sid, TRAINER, "no")
    assert kb.storage.read(review.status_of, "suggestion", sid) == "pending"


async def test_reject_a_suggestion_returns_the_whole_decision(kb):
    sid = kb.storage.write(suggestions.add, "coater", "enduiseuse", TRAINER)
    first = await review.reject(kb, "suggestion", sid, LEAD, "already in the glossary")
    again = await review.reject(kb, "suggestion", sid, LEAD, "another reason")
    assert first == review.Decision("suggestion", sid, True, TRAINER, "coater")
    assert again == review.Decision("suggestion", sid, False, TRAINER, "coater")
    s = kb.storage.read(suggestions.get, sid)
    assert (s.status, s.reason) == ("rejected", "already in the glossary")
    with pytest.raises(suggestions.SuggestionError):
        await review.approve(kb, "suggestion", sid, LEAD)


async def test_approve_a_fix_returns_the_whole_decision_with_translations(kb, tmp_path, packages):
    # The tests' tiny real models, English to French and Malay only: the
    # languages machine-translated now are named in the decision.
    from bot.translation.engine import TranslationEngine
    from bot.translation.models import ModelStore

    store = ModelStore(tmp_path / "models")
    store.install([packages["copy"][p] for p in ("en_fr", "en_ms")])
    engine = TranslationEngine(store, kb.glossary)
    kb = FixBase(kb.storage, kb.glossary, engine=engine)
    fix_id = pending(kb)
    first = await review.approve(kb, "fix", fix_id, LEAD)
    again = await review.approve(kb, "fix", fix_id, LEAD)
    assert first == review.Decision("fix", fix_id, True, TRAINER, SYMPTOM, ["ms", "fr"])
    assert again == review.Decision("fix", fix_id, False, TRAINER, SYMPTOM, [])
    assert kb.storage.read(fx.load_fix, fix_id).texts["fr"].symptom == engine.translate(SYMPTOM, "fr", source="en").text
    engine.close()


async def test_approve_a_fix_without_an_engine_translates_nothing(kb):
    fix_id = pending(kb)
    assert await review.approve(kb, "fix", fix_id, LEAD) == review.Decision(
        "fix", fix_id, True, TRAINER, SYMPTOM, [])


async def test_a_decision_on_a_tagged_author_names_nobody(kb):
    sample_id = kb.storage.read(lambda db: db.execute(
        "SELECT id FROM fix WHERE author = 'sample' ORDER BY id LIMIT 1").fetchone()[0])
    card = await kb.aget(sample_id)
    assert await review.approve(kb, "fix", sample_id, LEAD) == review.Decision(
        "fix", sample_id, False, None, card.symptom, [])


async def test_reject_a_fix_returns_the_whole_decision(kb):
    fix_id = pending(kb)
    first = await review.reject(kb, "fix", fix_id, LEAD, "step 2 is unsafe")
    again = await review.reject(kb, "fix", fix_id, LEAD, "step 2 is unsafe")
    assert first == review.Decision("fix", fix_id, True, TRAINER, SYMPTOM)
    assert again == review.Decision("fix", fix_id, False, TRAINER, SYMPTOM)
    assert first.translated == []
    assert kb.storage.read(review.status_of, "fix", fix_id) == "rejected"


def test_status_of_reads_the_table_of_its_kind(kb):
    no_samples(kb)
    fix_id = pending(kb)
    sid = kb.storage.write(suggestions.add, "tab", "languette", TRAINER)
    sql(kb, "UPDATE suggestion SET status = 'approved' WHERE id = ?", [sid])
    assert kb.storage.read(review.status_of, "fix", fix_id) == "pending"
    assert kb.storage.read(review.status_of, "suggestion", sid) == "approved"
    assert kb.storage.read(review.status_of, "fix", fix_id + 1000) is None
    assert kb.storage.read(review.status_of, "suggestion", sid + 1000) is None


async def test_an_unknown_kind_of_item_is_refused_everywhere(kb):
    fix_id = pending(kb)
    for kind, decide in (("'Fix'", review.approve(kb, "Fix", fix_id, LEAD)),
                         ("''", review.reject(kb, "", fix_id, LEAD, "why"))):
        with pytest.raises(fx.FixError) as error:
            await decide
        assert str(error.value) == f"unknown kind of item {kind}"  # the kind it was given, quoted
    assert kb.storage.read(review.status_of, "fixes", fix_id) is None
    assert kb.storage.read(review.status_of, "fix", fix_id) == "pending"  # nothing was decided


def test_a_negative_limit_lists_nothing(kb):
    fix_id = pending(kb)
    assert kb.storage.read(review.my_fixes, TRAINER, -1) == []
    assert kb.storage.read(review.pending_list, -1) == []
    rows, total = kb.storage.read(review.list_fixes, LEAD, "lead", review.FixFilter(), -1)
    assert rows == [] and total == kb.storage.read(review.list_fixes, LEAD, "lead", review.FixFilter())[1] > 0
    assert kb.storage.read(review.my_fixes, TRAINER, 1)[0][0] == fix_id


def test_pending_list_is_exact_and_limited(kb):
    admit(kb, OTHER, "trainer")
    f1 = pending(kb)
    f2 = new_fix(kb, OTHER, "slitter", "fr", "Bourrage au refendage")
    done = new_fix(kb, OTHER)
    kb.storage.write(fx.approve, done, LEAD)
    kb.storage.write(fx.create_draft, author=TRAINER, equipment="coater", original_lang="en",
                     symptom="A draft", steps=["Wait."])
    s1 = kb.storage.write(suggestions.add, "tab", "languette", TRAINER)
    s2 = kb.storage.write(suggestions.add, "coater", "enduiseuse", LEAD)
    decided = kb.storage.write(suggestions.add, "slitter", "refendeuse", OTHER)
    kb.storage.write(suggestions.decide, decided, LEAD, True)
    everything = [("fix", f1, SYMPTOM, str(TRAINER), "en"),
                  ("fix", f2, "Bourrage au refendage", str(OTHER), "fr"),
                  ("suggestion", s1, "tab = languette", str(TRAINER), ""),
                  ("suggestion", s2, "coater = enduiseuse", str(LEAD), "")]
    assert kb.storage.read(review.pending_list) == everything
    for limit in range(6):
        assert kb.storage.read(review.pending_list, limit) == everything[:limit]
    assert kb.storage.read(review.pending_counts) == {"fix": 2, "suggestion": 2}


def test_pending_list_lists_100_by_default(kb):
    fix_id = pending(kb)

    def many(db):
        return [suggestions.add(db, f"term {i}", f"proposal {i}", TRAINER) for i in range(100)]

    sids = kb.storage.write(many)
    rows = kb.storage.read(review.pending_list)
    assert len(rows) == 100
    assert rows[0] == ("fix", fix_id, SYMPTOM, str(TRAINER), "en")
    assert rows[1:] == [("suggestion", s, f"term {i} = proposal {i}", str(TRAINER), "")
                        for i, s in enumerate(sids[:99])]
    assert len(kb.storage.read(review.pending_list, 101)) == 101


def test_my_fixes_newest_first_20_by_default_and_list_fixes_50(kb):
    admit(kb, OTHER, "trainer")
    mine = [new_fix(kb, submit=i % 2 == 0, symptom=f"Alarm {i}") for i in range(21)]
    new_fix(kb, OTHER)
    slugs = {i: kb.storage.read(fx.fix_row, i)["slug"] for i in mine}
    expected = [(i, slugs[i], "pending" if n % 2 == 0 else "draft") for n, i in reversed(list(enumerate(mine)))]
    assert kb.storage.read(review.my_fixes, TRAINER) == expected[:20]
    assert kb.storage.read(review.my_fixes, TRAINER, 21) == expected
    assert kb.storage.read(review.my_fixes, TRAINER, 3) == expected[:3]
    assert kb.storage.read(review.my_fixes, LEAD) == []
    # 41 samples + 22 fixes: a lead's first page holds 50 of the 63.
    rows, total = kb.storage.read(review.list_fixes, LEAD, "lead", review.FixFilter())
    assert (len(rows), total) == (50, 63)
    rows, total = kb.storage.read(review.list_fixes, LEAD, "lead", review.FixFilter(), 100)
    assert (len(rows), total) == (63, 63)


def test_fix_equipment_is_distinct_and_sorted(kb):
    assert kb.storage.read(review.fix_equipment) == sorted(set(kb.storage.read(
        lambda db: [r[0] for r in db.execute("SELECT equipment FROM fix")])))
    no_samples(kb)
    assert kb.storage.read(review.fix_equipment) == []
    for equipment in ("slitter", "coater", "calender", "coater"):
        new_fix(kb, equipment=equipment)
    assert kb.storage.read(review.fix_equipment) == ["calender", "coater", "slitter"]


def test_fix_filter_clean_caps_and_whitelists():
    assert review.FixFilter().clean() == review.FixFilter()
    long = review.FixFilter(equipment="e" * 250, status="pending", author="a" * 100, lang="fr", sample="yes")
    assert long.clean() == review.FixFilter(equipment="e" * 200, status="pending",
                                            author="a" * fx.MAX_AUTHOR, lang="fr", sample="yes")
    assert review.FixFilter(equipment="e" * 201).clean().equipment == "e" * 200
    assert review.FixFilter(author="7" * (fx.MAX_AUTHOR + 1)).clean().author == "7" * fx.MAX_AUTHOR
    forged = review.FixFilter(equipment="coater", status="PENDING", author="11", lang="de", sample="YES")
    assert forged.clean() == review.FixFilter(equipment="coater", author="11")
    for status in fx.STATUSES:
        assert review.FixFilter(status=status).clean() == review.FixFilter(status=status)
    for lang in LANGS:
        assert review.FixFilter(lang=lang).clean() == review.FixFilter(lang=lang)
    for sample in ("yes", "no"):
        assert review.FixFilter(sample=sample).clean() == review.FixFilter(sample=sample)


@pytest.fixture
def listed(kb):
    """Four fixes of known content and change times, no samples:
    f1 TRAINER coater en approved (t3); f2 OTHER slitter fr pending (t1);
    f3 TRAINER slitter zh rejected (t3, a tie with f1); f4 OTHER coater en
    approved sample (t2). Newest change first: f3, f1, f4, f2."""
    admit(kb, OTHER, "trainer")
    admit(kb, OPERATOR, "operator")
    no_samples(kb)
    f1 = new_fix(kb, TRAINER, "coater", "en", "Unwind alarm")
    f2 = new_fix(kb, OTHER, "slitter", "fr", "Bourrage au refendage")
    f3 = new_fix(kb, TRAINER, "slitter", "zh", "分切机卡料")
    f4 = new_fix(kb, OTHER, "coater", "en", "Coating streaks")
    kb.storage.write(fx.approve, f1, LEAD)
    kb.storage.write(fx.reject, f3, LEAD, "unclear")
    kb.storage.write(fx.approve, f4, LEAD)
    sql(kb, "UPDATE fix SET sample = 1 WHERE id = ?", [f4])
    times = {f1: "2026-01-01T00:00:03+00:00", f2: "2026-01-01T00:00:01+00:00",
             f3: "2026-01-01T00:00:03+00:00", f4: "2026-01-01T00:00:02+00:00"}
    for fix_id, at in times.items():
        sql(kb, "UPDATE fix SET updated_at = ? WHERE id = ?", [at, fix_id])
    info = {f1: ("coater", "approved", str(TRAINER), "en", False, "Unwind alarm"),
            f2: ("slitter", "pending", str(OTHER), "fr", False, "Bourrage au refendage"),
            f3: ("slitter", "rejected", str(TRAINER), "zh", False, "分切机卡料"),
            f4: ("coater", "approved", str(OTHER), "en", True, "Coating streaks")}
    rows = {i: review.FixRow(i, kb.storage.read(fx.fix_row, i)["slug"], *info[i], times[i]) for i in info}
    return kb, SimpleNamespace(f1=rows[f1], f2=rows[f2], f3=rows[f3], f4=rows[f4])


def test_list_fixes_exact_rows_for_each_role(listed):
    kb, f = listed

    def ls(viewer, role, flt=review.FixFilter(), *more):
        return kb.storage.read(review.list_fixes, viewer, role, flt, *more)

    everything = [f.f3, f.f1, f.f4, f.f2]
    assert ls(LEAD, "lead") == (everything, 4)
    assert ls(99, "admin") == (everything, 4)
    assert ls(TRAINER, "trainer") == ([f.f3, f.f1, f.f4], 3)
    assert ls(OTHER, "trainer") == ([f.f1, f.f4, f.f2], 3)
    assert ls(OPERATOR, "operator") == ([f.f1, f.f4], 2)
    assert ls(LEAD, None) == ([], 0)
    assert ls(TRAINER, "trainer", review.FixFilter(status="pending")) == ([], 0)
    assert ls(OTHER, "trainer", review.FixFilter(status="pending")) == ([f.f2], 1)
    assert ls(TRAINER, "trainer", review.FixFilter(author=str(TRAINER))) == ([f.f3, f.f1], 2)


@pytest.mark.parametrize("flt, expected", [
    (dict(equipment="coater"), ["f1", "f4"]),
    (dict(equipment="slitter"), ["f3", "f2"]),
    (dict(equipment="calender"), []),
    (dict(status="approved"), ["f1", "f4"]),
    (dict(status="rejected"), ["f3"]),
    (dict(author=str(OTHER)), ["f4", "f2"]),
    (dict(author="sample"), []),
    (dict(lang="zh"), ["f3"]),
    (dict(lang="en"), ["f1", "f4"]),
    (dict(sample="yes"), ["f4"]),
    (dict(sample="no"), ["f3", "f1", "f2"]),
    (dict(equipment="slitter", status="pending"), ["f2"]),
    (dict(equipment="coater", author=str(TRAINER), lang="en", sample="no", status="approved"), ["f1"]),
    (dict(status="bogus", lang="xx", sample="maybe"), ["f3", "f1", "f4", "f2"]),
])
def test_list_fixes_filters_for_a_lead(listed, flt, expected):
    kb, f = listed
    rows = [getattr(f, name) for name in expected]
    assert kb.storage.read(review.list_fixes, LEAD, "lead", review.FixFilter(**flt)) == (rows, len(rows))


def test_list_fixes_limit_and_offset(listed):
    kb, f = listed
    everything = [f.f3, f.f1, f.f4, f.f2]

    def page(*more):
        return kb.storage.read(review.list_fixes, LEAD, "lead", review.FixFilter(), *more)

    assert page(2) == (everything[:2], 4)
    assert page(2, 1) == (everything[1:3], 4)
    assert page(2, 3) == (everything[3:], 4)
    assert page(2, 4) == ([], 4)
    assert page(2, -3) == (everything[:2], 4)
    assert page(0) == ([], 4)
    rows, total = kb.storage.read(review.list_fixes, TRAINER, "trainer", review.FixFilter(), 1, 1)
    assert (rows, total) == ([f.f1], 3)
