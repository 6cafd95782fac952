"""The glossary editor in a real browser (Debian's headless chromium via
Playwright), then the Telegram bot on the same database: a lead corrects a
Malay term and marks Malay reviewed; the bot's card shows the new term with ✓."""

from __future__ import annotations

from .conftest import LEAD
from .test_browser import live, sign_in  # noqa: F401 - the fixture, and the skip without chromium

NEW_TERM = "mesin penyalut kerajang"


async def test_lead_corrects_malay_marks_it_reviewed_and_the_bot_shows_it(live, tmp_path):  # noqa: F811
    app, url, browser = live
    page = await browser.new_page()
    await sign_in(page, app, url, LEAD)

    # The lead reads Malay: declared on the speakers page (their interface is English).
    await page.get_by_role("link", name="Glossary editor").click()
    await page.get_by_role("link", name="Who speaks which language").click()
    mine = page.locator(f'form.speaker:has(input[name="person"][value="{LEAD}"])')
    await mine.get_by_label("Bahasa Melayu").check()
    await mine.get_by_role("button", name="Save").click()
    await page.locator("p.notice").wait_for()

    # Search as the bot does, open the coater, correct its Malay term.
    await page.goto(f"{url}/glossary")
    await page.get_by_role("searchbox").fill("涂布机")
    await page.keyboard.press("Enter")
    await page.locator('a[href="/glossary/c/coater"]').click()
    malay = page.locator('section[data-lang="ms"]')
    old = app.glossary.concept("coater").preferred("ms").text
    await malay.get_by_role("link", name="Edit the terms and definition").click()
    first = page.locator('input[name="text_0"]')
    assert await first.input_value() == old
    await first.fill(NEW_TERM)
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url(f"{url}/glossary/c/coater?done=saved")
    assert NEW_TERM in await malay.locator("table").inner_text()
    assert "Draft" in await malay.locator("h2").inner_text()

    # Mark Malay reviewed: the section says by whom; the other languages stay drafts.
    await malay.get_by_role("button", name="Mark Bahasa Melayu reviewed").click()
    await page.wait_for_url(f"{url}/glossary/c/coater?done=reviewed")
    assert "✓" in await malay.locator("h2").inner_text()
    assert "Reviewed by Lina" in await malay.inner_text()
    assert "✓" not in await page.locator('section[data-lang="fr"] h2').inner_text()
    concept = app.glossary.concept("coater")
    assert concept.preferred("ms").text == NEW_TERM and set(concept.reviews) == {"ms"}

    # The Telegram bot on the same database, through the fake Bot API server.
    from tests.fake_telegram import FakeTelegram
    from tests.telegram.test_bot import ADMIN, Harness

    async with FakeTelegram() as tg:
        bot = Harness(tg, app.settings.db, tmp_path / "bot-models")
        try:
            async with bot.running():
                [card] = await bot.ask(ADMIN, ADMIN, f"/term {NEW_TERM}")
        finally:
            bot.close()
    assert f"🇲🇾 {NEW_TERM} ✓" in card
    assert "🇫🇷" in card and "🇫🇷 " + concept.preferred("fr").text + " ✓" not in card
