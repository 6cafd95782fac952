"""Glossary suggestions (bot/knowledge/suggestions.py) and the review queue
around fixes and suggestions (bot/knowledge/review.py)."""

from __future__ import annotations

import json

import pytest

from bot.knowledge import fixes as fx
from bot.knowledge import review
from bot.knowledge import suggestions as sg
from tests.knowledge.test_fixes import ADMIN, LEAD, OPERATOR, STRANGER, TRAINER, TRAINER2, draft, st_  # noqa: F401


def audit_rows(storage, entity):
    return [(actor, action, eid, json.loads(detail) if detail else None)
            for actor, action, eid, detail in storage.conn().execute(
                "SELECT actor, action, entity_id, detail FROM audit WHERE entity = ? ORDER BY id",
                [entity]).fetchall()]


# -- suggestions ---------------------------------------------------------------

def test_a_trainer_suggests_and_a_lead_approves(st_):
    sid = st_.write(sg.add, "  coater ", " enduiseuse = coucheuse\n", TRAINER)
    s = st_.read(sg.get, sid)
    assert (s.id, s.term, s.proposal, s.author, s.status, s.reason) == (
        sid, "coater", "enduiseuse = coucheuse", TRAINER, "pending", None)
    assert s.created_at.endswith("+00:00")
    assert audit_rows(st_, "suggestion") == [
        (f"tg:{TRAINER}", "suggest", str(sid), {"term": "coater", "proposal": "enduiseuse = coucheuse"})]
    assert st_.write(sg.decide, sid, LEAD, approve=True) is True
    assert st_.read(sg.get, sid).status == "approved"
    assert st_.write(sg.decide, sid, LEAD, approve=True) is False  # a double tap decides once
    row = st_.conn().execute("SELECT reason, decided_by, decided_at FROM suggestion").fetchone()
    assert row[:2] == (None, f"tg:{LEAD}") and row[2].endswith("+00:00")
    assert audit_rows(st_, "suggestion")[1:] == [(f"tg:{LEAD}", "approve", str(sid), None)]
    with pytest.raises(sg.SuggestionError, match="already approved"):
        st_.write(sg.decide, sid, LEAD, approve=False, reason="no")


def test_a_rejection_needs_and_keeps_a_reason(st_):
    sid = st_.write(sg.add, "slitter", "refendeuse", TRAINER2)
    for reason in (None, "", "   "):
        with pytest.raises(sg.SuggestionError, match="reason is empty"):
            st_.write(sg.decide, sid, LEAD, approve=False, reason=reason)
    with pytest.raises(sg.SuggestionError, match="longer than 2000"):
        st_.write(sg.decide, sid, LEAD, approve=False, reason="x" * (sg.MAX_REASON + 1))
    assert st_.write(sg.decide, sid, ADMIN, approve=False, reason=" already in the glossary ") is True
    s = st_.read(sg.get, sid)
    assert (s.status, s.reason) == ("rejected", "already in the glossary")
    assert audit_rows(st_, "suggestion")[-1] == (
        f"tg:{ADMIN}", "reject", str(sid), {"reason": "already in the glossary"})
    assert st_.write(sg.decide, sid, LEAD, approve=False, reason="again") is False
    with pytest.raises(sg.SuggestionError, match="already rejected"):
        st_.write(sg.decide, sid, LEAD, approve=True)


def test_an_approval_ignores_a_reason(st_):
    sid = st_.write(sg.add, "slitter", "refendeuse", TRAINER)
    st_.write(sg.decide, sid, LEAD, approve=True, reason="looks right")
    assert st_.read(sg.get, sid).reason is None
    assert audit_rows(st_, "suggestion")[-1][3] is None


def test_who_may_suggest_and_decide(st_):
    for author in (OPERATOR, STRANGER):
        with pytest.raises(sg.SuggestionError, match="only a trainer or above can suggest"):
            st_.write(sg.add, "t", "p", author)
    for author in (TRAINER, LEAD, ADMIN):
        st_.write(sg.add, "t", "p", author)
    sid = st_.write(sg.add, "t", "p", TRAINER)
    for actor in (TRAINER, OPERATOR, STRANGER):
        with pytest.raises(sg.SuggestionError, match="only a lead or above can review"):
            st_.write(sg.decide, sid, actor, approve=True)
    with pytest.raises(sg.SuggestionError, match="no suggestion #999"):
        st_.write(sg.decide, 999, LEAD, approve=True)
    assert st_.read(sg.get, 999) is None


@pytest.mark.parametrize("term, proposal, message", [
    ("", "p", "term is empty"), ("  ", "p", "term is empty"), (None, "p", "term is empty"),
    ("t", "", "proposal is empty"), ("x" * 201, "p", "term is longer than 200"),
    ("t", "x" * 1001, "proposal is longer than 1000"),
])
def test_bad_suggestions(st_, term, proposal, message):
    with pytest.raises(sg.SuggestionError, match=message):
        st_.write(sg.add, term, proposal, TRAINER)
    assert st_.read(sg.list_pending) == []


def test_the_longest_allowed(st_):
    sid = st_.write(sg.add, "x" * sg.MAX_TERM, "y" * sg.MAX_PROPOSAL, TRAINER)
    st_.write(sg.decide, sid, LEAD, approve=False, reason="z" * sg.MAX_REASON)
    assert len(st_.read(sg.get, sid).reason) == sg.MAX_REASON


def test_list_pending_oldest_first_and_limited(st_):
    ids = [st_.write(sg.add, f"t{i}", "p", TRAINER) for i in range(25)]
    st_.write(sg.decide, ids[0], LEAD, approve=True)
    assert [s.id for s in st_.read(sg.list_pending)] == ids[1:21]  # 20 by default
    assert [s.id for s in st_.read(sg.list_pending, 3)] == ids[1:4]


# -- the review queue ----------------------------------------------------------

def test_the_queue_gives_fixes_then_suggestions(st_):
    assert st_.read(review.next_pending) is None
    assert st_.read(review.pending_counts) == {"fix": 0, "suggestion": 0}
    f1, f2, f3 = draft(st_), draft(st_), draft(st_)
    for fix_id in (f1, f3):
        st_.write(fx.submit, fix_id, TRAINER)
    s1, s2 = st_.write(sg.add, "a", "b", TRAINER), st_.write(sg.add, "c", "d", TRAINER)
    s0 = st_.write(sg.add, "e", "f", TRAINER)
    st_.write(sg.decide, s0, LEAD, approve=True)
    assert st_.read(review.pending_counts) == {"fix": 2, "suggestion": 2}
    queue, item = [], st_.read(review.next_pending)
    while item is not None:
        queue.append(item)
        item = st_.read(review.next_pending, item)
    assert queue == [review.QueueItem("fix", f1), review.QueueItem("fix", f3),
                     review.QueueItem("suggestion", s1), review.QueueItem("suggestion", s2)]
    assert st_.read(review.next_pending, review.QueueItem("suggestion", s1)) == review.QueueItem("suggestion", s2)
    assert f2 not in [q.id for q in queue if q.kind == "fix"]


def test_the_queue_with_suggestions_only(st_):
    sid = st_.write(sg.add, "a", "b", TRAINER)
    assert st_.read(review.next_pending) == review.QueueItem("suggestion", sid)
    assert st_.read(review.next_pending, review.QueueItem("fix", 10)) == review.QueueItem("suggestion", sid)
    assert st_.read(review.next_pending, review.QueueItem("suggestion", sid)) is None


def test_my_fixes_newest_first(st_):
    ids = [draft(st_) for _ in range(3)]
    other = draft(st_, author=TRAINER2)
    st_.write(fx.submit, ids[1], TRAINER)
    mine = st_.read(review.my_fixes, TRAINER)
    assert [m[0] for m in mine] == ids[::-1]
    assert [m[2] for m in mine] == ["draft", "pending", "draft"]
    assert mine[0][1] == st_.read(fx.load_fix, ids[2]).slug
    assert st_.read(review.my_fixes, TRAINER, 2) == mine[:2]
    assert [m[0] for m in st_.read(review.my_fixes, TRAINER2)] == [other]
    assert st_.read(review.my_fixes, OPERATOR) == []


def test_equipment_authors(st_):
    draft(st_)
    draft(st_, author=LEAD)
    draft(st_, author=TRAINER2, equipment="slitter")
    st_.write(fx.create_draft, author="cli:x", equipment="coater", original_lang="en",
              symptom="Edge burr", steps=["Change"])
    assert st_.read(review.equipment_authors, ["coater"]) == {TRAINER, LEAD}  # not "cli:x"
    assert st_.read(review.equipment_authors, ["coater", "slitter"]) == {TRAINER, LEAD, TRAINER2}
    assert st_.read(review.equipment_authors, ["slitter"]) == {TRAINER2}
    assert st_.read(review.equipment_authors, []) == set()
    assert st_.read(review.equipment_authors, ["nope"]) == set()
