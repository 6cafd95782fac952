"""Speakers review machine translations; trainers withdraw their own fixes;
/newfix without any translation model. End to end, same harness as
test_bot.py and helpers of test_bot_fixes.py (fake Bot API, real Dispatcher)."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from bot.translation.memory import TranslationMemory
from tests.fake_telegram import FakeTelegram
from tests.telegram.test_bot import ADMIN, Harness, copy_packages, harness  # noqa: F401 - fixtures
from tests.telegram.test_bot_fixes import ask, markup_buttons, one, press, start_fix, submit_fix, text_of

TRAINER, TRAINER2, LEAD, OPERATOR = 500, 501, 502, 503
SAMPLE = "coater-unwind-tension-alarm"  # bot/data/sample_fixes.yaml: E-203, zh original, fr machine


def sample_id(h: Harness) -> int:
    return one(h, "SELECT id FROM fix WHERE slug = ?", SAMPLE)[0]


def fr_text(h: Harness, fix_id: int):
    return one(h, "SELECT kind, symptom, cause, steps FROM fix_text WHERE snippet_id = ? AND lang = 'fr'",
               fix_id)


async def wait_new(h: Harness, chat_id: int, before: int, predicate, timeout=10) -> dict:
    """The first message in ``chat_id`` after index ``before`` matching ``predicate``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for params in h.tg.sent(chat_id)[before:]:
            if predicate(params):
                return params
        await asyncio.sleep(0.02)
    raise AssertionError(f"no such message in {chat_id}: {[text_of(p) for p in h.tg.sent(chat_id)[before:]]}")


async def answered(h: Harness, user_id: int, data: str, predicate, timeout=10) -> str:
    """Press ``data``; wait for a new answerCallbackQuery whose text matches ``predicate``."""
    start = len(h.tg.calls)
    h.tg.callback_query(user_id, data)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for call in h.tg.calls[start:]:
            if call.method.lower() == "answercallbackquery" and predicate(str(call.params.get("text") or "")):
                return str(call.params.get("text") or "")
        await asyncio.sleep(0.02)
    texts = [c.params.get("text") for c in h.tg.calls[start:] if c.method.lower() == "answercallbackquery"]
    raise AssertionError(f"no matching callback answer: {texts}")


async def submit_another(h: Harness, user: int, symptom: str, code: str) -> int:
    """/newfix again, no photo. (test_bot_fixes.finish_fix waits for *any*
    Submit button in the chat, so a second fix would press the first preview's.)"""
    await start_fix(h, user, symptom, code)
    await ask(h, user, "Check the oven thermocouple.")
    await ask(h, user, "/done")
    await ask(h, user, "/skip")
    before = len(h.tg.sent(user))
    h.tg.message(user, user, "-")
    await wait_new(h, user, before, lambda p: "nf:submit" in markup_buttons(p))
    [received] = await press(h, user, "nf:submit")
    return int(re.search(r"#(\d+)", received).group(1))


def relax_flood_limit(h: Harness) -> None:
    """Two whole /newfix flows by one person exceed 20 messages in 30 s."""
    h.lift_flood_limit()


async def open_card(h: Harness, user: int, fix_id: int) -> dict:
    """/fix E-203 in the reader's language, then open the sample's card."""
    await h.ask(user, user, "/fix E-203", language_code="fr")
    assert f"fxo:{fix_id}" in markup_buttons(h.tg.sent(user)[-1])
    before = len(h.tg.sent(user))
    h.tg.callback_query(user, f"fxo:{fix_id}")
    return await wait_new(h, user, before, lambda p: f"fxv:{fix_id}:1" in markup_buttons(p))


async def test_trainer_verifies_a_machine_translation_operator_cannot(harness):
    h = harness
    async with h.running():
        await h.invite("trainer", TRAINER, language_code="fr")
        await h.invite("operator", OPERATOR, language_code="fr")
        fix_id = sample_id(h)
        assert fr_text(h, fix_id)[0] == "machine"

        # An operator reads the machine text, but is offered no speaker buttons...
        card = await open_card(h, OPERATOR, fix_id)
        assert "Traduction automatique" in card["text"]
        assert not any(d.startswith(("fxk:", "fxc:")) for d in markup_buttons(card))
        # ...and a hand-made callback is refused by the service.
        refusal = await answered(h, OPERATOR, f"fxk:{fix_id}:fr", lambda t: "trainer" in t)
        assert "only a trainer" in refusal
        assert fr_text(h, fix_id)[0] == "machine"

        # The French-speaking trainer gets Verify / Correct for fr.
        card = await open_card(h, TRAINER, fix_id)
        buttons = markup_buttons(card)
        assert f"fxk:{fix_id}:fr" in buttons and f"fxc:{fix_id}:fr" in buttons
        assert "Traduction automatique" in card["text"]
        await answered(h, TRAINER, f"fxk:{fix_id}:fr", lambda t: "vérifiée" in t and "Merci" in t)
        assert fr_text(h, fix_id)[0] == "verified"
        assert one(h, "SELECT updated_by FROM fix_text WHERE snippet_id = ? AND lang = 'fr'",
                   fix_id) == (f"tg:{TRAINER}",)
        assert one(h, "SELECT count(*) FROM fix_version WHERE snippet_id = ? AND why = 'verify'",
                   fix_id) == (1,)
        # A second tap (or a stale card) changes nothing.
        await answered(h, TRAINER, f"fxk:{fix_id}:fr", lambda t: "Déjà vérifiée" in t)
        assert one(h, "SELECT count(*) FROM fix_version WHERE snippet_id = ? AND why = 'verify'",
                   fix_id) == (1,)

        # Opened again, the card no longer offers Verify/Correct nor says "machine".
        card = await open_card(h, TRAINER, fix_id)
        assert not any(d.startswith(("fxk:", "fxc:")) for d in markup_buttons(card))
        assert "Traduction automatique" not in card["text"]
        # The original language is not a translation to verify, even by hand.
        refusal = await answered(h, TRAINER, f"fxk:{fix_id}:zh", lambda t: "original" in t)
        assert "original language" in refusal
        assert one(h, "SELECT kind FROM fix_text WHERE snippet_id = ? AND lang = 'zh'", fix_id) == ("original",)


async def test_correction_is_stored_verified_and_feeds_the_memory(harness):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER, language_code="fr")
        fix_id = sample_id(h)
        zh_symptom = one(h, "SELECT symptom FROM fix_text WHERE snippet_id = ? AND lang = 'zh'", fix_id)[0]
        machine_symptom = fr_text(h, fix_id)[1]
        memory = TranslationMemory(h.app.storage.conn)
        assert memory.lookup(zh_symptom, "zh", "fr") is None  # nothing known before

        card = await open_card(h, TRAINER, fix_id)
        assert f"fxc:{fix_id}:fr" in markup_buttons(card)
        [prompt] = await press(h, TRAINER, f"fxc:{fix_id}:fr")
        assert "/cancel" in prompt and "<code>" in prompt and machine_symptom.split(":")[0] in prompt

        # Too short: asked again, the dialogue stays open.
        assert "trois lignes" in await ask(h, TRAINER, "Une ligne\n-")
        assert fr_text(h, fix_id)[0] == "machine"

        symptom = "Enduiseuse : <b>alarme</b> de tension E-203 & <script>alert(1)</script> au dérouleur."
        correction = f"{symptom}\n  -  \n\nContrôlez le <i>raccordement</i>.\nAcquittez l'alarme E-203."
        saved = await ask(h, TRAINER, correction)
        assert "Correction enregistrée" in saved and "1 phrase" in saved

        kind, stored_symptom, cause, steps = fr_text(h, fix_id)
        assert kind == "verified" and stored_symptom == symptom and cause == ""
        assert "Contrôlez le <i>raccordement</i>." in steps and "Acquittez l'alarme E-203." in steps
        # The safety notes were kept (they are not part of the typed lines).
        safety = one(h, "SELECT safety FROM fix_text WHERE snippet_id = ? AND lang = 'fr'", fix_id)[0]
        assert "consignation" in safety

        # Provenance for the next translation: original zh symptom -> corrected fr symptom.
        match = memory.lookup(zh_symptom, "zh", "fr")
        assert match is not None and match.exact
        assert match.text == symptom and match.origin == "correction" and match.status == "approved"

        # The card shows the correction escaped, verified, without speaker buttons.
        card = await open_card(h, TRAINER, fix_id)
        assert "&lt;b&gt;alarme&lt;/b&gt;" in card["text"] and "&amp;" in card["text"]
        assert "<script>" not in card["text"] and "<b>alarme" not in card["text"]
        assert "Traduction automatique" not in card["text"]
        assert not any(d.startswith(("fxk:", "fxc:")) for d in markup_buttons(card))
        assert all(len(text_of(p)) <= 4096 for p in tg.sent(TRAINER))
        # The search listing escapes it too.
        listing = [p for p in tg.sent(TRAINER) if f"fxo:{fix_id}" in markup_buttons(p)][-1]["text"]
        assert "&lt;script&gt;" in listing and "<script>" not in listing

        # Correcting again: the prompt shows the stored text, escaped.
        [prompt] = await press(h, TRAINER, f"fxc:{fix_id}:fr")
        assert "&lt;script&gt;" in prompt and "<script>" not in prompt
        assert "Annulé" in await ask(h, TRAINER, "/cancel")
        assert fr_text(h, fix_id)[1] == symptom


async def test_myfixes_withdraw_and_the_review_queue(harness):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.invite("trainer", TRAINER2)
        await h.invite("lead", LEAD)
        await h.invite("operator", OPERATOR)
        relax_flood_limit(h)
        assert "no fixes yet" in await ask(h, TRAINER, "/myfixes")
        first = await submit_fix(h, TRAINER, "Coater unwind tension alarm, the web flutters.", "E-901")
        # With models installed, the preview carries the French machine translation.
        texts = "\n".join(text_of(p) for p in tg.sent(TRAINER))
        assert "French preview (machine translation)" in texts and "unavailable" not in texts
        second = await submit_another(h, TRAINER, "Coater drying oven over temperature.", "E-902")
        [(path,)] = h.app.storage.read(lambda db: db.execute(
            "SELECT local_path FROM fix_photo WHERE snippet_id = ?", [first]).fetchall())
        assert Path(path).is_file()

        listing = await ask(h, TRAINER, "/myfixes")
        assert f"#{first}" in listing and f"#{second}" in listing and "pending" in listing
        buttons = markup_buttons(tg.sent(TRAINER)[-1])
        assert f"fxw:{first}" in buttons and f"fxw:{second}" in buttons

        # Someone else's fix: refused, nothing deleted (row nor photo).
        refusal = await answered(h, TRAINER2, f"fxw:{first}", lambda t: "author" in t)
        assert "only the author" in refusal
        refusal = await answered(h, OPERATOR, f"fxw:{first}", lambda t: "trainer" in t)
        assert one(h, "SELECT status FROM fix WHERE id = ?", first) == ("pending",)
        assert Path(path).is_file()
        assert "no fixes yet" in await ask(h, TRAINER2, "/myfixes")

        await answered(h, TRAINER, f"fxw:{first}", lambda t: f"#{first} withdrawn" in t)
        assert one(h, "SELECT count(*) FROM fix WHERE id = ?", first) == (0,)
        for table in ("fix_text", "fix_photo"):
            assert one(h, f"SELECT count(*) FROM {table} WHERE snippet_id = ?", first) == (0,)
        assert not Path(path).exists()
        # Its content stays in the audit trail.
        snapshot = one(h, "SELECT detail FROM audit WHERE action = 'withdraw' AND entity = 'fix' "
                          "AND entity_id = ?", str(first))[0]
        assert "Coater unwind tension alarm" in snapshot
        # A second tap: the fix is gone, said so.
        gone = await answered(h, TRAINER, f"fxw:{first}", lambda t: bool(t))
        assert f"#{first}" in gone

        listing = await ask(h, TRAINER, "/myfixes")
        assert f"#{first}" not in listing and f"#{second}" in listing
        assert markup_buttons(tg.sent(TRAINER)[-1]) == [f"fxw:{second}"]

        # The review queue has the second fix, never the withdrawn one.
        await h.ask(LEAD, LEAD, "/review")
        item = tg.sent(LEAD)[-1]
        assert f"rv:f:{second}:a" in markup_buttons(item)
        before = len(tg.sent(LEAD))
        tg.callback_query(LEAD, f"rv:f:{second}:a")
        after = await wait_new(h, LEAD, before, lambda p: True)
        assert "Nothing to review" in after["text"]
        assert not any(f"rv:f:{first}:" in d for p in tg.sent(LEAD) for d in markup_buttons(p))

        # Approved: listed as such, no longer withdrawable.
        listing = await ask(h, TRAINER, "/myfixes")
        assert f"#{second}" in listing and "approved" in listing
        assert markup_buttons(tg.sent(TRAINER)[-1]) == []
        refusal = await answered(h, TRAINER, f"fxw:{second}", lambda t: "approved" in t)
        assert "cannot withdraw" in refusal
        assert one(h, "SELECT status FROM fix WHERE id = ?", second) == ("approved",)


@pytest.fixture
async def bare(tmp_path, seeded_template):
    """A harness with NO translation model installed."""
    db = tmp_path / "bot.db"
    shutil.copy(seeded_template, db)
    models = tmp_path / "no-models"
    models.mkdir()
    async with FakeTelegram() as tg:
        h = Harness(tg, db, models)
        yield h
        h.close()


async def test_newfix_without_any_model(bare):
    h, tg = bare, bare.tg
    async with h.running():
        assert h.app.engine.loaded_pairs() == []
        await h.invite("trainer", TRAINER)
        await h.invite("lead", LEAD)
        fix_id = await submit_fix(h, TRAINER, "Coater unwind tension alarm, the web flutters.", "E-903",
                                  photo=False)
        preview = next(p for p in tg.sent(TRAINER) if "nf:submit" in markup_buttons(p))
        texts = "\n".join(text_of(p) for p in tg.sent(TRAINER))
        assert "French preview is unavailable" in texts and "no translation model" in texts
        assert "Coater unwind tension alarm" in texts and "Step 1" in texts  # the original preview is whole
        assert preview  # the Submit button came anyway
        assert one(h, "SELECT status, original_lang FROM fix WHERE id = ?", fix_id) == ("pending", "en")
        assert one(h, "SELECT count(*) FROM fsm_state WHERE state IS NOT NULL AND key LIKE ?",
                   f"%{TRAINER}%") == (0,)

        # Approval works too; no machine text is invented without a model.
        await h.ask(LEAD, LEAD, "/review")
        before = len(tg.sent(LEAD))
        tg.callback_query(LEAD, f"rv:f:{fix_id}:a")
        await wait_new(h, LEAD, before, lambda p: True)
        assert one(h, "SELECT status FROM fix WHERE id = ?", fix_id) == ("approved",)
        assert h.app.storage.read(lambda db: db.execute(
            "SELECT lang, kind FROM fix_text WHERE snippet_id = ?", [fix_id]).fetchall()) == [("en", "original")]


async def test_korean_trainer_is_told_in_korean(bare):
    h, tg = bare, bare.tg
    async with h.running():
        await h.invite("trainer", TRAINER, language_code="ko")
        fix_id = await submit_fix(h, TRAINER, "Coater unwind tension alarm, the web flutters.", "E-904",
                                  photo=False)
        texts = "\n".join(text_of(p) for p in tg.sent(TRAINER))
        assert "프랑스어 미리 보기를 쓸 수 없어요" in texts
        assert one(h, "SELECT status FROM fix WHERE id = ?", fix_id) == ("pending",)


# -- forged or malformed buttons --

async def test_operator_cannot_open_the_correction_dialogue(harness):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("operator", OPERATOR, language_code="fr")
        fix_id = sample_id(h)
        await open_card(h, OPERATOR, fix_id)
        before = len(tg.sent(OPERATOR))
        await answered(h, OPERATOR, f"fxc:{fix_id}:fr", lambda t: True)
        await h.settled()
        assert not any("/cancel" in text_of(p) for p in tg.sent(OPERATOR)[before:])
        # A lookup is still a lookup, not a (refused) correction.
        assert "enduiseuse" in await ask(h, OPERATOR, "coater")


async def test_malformed_speaker_callbacks_are_answered(harness):
    h = harness
    async with h.running():
        await h.invite("trainer", TRAINER, language_code="fr")
        fix_id = sample_id(h)
        await open_card(h, TRAINER, fix_id)
        for data in (f"fxk:{fix_id}", f"fxc:{fix_id}"):
            start = len(h.tg.calls)
            h.tg.callback_query(TRAINER, data)
            await h.tg.wait_for("answerCallbackQuery", timeout=3,
                                predicate=lambda c, start=start: h.tg.calls.index(c) >= start)
        assert fr_text(h, fix_id)[0] == "machine"


async def test_a_planted_photo_path_is_never_sent_nor_deleted(harness, tmp_path):
    """A fix row naming a file outside the photos folder (an old database, a
    hand edit: imports refuse it): the card goes out without it, and
    withdrawing the fix leaves the file alone."""
    from bot.knowledge import fixes as fx

    h, tg = harness, harness.tg
    secret = tmp_path / "secret.txt"
    secret.write_text("the plant's passwords")
    async with h.running():
        for role, user in (("trainer", TRAINER), ("lead", LEAD), ("operator", OPERATOR)):
            await h.invite(role, user)

        def planted(db, status: str) -> int:
            fix_id = fx.create_draft(db, author=TRAINER, equipment="coater", original_lang="en",
                                     symptom=f"Planted photo path, {status}", steps=["Stop."],
                                     codes=["E-4242"], photos=[{"local_path": str(secret)}])
            fx.submit(db, fix_id, TRAINER)
            if status == "approved":
                fx.approve(db, fix_id, LEAD)
            return fix_id

        shown = await h.app.storage.awrite(planted, "approved")
        pending = await h.app.storage.awrite(planted, "pending")
        before = len(tg.calls)
        tg.callback_query(OPERATOR, f"fxo:{shown}")
        await wait_new(h, OPERATOR, 0, lambda p: f"fxv:{shown}:1" in markup_buttons(p))
        assert [c for c in tg.calls[before:] if c.method.lower() == "sendphoto"] == []
        await answered(h, TRAINER, f"fxw:{pending}", lambda t: f"#{pending} withdrawn" in t)
        assert secret.read_text() == "the plant's passwords"


async def test_a_sample_fix_says_it_is_an_example_until_a_lead_validates_it(harness):
    """The samples were written by us, not validated on any line: every card
    says so, in the reader's language, until a lead adopts the fix."""
    h = harness
    async with h.running():
        await h.invite("operator", OPERATOR, language_code="fr")
        await h.invite("lead", LEAD, language_code="fr")
        fix_id = sample_id(h)
        card = await open_card(h, OPERATOR, fix_id)
        assert "Exemple, non validé sur cette ligne" in card["text"]
        assert f"fxs:{fix_id}" not in markup_buttons(card)  # an operator cannot adopt it
        refusal = await answered(h, OPERATOR, f"fxs:{fix_id}", lambda t: bool(t))
        assert "lead" in refusal
        card = await open_card(h, LEAD, fix_id)
        assert f"fxs:{fix_id}" in markup_buttons(card)
        await answered(h, LEAD, f"fxs:{fix_id}", lambda t: f"n°{fix_id}" in t and "procédure" in t)
        assert one(h, "SELECT sample FROM fix WHERE id = ?", fix_id) == (0,)
        card = await open_card(h, OPERATOR, fix_id)
        assert "Exemple" not in card["text"]
        again = await answered(h, LEAD, f"fxs:{fix_id}", lambda t: bool(t))
        assert "pas un exemple" in again


async def test_people_of_the_web_only_are_never_messaged_nor_crash_the_bot(bare):
    """A lead at a desk (a person of the web only, id from 2**53 up) has no
    Telegram chat: a submission still reaches the Telegram leads, and a fix
    written on the web by a web-only trainer is approved in the bot without
    trying to message its author. (Telling reviewers used to look such a
    person up as a Telegram id and fail: the trainer never got "Received".)"""
    from bot.knowledge import fixes as fx
    from bot.people import signin

    h, tg = bare, bare.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.invite("lead", LEAD)
        desk = h.app.storage.write(signin.create_web_person, "lead", name="Desk", lang="fr")
        web_trainer = h.app.storage.write(signin.create_web_person, "trainer", name="Web", lang="en")
        fix_id = await submit_fix(h, TRAINER, "Coater unwind tension alarm, the web flutters.", "E-904",
                                  photo=False)
        assert any(f"#{fix_id}" in text_of(p) for p in tg.sent(LEAD))
        assert tg.sent(desk.user_id) == []
        web_fix = h.app.storage.write(fx.create_and_submit, author=web_trainer.user_id, equipment="coater",
                                      original_lang="en", symptom="Oven alarm from the web", steps=["Stop."])
        for item in (fix_id, web_fix):
            await answered(h, LEAD, f"rv:f:{item}:a", lambda t: "Approved" in t)
        assert one(h, "SELECT status FROM fix WHERE id = ?", web_fix) == ("approved",)
        assert tg.sent(web_trainer.user_id) == []
