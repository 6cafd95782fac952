"""The review queue end to end: a trainer writes a fix with a photo in the
web form, a lead approves it from the web queue (Playwright driving Debian's
chromium), and a French operator finds it with the bot's /fix, through the
fake Bot API server, in the same process as `shopbot run` runs both."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from bot.people import signin
from bot.telegram.wiring import announce_from
from bot.web import server, site
from tests.telegram.test_bot import Harness, copy_packages, harness  # noqa: F401 - fixtures
from tests.telegram.test_bot_fixes import markup_buttons, wait_sent

from .test_browser import async_api, chromium

TRAINER, LEAD, OPERATOR = 700, 701, 702


async def sign_in(browser, h: Harness, url: str, person_id: int):
    page = await (await browser.new_context()).new_page()
    link = h.app.storage.write(signin.create_link, person_id)
    await page.goto(link.url(url))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}/ask")
    return page


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 90, 160)).save(out, format="JPEG")
    return out.getvalue()


async def test_a_fix_written_and_approved_on_the_web_is_found_by_fix_in_french(harness, tmp_path):
    h, tg = harness, harness.tg
    async with h.running():
        await h.invite("trainer", TRAINER)
        await h.invite("lead", LEAD)
        await h.invite("operator", OPERATOR, language_code="fr")
        announce_from(h.app, h.bot, h.dp)  # as `shopbot run` does: the web tells people in the bot
        runner, url = await site.start(h.app, server.Status(), "127.0.0.1", 0)
        try:
            async with async_api.async_playwright() as p, chromium(p) as browser:
                # The trainer writes the fix, keyboard and form only.
                page = await sign_in(browser, h, url, TRAINER)
                await page.goto(f"{url}/fixes/new")
                await page.select_option("#equipment", "coater")
                await page.select_option("#original_lang", "en")
                await page.fill("#symptom", "Coater unwind tension alarm, the web flutters")
                await page.fill("#codes", "E-9123")
                await page.fill("#cause", "The splice tape is too thick.")
                await page.fill("#steps", "Stop the coater.\nCheck the splice.\nReset the alarm.")
                await page.fill("#safety", "Lock out the unwinder first.")
                photo = tmp_path / "screen.jpg"
                photo.write_bytes(jpeg())
                await page.set_input_files("#photos", str(photo))
                await page.get_by_role("button", name="Submit for review").click()
                await page.wait_for_url(re.compile(r".*/fixes/\d+\?said=submitted.*"))
                fix_id = int(re.search(r"/fixes/(\d+)", page.url).group(1))
                assert "waits for a lead" in await page.locator("p.notice").inner_text()
                # The lead is told in the bot.
                await wait_sent(h, LEAD, lambda m: f"#{fix_id}" in (m.get("text") or ""))

                # The lead approves it from the queue, one item at a time.
                lead = await sign_in(browser, h, url, LEAD)
                await lead.get_by_role("link", name="Review", exact=True).click()
                await lead.get_by_role("link", name="Review one at a time").click()
                while f"/review/fix/{fix_id}" not in lead.url:  # the samples are approved already
                    await lead.get_by_role("link", name=re.compile("Skip")).click()
                original = lead.locator('[data-side="original"]')
                assert "Coater unwind tension alarm" in await original.inner_text()
                await lead.get_by_role("button", name=re.compile("Approve")).click()
                await lead.wait_for_load_state()
                assert f"Approved: #{fix_id}" in await lead.locator("p.notice[role=status]").inner_text()
        finally:
            await runner.cleanup()

        # The author learns it in the bot; a French operator finds it with /fix.
        await wait_sent(h, TRAINER, lambda m: f"#{fix_id}" in (m.get("text") or "") and "approved" in m["text"])
        [listing] = await h.ask(OPERATOR, OPERATOR, "/fix E-9123", language_code="fr")
        assert f"fxo:{fix_id}" in markup_buttons(tg.sent(OPERATOR)[-1])
        before = len(tg.sent(OPERATOR))
        tg.callback_query(OPERATOR, f"fxo:{fix_id}", language_code="fr")
        card = await wait_sent(h, OPERATOR, lambda m: f"fxv:{fix_id}:1" in markup_buttons(m))
        assert "Traduction automatique" in card["text"]  # the French text, made at approval
        kinds = dict(h.app.storage.read(lambda db: db.execute(
            "SELECT lang, kind FROM fix_text WHERE snippet_id = ?", [fix_id]).fetchall()))
        assert kinds["en"] == "original" and kinds["fr"] == "machine"
        photos = [c for c in tg.calls if c.method.lower() == "sendphoto"]
        assert photos and len(tg.sent(OPERATOR)) > before
