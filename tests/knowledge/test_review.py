"""The review decisions both front ends call (bot.knowledge.review): one
approval however often it is asked for, a reason that says something, and
the queue's listing."""

from __future__ import annotations

import pytest

from bot.knowledge import fixes as fx
from bot.knowledge import review, suggestions
from bot.knowledge.search import FixBase
from bot.people import directory
from glossary import Glossary

TRAINER, LEAD = 11, 12


@pytest.fixture
def kb(storage):
    for user, role in ((TRAINER, "trainer"), (LEAD, "lead")):
        storage.write(lambda d, u=user, r=role: directory._admit(d, u, r, now=directory._now(None), seen=True,
                                                                 actor="system", via="tests", name=str(u)))
    return FixBase(storage, Glossary(storage.conn))


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
