"""Photos in Telegram, end to end (harness of test_bot.py): the update with
a ``photo``, getFile, the file download route of the fake Bot API server,
the OCR thread, the reply with its buttons; and /newfix's proposals."""

from __future__ import annotations

import re

from tests.telegram.test_bot import Harness, copy_packages, harness  # noqa: F401 - fixtures
from tests.telegram.test_bot_fixes import markup_buttons, press, wait_sent
from tests.vision.conftest import image, require_models

OPERATOR, TRAINER = 500, 501


def calls(h: Harness, method: str) -> list:
    return [c for c in h.tg.calls if c.method.lower() == method.lower()]


async def test_a_chinese_alarm_screen_gets_the_french_reading_and_the_fix(harness):
    require_models()
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("operator", OPERATOR, language_code="fr")
        before = len(tg.sent(OPERATOR))
        tg.photo_message(OPERATOR, OPERATOR, data=image("zh-1-screen.jpg"), width=760, height=330,
                         language_code="fr")
        reading = await wait_sent(h, OPERATOR, lambda p: "fxo:" in " ".join(markup_buttons(p)), timeout=60)
        progress = tg.sent(OPERATOR)[before]["text"]
        assert progress == "Lecture de la photo…"  # shown before the reading is done
        assert calls(h, "getFile")  # the bot fetched the largest size through the Bot API
        text = reading["text"]
        assert "Lu sur la photo" in text and "涂布机" in text
        assert "enduiseuse" in text  # the glossary term in French (copy models: zh→en→fr)
        assert "<code>E-203</code>" in text and "Fiabilité de la lecture" in text
        buttons = markup_buttons(reading)
        fix_button = next(b for b in buttons if b.startswith("fxo:"))
        assert any(b.startswith("more:") for b in buttons)  # concepts open their cards
        # The fix's button opens its card, in French.
        [card] = await press(h, OPERATOR, fix_button, count=1)
        card = (await wait_sent(h, OPERATOR, lambda p: "fxv:" in " ".join(markup_buttons(p))))["text"]
        assert "E-203" in card and "Enduiseuse" in card


async def test_what_is_not_a_readable_photo_is_refused_clearly(harness):
    require_models()
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("operator", OPERATOR)
        before = len(tg.sent(OPERATOR))
        tg.photo_message(OPERATOR, OPERATOR, data=b"<b>not & an image</b>")
        [_progress, refused] = await h.replies(OPERATOR, before, 2, timeout=30)
        assert "not a photo I can read" in refused
        before = len(tg.sent(OPERATOR))
        tg.photo_message(OPERATOR, OPERATOR, data=b"\xff\xd8\xff" + b"x" * (10 * 1024 * 1024 + 1))
        [too_large] = await h.replies(OPERATOR, before, 1, timeout=30)
        assert "too large" in too_large
        # A blank screen: nothing invented.
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (640, 480), (10, 10, 10)).save(buf, "JPEG")
        before = len(tg.sent(OPERATOR))
        tg.photo_message(OPERATOR, OPERATOR, data=buf.getvalue())
        [_progress, unsure] = await h.replies(OPERATOR, before, 2, timeout=30)
        assert unsure.startswith("Could not read this photo: hold the phone straight")
        assert tg.sent(OPERATOR)[-1].get("reply_markup") is None


async def test_newfix_proposes_the_machine_and_the_code_from_a_photo(harness):
    require_models()
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.ask(TRAINER, TRAINER, "/newfix")
        tg.photo_message(TRAINER, TRAINER, data=image("zh-1-screen.jpg"))
        proposal = await wait_sent(h, TRAINER, lambda p: "nf:eq:" in " ".join(markup_buttons(p)), timeout=60)
        assert "E-203" in proposal["text"] and "coater" in proposal["text"]
        coater = next(b for b in markup_buttons(proposal) if b.startswith("nf:eq:"))
        [asked] = await press(h, TRAINER, coater)
        assert "Equipment: coater" in asked
        before = len(tg.sent(TRAINER))
        tg.message(TRAINER, TRAINER, "Unwind tension alarm after a splice.")
        [codes_question] = await h.replies(TRAINER, before)
        assert "Alarm codes" in codes_question
        assert markup_buttons(tg.sent(TRAINER)[-1]) == ["nf:pc"]
        [confirmed] = await press(h, TRAINER, "nf:pc")
        assert re.search(r"Codes: E-203\. What causes it", confirmed)
        # The codes are in the fix being written, as confirmed.
        from aiogram.fsm.storage.base import StorageKey

        key = StorageKey(bot_id=int(tg.token.split(":")[0]), chat_id=TRAINER, user_id=TRAINER)
        data = await h.dp.storage.get_data(key)
        assert data["codes"] == ["E-203"] and data["equipment"] == "coater"


def test_what_was_read_is_escaped_and_blocks_stay_small():
    """OCR text is user input: HTML in it is shown, never interpreted."""
    from aiogram.utils.i18n import I18n

    from bot.telegram.texts import LOCALES, ensure_catalogs
    from bot.vision.ocr import Line, Reading
    from bot.vision.service import CodeHit, LineReport, PhotoReport
    from handlers.photo import report_blocks, report_keyboard

    ensure_catalogs()
    hostile = '<b>E-203</b> & <a href="x">涂布机</a>\u200b' * 40
    line = Line(hostile, "zh", 90.0, (0, 0, 10, 10))
    report = PhotoReport(Reading([line], ["E-203"], 90.0), "fr", unsure=False,
                         lines=[LineReport(line, translation=hostile, provenance="machine"),
                                LineReport(line, terms=[(hostile, hostile)] * 20)],
                         codes=[CodeHit("<E-203>")])
    i18n = I18n(path=LOCALES, default_locale="en", domain="shopbot")
    with i18n.context(), i18n.use_locale("fr"):
        blocks = report_blocks(report)
        report_keyboard(report)
    text = "\n".join(blocks)
    assert "<b>E-203</b>" not in text and "&lt;b&gt;E-203&lt;/b&gt; &amp;" in text
    assert "<a " not in text and "&lt;E-203&gt;" in text
    assert all(len(block) < 4096 for block in blocks)
