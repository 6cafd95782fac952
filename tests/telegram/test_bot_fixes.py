"""The knowledge base in Telegram, end to end (same harness as test_bot.py):
trainers submit fixes through /newfix, leads review them, operators find
them with /fix and say whether they worked."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.telegram.test_bot import ADMIN, Harness, copy_packages, harness  # noqa: F401 - fixtures

TRAINER, LEAD, OPERATOR = 400, 401, 402
BIG = b"\xff\xd8\xff" + b"x" * (10 * 1024 * 1024)


def text_of(params: dict) -> str:
    return params.get("text") or params.get("caption") or ""


def markup_buttons(params: dict) -> list[str]:
    markup = params.get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


async def wait_sent(h: Harness, chat_id: int, predicate, timeout=10) -> dict:
    """The first message in ``chat_id`` matching ``predicate`` (waits for it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for params in h.tg.sent(chat_id):
            if predicate(params):
                return params
        await asyncio.sleep(0.02)
    raise AssertionError(f"no such message in {chat_id}: {[p.get('text') for p in h.tg.sent(chat_id)]}")


async def press(h: Harness, user_id: int, data: str, count=1) -> list[str]:
    before = len(h.tg.sent(user_id))
    h.tg.callback_query(user_id, data)
    return await h.replies(user_id, before, count)


async def ask(h: Harness, user_id: int, text: str) -> str:
    [reply] = await h.ask(user_id, user_id, text)
    return reply


async def start_fix(h: Harness, user: int, symptom: str, code: str = "E-777") -> None:
    """/newfix up to the steps."""
    assert "/cancel" in await ask(h, user, "/newfix")
    await ask(h, user, "coater")
    choice = next(d for d in markup_buttons(h.tg.sent(user)[-1]) if d.startswith("nf:eq:"))
    await press(h, user, choice)
    await ask(h, user, symptom)
    await ask(h, user, code)
    await ask(h, user, "The splice tape is too thick.")


async def finish_fix(h: Harness, user: int, steps=("Check the splice.", "Reset the alarm."),
                     photo=True) -> int:
    for text in steps:
        await ask(h, user, text)
    await ask(h, user, "/done")
    if photo:
        before = len(h.tg.sent(user))
        h.tg.photo_message(user, user)
        [saved] = await h.replies(user, before)
        assert "Photo 1" in saved
    await ask(h, user, "/skip")
    before = len(h.tg.sent(user))
    h.tg.message(user, user, "Lock out the unwinder first.")
    await wait_sent(h, user, lambda p: "nf:submit" in markup_buttons(p))
    [received] = await press(h, user, "nf:submit")
    return int(re.search(r"#(\d+)", received).group(1))


async def submit_fix(h: Harness, user: int, symptom: str, code: str = "E-777", **kw) -> int:
    await start_fix(h, user, symptom, code)
    return await finish_fix(h, user, **kw)


def one(h: Harness, sql: str, *args):
    return h.app.storage.read(lambda db: db.execute(sql, args).fetchone())


async def test_submit_approve_find_in_french_and_feedback(harness):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.invite("lead", LEAD)
        await h.invite("operator", OPERATOR, language_code="fr")
        fix_id = await submit_fix(h, TRAINER, "Coater unwind tension alarm, the web flutters.")
        # The lead and the admin were told before the author heard "received"; not the author.
        for reviewer in (LEAD, ADMIN):
            [told] = [p["text"] for p in tg.sent(reviewer) if f"#{fix_id} to review" in p["text"]]
            assert "Coater unwind tension alarm" in told and "/review" in told
        assert not [p for p in tg.sent(TRAINER) if "to review" in p["text"]]
        # Written before the bot said so: the row is there, pending, with its photo.
        assert one(h, "SELECT status FROM fix WHERE id = ?", fix_id) == ("pending",)
        file_id, path = one(h, "SELECT file_id, local_path FROM fix_photo WHERE snippet_id = ?", fix_id)
        assert file_id and path.startswith(str(h.settings.db.parent / "photos"))
        assert open(path, "rb").read().startswith(b"\xff\xd8\xff")

        tg.message(LEAD, LEAD, "/review")
        item = await wait_sent(h, LEAD, lambda p: f"rv:f:{fix_id}:a" in markup_buttons(p))
        assert "Coater unwind tension alarm" in item["text"]
        assert any(p.get("photo") == file_id for p in tg.sent(LEAD))  # the lead sees the photo
        await press(h, LEAD, f"rv:f:{fix_id}:a")
        note = await wait_sent(h, TRAINER, lambda p: "approved" in text_of(p))
        assert f"#{fix_id}" in note["text"]
        assert one(h, "SELECT status FROM fix WHERE id = ?", fix_id) == ("approved",)
        assert one(h, "SELECT kind FROM fix_text WHERE snippet_id = ? AND lang = 'fr'", fix_id) == ("machine",)

        [listing] = await h.ask(OPERATOR, OPERATOR, "/fix E777", language_code="fr")
        assert f"fxo:{fix_id}" in markup_buttons(tg.sent(OPERATOR)[-1])
        before = len(tg.sent(OPERATOR))
        tg.callback_query(OPERATOR, f"fxo:{fix_id}")
        card = (await wait_sent(h, OPERATOR, lambda p: f"fxv:{fix_id}:1" in markup_buttons(p)))["text"]
        assert tg.sent(OPERATOR)[before].get("photo") == file_id  # photos first, then the card
        assert "E-777" in card and "1" in card and "Traduction automatique" in card
        assert f"fx:{fix_id}:2" in markup_buttons(tg.sent(OPERATOR)[-1])
        [step2] = await press(h, OPERATOR, f"fx:{fix_id}:2")
        assert "2" in step2 and "alarm" in step2.lower()
        tg.callback_query(OPERATOR, f"fxv:{fix_id}:1")
        await tg.wait_for("answerCallbackQuery", predicate=lambda c: "1" in str(c.params.get("text")))
        assert one(h, "SELECT worked, failed FROM fix WHERE id = ?", fix_id) == (1, 0)


async def test_rejection_reason_reaches_the_author_in_their_language(harness):
    h = harness
    async with h.running():
        await h.invite("trainer", TRAINER, language_code="ko")
        await h.invite("lead", LEAD)
        fix_id = await submit_fix(h, TRAINER, "코터 장력 알람", photo=False)
        await h.ask(LEAD, LEAD, "/review")
        await wait_sent(h, LEAD, lambda p: f"rv:f:{fix_id}:r" in markup_buttons(p))
        [why] = await press(h, LEAD, f"rv:f:{fix_id}:r")
        assert "reason" in why.lower() or "why" in why.lower()
        await h.ask(LEAD, LEAD, "Step 2 needs the pressure value.")
        note = await wait_sent(h, TRAINER, lambda p: "pressure value" in text_of(p))
        assert re.search("[가-힣]", note["text"].replace("코터 장력 알람", ""))
        assert one(h, "SELECT status, reject_reason FROM fix WHERE id = ?", fix_id) == (
            "rejected", "Step 2 needs the pressure value.")


async def test_operator_cannot_review_or_write_fixes(harness):
    h = harness
    async with h.running():
        await h.invite("operator", OPERATOR)
        assert "Only leads" in await ask(h, OPERATOR, "/review")
        assert "Only trainers" in await ask(h, OPERATOR, "/newfix")
        assert "Only leads" in await ask(h, OPERATOR, "/stats")


async def test_restart_in_the_middle_of_newfix(harness):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await start_fix(h, TRAINER, "Coater restart test symptom", "E-778")
        await ask(h, TRAINER, "First step before the restart.")
    h.close()
    second = Harness(tg, h.settings.db, h.settings.models_dir)
    async with second.running():
        fix_id = await finish_fix(second, TRAINER, steps=("Second step after it.",), photo=False)
        steps = one(second, "SELECT steps FROM fix_text WHERE snippet_id = ?", fix_id)[0]
        assert "First step before the restart." in steps and "Second step after it." in steps
    second.close()


async def test_double_approve_notifies_once(harness):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.invite("lead", LEAD)
        fix_id = await submit_fix(h, TRAINER, "Coater double approve symptom", photo=False)
        await h.ask(LEAD, LEAD, "/review")
        first = tg.callback_query(LEAD, f"rv:f:{fix_id}:a")
        tg.callback_query(LEAD, f"rv:f:{fix_id}:a")  # a double tap
        await tg.wait_for("answerCallbackQuery", count=2,
                          predicate=lambda c: "pproved" in str(c.params.get("text")))
        tg.enqueue(first)  # and a redelivery
        await h.settled()
        notes = [p for p in tg.sent(TRAINER) if "was approved" in text_of(p)]
        assert len(notes) == 1
        assert one(h, "SELECT count(*) FROM fix_version WHERE snippet_id = ? AND why = 'approve'",
                   fix_id) == (1,)


async def test_hostile_fields(harness):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.ask(TRAINER, TRAINER, "/newfix")
        await ask(h, TRAINER, "coater")
        await press(h, TRAINER, next(d for d in markup_buttons(tg.sent(TRAINER)[-1]) if d.startswith("nf:eq:")))
        assert "empty" in await ask(h, TRAINER, "   ")
        assert "Too long" in await ask(h, TRAINER, "x" * 10_000)
        await ask(h, TRAINER, "<b>boom</b> & <script>alert(1)</script>")
        assert "not alarm codes" in await ask(h, TRAINER, "<i>")
        await ask(h, TRAINER, "-")
        assert "Too long" in await ask(h, TRAINER, "y" * 10_000)
        await ask(h, TRAINER, "<u>cause</u>")
        assert "Too long" in await ask(h, TRAINER, "z" * 10_000)
        await ask(h, TRAINER, "Step with <a href='x'>link</a>")
        await ask(h, TRAINER, "/done")
        before = len(tg.sent(TRAINER))
        h.lift_flood_limit()  # this test sends more than 20 updates in 30 s
        tg.photo_message(TRAINER, TRAINER, data=BIG)
        [refused] = await h.replies(TRAINER, before)
        assert "too large" in refused
        # No file_size, or a false one (a self-hosted server): the bytes read count.
        for declared in (None, 1000):
            before = len(tg.sent(TRAINER))
            tg.photo_message(TRAINER, TRAINER, data=BIG, file_size=declared)
            [refused] = await h.replies(TRAINER, before)
            assert "too large" in refused
        before = len(tg.sent(TRAINER))
        tg.document_message(TRAINER, TRAINER)
        [doc] = await h.replies(TRAINER, before)
        assert "not a photo" in doc and "lost" in doc
        await ask(h, TRAINER, "/skip")
        tg.message(TRAINER, TRAINER, "<script>safety</script>")
        preview = await wait_sent(h, TRAINER, lambda p: "nf:submit" in markup_buttons(p))
        texts = "\n".join(text_of(p) for p in tg.sent(TRAINER))
        assert "&lt;b&gt;boom&lt;/b&gt; &amp;" in texts and "<script>" not in texts
        assert all(len(text_of(p)) <= 4096 for p in tg.sent(TRAINER))
        [received] = await press(h, TRAINER, "nf:submit")
        fix_id = int(re.search(r"#(\d+)", received).group(1))
        photos = h.settings.db.parent / "photos"
        assert not photos.exists() or list(photos.glob("*")) == []  # the big one was not kept
        # Approved, the card escapes the stored HTML too.
        await h.ask(ADMIN, ADMIN, "/review")
        await press(h, ADMIN, f"rv:f:{fix_id}:a")
        before = len(tg.sent(ADMIN))
        tg.callback_query(ADMIN, f"fxo:{fix_id}")
        [card] = await h.replies(ADMIN, before)
        assert "&lt;b&gt;boom" in card and "<script>" not in card


async def test_cancel_leaves_nothing_behind(harness):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await start_fix(h, TRAINER, "Coater cancel test")
        await ask(h, TRAINER, "A step.")
        await ask(h, TRAINER, "/done")
        before = len(tg.sent(TRAINER))
        tg.photo_message(TRAINER, TRAINER)
        await h.replies(TRAINER, before)
        photos = h.settings.db.parent / "photos"
        assert len(list(photos.glob("*"))) == 1
        assert "Nothing was saved" in await ask(h, TRAINER, "/cancel")
        assert list(photos.glob("*")) == []
        assert one(h, "SELECT count(*) FROM fix WHERE author = ?", str(TRAINER)) == (0,)
        assert one(h, "SELECT count(*) FROM fsm_state WHERE state IS NOT NULL AND key LIKE ?",
                   f"%{TRAINER}%") == (0,)
        # The steps state is gone: a text is a lookup again.
        assert "enduiseuse" in await ask(h, TRAINER, "coater")


async def test_one_photo_in_two_fixes_is_two_files(harness):
    """Photos were stored as {user}-{file_unique_id}.jpg: the same photo sent
    to a second /newfix was the first fix's file, and /cancel deleted it."""
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        h.lift_flood_limit()  # two whole flows in 30 s
        await start_fix(h, TRAINER, "Coater photo shared by two fixes")
        await ask(h, TRAINER, "A step.")
        await ask(h, TRAINER, "/done")
        before = len(tg.sent(TRAINER))
        update = tg.photo_message(TRAINER, TRAINER)
        await h.replies(TRAINER, before)
        await ask(h, TRAINER, "/skip")
        tg.message(TRAINER, TRAINER, "/skip")
        await wait_sent(h, TRAINER, lambda p: "nf:submit" in markup_buttons(p))
        [received] = await press(h, TRAINER, "nf:submit")
        first = int(re.search(r"#(\d+)", received).group(1))
        [(path,)] = h.app.storage.read(lambda db: db.execute(
            "SELECT local_path FROM fix_photo WHERE snippet_id = ?", [first]).fetchall())

        await start_fix(h, TRAINER, "Coater second fix, same photo")
        await ask(h, TRAINER, "A step.")
        await ask(h, TRAINER, "/done")
        before = len(tg.sent(TRAINER))
        tg.photo_message(TRAINER, TRAINER, sizes=update["message"]["photo"])
        await h.replies(TRAINER, before)
        assert len(list(Path(path).parent.glob("*"))) == 2
        assert "Nothing was saved" in await ask(h, TRAINER, "/cancel")
        assert Path(path).is_file()  # the first fix keeps its photo


async def test_no_result_asks_a_trainer(harness):
    h = harness
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.invite("operator", OPERATOR)
        text = await ask(h, OPERATOR, "/fix zzqx nonexistent gizmo")
        assert "No fix found" in text and "fxq" in markup_buttons(h.tg.sent(OPERATOR)[-1])
        await press(h, OPERATOR, "fxq")
        question = await wait_sent(h, TRAINER, lambda p: "zzqx nonexistent gizmo" in text_of(p))
        assert "Question" in question["text"]


async def test_suggestion_in_the_review_queue_and_stats(harness):
    h = harness
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.invite("lead", LEAD, language_code="zh")
        received = await ask(h, TRAINER, "/suggest coater = <b>coucheuse</b>")
        sid = int(re.search(r"#(\d+)", received).group(1))
        # Each reviewer is told in their own language, the proposal escaped.
        [told_zh] = [p["text"] for p in h.tg.sent(LEAD) if f"#{sid}" in p["text"]]
        assert "新的术语建议" in told_zh and "&lt;b&gt;coucheuse&lt;/b&gt;" in told_zh
        [told_en] = [p["text"] for p in h.tg.sent(ADMIN) if f"suggestion #{sid}" in p["text"]]
        assert "/review" in told_en
        [item] = await h.ask(ADMIN, ADMIN, "/review")
        assert "coucheuse" in item
        await press(h, ADMIN, f"rv:s:{sid}:a")
        await wait_sent(h, TRAINER, lambda p: "coater" in text_of(p) and "approved" in text_of(p))
        stats = await ask(h, ADMIN, "/stats")
        assert "Pending" in stats


async def test_a_pending_fix_can_be_edited_by_its_author_only(harness):
    h = harness
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.invite("trainer", TRAINER + 1)
        fix_id = await submit_fix(h, TRAINER, "Web breaks at the unwinder", photo=False)
        reply = await ask(h, TRAINER, f"/editfix {fix_id} steps Check the splice tape.\nReplace the splice.\nReset E-777.")
        assert f"Fix {fix_id} updated" in reply
        status, = one(h, "SELECT status FROM fix WHERE id = ?", fix_id)
        assert status == "pending"
        steps, = one(h, "SELECT steps FROM fix_text WHERE snippet_id = ? AND kind = 'original'", fix_id)
        assert "Replace the splice." in steps
        await ask(h, TRAINER, f"/editfix {fix_id} symptom <b>Web</b> breaks at the rewinder")
        refused = await ask(h, TRAINER + 1, f"/editfix {fix_id} cause Not mine")
        assert "updated" not in refused
        cause, = one(h, "SELECT cause FROM fix_text WHERE snippet_id = ? AND kind = 'original'", fix_id)
        assert cause == "The splice tape is too thick."
        usage = await ask(h, TRAINER, "/editfix x y")
        assert "/editfix ID FIELD TEXT" in usage


async def test_the_bot_spots_the_fixes_again_after_a_glossary_change(harness):
    """A glossary imported while the bot was stopped (or by an older version):
    the bot spots the fixes' concepts again at start, in the background."""
    from bot.knowledge import fixes
    from glossary import store as glossary_store
    from tests.conftest import concept

    h = harness
    h.app.storage.write(glossary_store.upsert_concepts,
                        [concept("zz-widget", en="zz widget", fr="zz bidule")], "tests")
    assert h.app.storage.read(fixes.concepts_stale)
    async with h.running():
        for _ in range(200):
            if not h.app.storage.read(fixes.concepts_stale):
                break
            await asyncio.sleep(0.05)
        assert not h.app.storage.read(fixes.concepts_stale)
        [reply] = await h.ask(ADMIN, ADMIN, "coater")  # and the bot answers meanwhile
        assert reply
