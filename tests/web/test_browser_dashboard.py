"""The dashboard in a real browser (Debian's chromium through Playwright):
a lead reaches it from the menu with the keyboard, sees the charts and
their tables after real activity, chooses a period with the form, and
prints it in black and white without the menu. No script runs, nothing
is fetched from another origin."""

from __future__ import annotations

from bot.insight.dashboard import utc_today

from .conftest import LEAD, OPERATOR
from .test_browser import live, sign_in  # noqa: F401 - the fixture, and skipped without chromium


async def test_a_lead_opens_the_dashboard_and_prints_it(live):  # noqa: F811
    app, url, browser = live
    page = await browser.new_page()
    origins = set()
    page.on("request", lambda request: origins.add(request.url.split("/")[2]))
    await sign_in(page, app, url, OPERATOR)
    for query in ("涂布", "zzqxvw"):  # real lookups by an operator
        await page.goto(f"{url}/ask?q={query}&mode=term")
    assert await page.locator("a[href='/dashboard']").count() == 0  # not in an operator's menu
    await page.context.clear_cookies()
    app.usage.flush()  # counts are written a second after the first: now, for the page below

    await sign_in(page, app, url, LEAD)
    link = page.get_by_role("link", name="Dashboard")
    await link.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{url}/dashboard")
    chart = page.get_by_role("img", name="Lookups per day, by the asker's language")
    await chart.wait_for()
    box = await chart.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150
    today = utc_today().isoformat()
    row = page.locator("table", has=page.locator("caption", has_text="Lookups per day")).locator(
        "tr", has=page.locator(f"th:text-is('{today}')"))
    assert (await row.locator("td").all_inner_texts())[-1] == "2"
    assert "zzqxvw" in await page.locator("table", has_text="Glossary lookups that found no concept").inner_text()
    coverage = page.locator("table", has=page.locator("caption", has_text="Glossary coverage and review"))
    assert await coverage.locator("tbody tr").count() == 5  # a row per language, review columns included

    # a period chosen with the form
    await page.locator("input[name=from]").fill("2026-01-01")
    await page.locator("input[name=to]").fill("2026-06-30")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**/dashboard?from=2026-01-01&to=2026-06-30")
    assert "one bar per week" in await page.locator(".period-text").inner_text()

    # printed: no menu, no form, the charts and tables stay
    await page.emulate_media(media="print")
    assert not await page.locator("header.top").is_visible()
    assert not await page.locator("form.period").is_visible()
    assert await page.get_by_role("img", name="Translation memory growth").is_visible()
    assert await page.evaluate("document.scripts.length") == 0
    assert origins == {url.split("/")[2]}
