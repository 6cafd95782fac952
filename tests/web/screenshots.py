"""Screenshots of the ask page, the glossary editor's concept page, the
review queue and the dashboard for docs/ (run by hand, not by the suite):

    .venv/bin/python -m tests.web.screenshots

A fresh seeded database in a temporary folder, the web app on a free port,
Debian's headless chromium at a 10-inch tablet's size (1280x800)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from bot.app import App
from bot.config import Settings
from bot.insight import usage
from bot.knowledge import fixes
from bot.people import directory, signin
from bot.web import server, site

DOCS = Path(__file__).resolve().parents[2] / "docs"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = App(Settings(db=Path(tmp) / "shots.db", models_dir=Path(tmp) / "models"))
        runner, url = await site.start(app, server.Status(), "127.0.0.1", 0)
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                for lang, query in (("fr", "涂布"), ("zh", "calandrage")):
                    page = await browser.new_page(viewport={"width": 1280, "height": 800})
                    person = app.storage.write(signin.create_web_person, "operator", name="Demo", lang=lang)
                    link = app.storage.write(signin.create_link, person.user_id)
                    await page.goto(link.url(url))
                    await page.locator("form[action^='/signin/'] button").click()
                    await page.wait_for_url(f"{url}/ask")
                    await page.goto(f"{url}/ask?q={query}")
                    out = DOCS / f"web-ask-{lang}.png"
                    await page.screenshot(path=str(out), full_page=False)
                    print(out)
                await glossary_concept(app, url, browser)
                await review_queue(app, url, browser)
                await dashboard(app, url, browser)
                await browser.close()
        finally:
            await runner.cleanup()
            app.close()


async def signed_in_page(app: App, url: str, browser, user_id: int, height: int, width: int = 1280):
    """A new tab signed in as ``user_id`` by a one-time link."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    link = app.storage.write(signin.create_link, user_id)
    await page.goto(link.url(url))
    await page.locator("form[action^='/signin/'] button").click()
    await page.wait_for_url(f"{url}/ask")
    return page


async def glossary_concept(app: App, url: str, browser) -> None:
    """The glossary editor's concept page, for a lead who reads Malay: a
    Malay term corrected and Malay marked reviewed, so the page shows a
    review, a history row and its revert button."""
    from bot.knowledge import termbase as tb

    lead = app.storage.write(signin.create_web_person, "lead", name="Lina", lang="en")
    editor = tb.Editor(f"web:{lead.user_id}", "lead", frozenset({"en", "ms"}), lead.user_id)
    app.storage.write(tb.set_speaker_langs, editor, lead.user_id, ["ms"])
    concept = app.storage.read(tb.get, "coater")
    terms = [tb.make_term("ms", "mesin penyalut kerajang", "preferred", "noun")] + [
        t for t in concept.terms_in("ms") if t.type != "preferred"]
    app.storage.write(tb.edit_language, editor, "coater", concept.version, "ms", terms, None)
    app.storage.write(tb.review, editor, "coater", "ms")
    page = await signed_in_page(app, url, browser, lead.user_id, height=1300)
    await page.goto(f"{url}/glossary/c/coater")
    out = DOCS / "web-glossary-concept.png"
    await page.screenshot(path=str(out), full_page=False)
    print(out)


async def review_queue(app: App, url: str, browser) -> None:
    """The leads' queue with two fixes (Chinese, Korean) and a suggestion, in
    French, and one fix side by side."""
    from bot.knowledge import suggestions

    trainer = app.storage.write(signin.create_web_person, "trainer", name="Wang Wei", lang="zh")
    lead = app.storage.write(signin.create_web_person, "lead", name="Claire", lang="fr")
    first = app.storage.write(fixes.create_and_submit, author=trainer.user_id, equipment="coater",
                              original_lang="zh", symptom="涂布机放卷张力报警,极片抖动", codes=["E-203"],
                              cause="接带胶带太厚", steps=["停机并挂牌上锁", "检查接带处", "复位报警"],
                              safety=["进入前先锁定放卷机"])
    app.storage.write(fixes.create_and_submit, author=trainer.user_id, equipment="coater", original_lang="ko",
                      symptom="코터 건조로 과열 알람", steps=["라인 정지", "온도 센서 점검"])
    app.storage.write(suggestions.add, "coater", "enduiseuse = coucheuse", trainer.user_id)
    page = await signed_in_page(app, url, browser, lead.user_id, height=800)
    for path, name in (("/review", "web-review-queue.png"), (f"/review/fix/{first}", "web-review-item.png")):
        await page.goto(url + path)
        out = DOCS / name
        await page.screenshot(path=str(out), full_page=False)
        print(out)



async def dashboard(app: App, url: str, browser) -> None:
    """A lead's dashboard after some real activity: lookups, translations
    (from the phrasebook: no model needed) and fix searches through the web
    pages, votes on fixes through the fixes' service."""
    lead = app.storage.write(signin.create_web_person, "lead", name="Lina", lang="en")
    page = await signed_in_page(app, url, browser, lead.user_id, height=900, width=1440)
    for query in ("涂布", "calandrage", "coater", "tab welding", "E203", "防爆柜", "涂布", "전해액",
                  "gaine thermorétractable", "防爆柜", "ruban kapton"):  # three the glossary lacks
        await page.goto(f"{url}/ask?q={query}")
    for sentence in ("Arrêtez la machine.", "Stop the machine.", "请戴上手套。"):
        await page.goto(f"{url}/ask?q={sentence}&mode=translate&to=fr")
    people = list(range(2001, 2006))  # Telegram people: they vote on fixes in the bot
    for person in people:
        app.storage.write(lambda db, p=person: directory._admit(
            db, p, "operator", now=directory._now(None), seen=True, actor="system", via="screenshots"))
    approved = [r[0] for r in app.storage.read(lambda db: db.execute(
        "SELECT id FROM fix WHERE status = 'approved' ORDER BY id LIMIT 4").fetchall())]
    for n, fix_id in enumerate(approved):
        for i, person in enumerate(people):
            app.storage.write(fixes.feedback, fix_id, person, (i + n) % 4 != 3)
    # The weeks before this one, so that the charts have a shape: counts
    # written through the usage table's own writer function.
    from datetime import date, timedelta

    today = date.today()
    history = {}
    for back in range(1, 21):
        day = (today - timedelta(days=back)).isoformat()
        for i, lang in enumerate(("fr", "zh", "ko", "ms", "en")):
            history[(day, usage.LOOKUP, lang)] = (back * 7 + i * 5) % 23 + (12 if lang == "fr" else 2)
            history[(day, usage.TRANSLATION, lang)] = (back * 5 + i * 3) % 17 + (9 if lang == "fr" else 1)
    app.storage.write(usage.write_counts, history)
    app.usage.flush()  # today's counts, written now rather than in a second
    await page.goto(f"{url}/dashboard")
    out = DOCS / "web-dashboard.png"
    await page.screenshot(path=str(out), full_page=True)
    print(out)


if __name__ == "__main__":
    asyncio.run(main())
