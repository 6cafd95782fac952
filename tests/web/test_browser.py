"""End to end in a real browser: Playwright (Python) driving Debian's
headless chromium (never Playwright's own browser download), against the
web app served on 127.0.0.1 by the same code as `shopbot run`."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings
from bot.people import directory, signin
from bot.web import server, site

from .conftest import LEAD, OPERATOR

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("browser tests skipped: Debian's chromium is missing; install it with "
                "`apt-get install chromium fonts-noto-cjk` (make test does, as root)", allow_module_level=True)
async_api = pytest.importorskip("playwright.async_api")

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@asynccontextmanager
async def chromium(p):
    """Debian's chromium, headless. Its scratch files (.org.chromium.Chromium.*)
    go to a TMPDIR of its own, removed after close: chromium removes them
    asynchronously after close, so in the suite's temporary folder one was
    sometimes still there when the suite checked for leftovers. (A short
    path: its singleton socket must fit a Unix socket's 107 bytes.)"""
    scratch = tempfile.mkdtemp(prefix="cr-")
    try:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS,
                                          env={**os.environ, "TMPDIR": scratch})
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
async def live(tmp_path, seeded_template):
    """The web app on a free port, and a headless chromium."""
    db = tmp_path / "browser.db"
    shutil.copy(seeded_template, db)
    app = App(Settings(db=db, models_dir=tmp_path / "models", photos_dir=tmp_path / "photos"))
    app.storage.write(lambda d: directory._admit(d, OPERATOR, "operator", now=directory._now(None), seen=True,
                                                 actor="system", via="tests", name="Olivier"))
    app.storage.write(lambda d: directory._admit(d, LEAD, "lead", now=directory._now(None), seen=True,
                                                 actor="system", via="tests", name="Lina"))
    runner, url = await site.start(app, server.Status(), "127.0.0.1", 0)
    async with async_api.async_playwright() as p:
        try:
            async with chromium(p) as browser:
                yield app, url, browser
        finally:
            await runner.cleanup()
            app.close()


async def sign_in(page, app: App, url: str, person_id: int) -> None:
    link = app.storage.write(signin.create_link, person_id)
    await page.goto(link.url(url))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}/ask")


async def test_sign_in_look_up_step_through_switch_language_sign_out(live):
    app, url, browser = live
    page = await browser.new_page()
    await sign_in(page, app, url, OPERATOR)

    # look up 涂布 with the keyboard: the card shows every language
    await page.get_by_role("searchbox").fill("涂布")
    await page.keyboard.press("Enter")
    card = page.locator("article.concept").first
    await card.wait_for()
    assert "코팅" in await card.locator('[data-lang="ko"] dd').inner_text()
    assert "salutan" in (await card.locator('[data-lang="ms"] dd').inner_text()).lower()
    assert "exact" in await card.locator(".why").inner_text()

    # an alarm code: a fix, opened and stepped through
    import json

    code = json.loads(app.storage.read(lambda db: db.execute(
        "SELECT codes FROM fix WHERE status = 'approved' AND codes != '[]' ORDER BY id LIMIT 1").fetchone()[0]))[0]
    await page.get_by_role("searchbox").fill(code)
    await page.get_by_role("button", name="Search").click()
    await page.locator("a.fixlink").first.click()
    assert "Step 1 of" in await page.locator(".step h2").inner_text()
    await page.locator("a[rel=next]").click()
    assert "Step 2 of" in await page.locator(".step h2").inner_text()
    await page.locator("a[rel=prev]").focus()
    await page.keyboard.press("Enter")
    assert "Step 1 of" in await page.locator(".step h2").inner_text()

    # the interface in Korean (the person's language, kept on the server)
    await page.locator('.langs button[lang="ko"]').click()
    await page.wait_for_load_state()
    assert await page.locator("html").get_attribute("lang") == "ko"
    await page.goto(f"{url}/ask")
    assert await page.get_by_role("button", name="검색").count() == 1

    # sign out: the session is gone, the pages are refused
    await page.get_by_role("button", name="로그아웃").click()
    await page.wait_for_url(f"{url}/signin")
    response = await page.goto(f"{url}/ask?q=%E6%B6%82%E5%B8%83")
    assert response.status == 401
    assert await page.locator("article.concept").count() == 0


@pytest.mark.parametrize("path", ["/ask", "/ask?q=%E6%B6%82%E5%B8%83", "/fix/1", "/talk", "/sessions"])
async def test_a_stranger_is_refused_on_each_page(live, path):
    app, url, browser = live
    page = await browser.new_page()
    response = await page.goto(url + path)
    assert response.status == 401
    assert await page.get_by_role("heading", name="Sign in").count() == 1
    assert await page.locator("article, .talk, table").count() == 0


async def test_a_two_sided_conversation_with_a_tiny_model(live, packages, tmp_path):
    """zh trainer ⇄ fr operator through English, on tiny "copy" models
    (tests/argos_factory.py): the glossary's French term appears on the
    operator's side, highlighted and linked to its card; a lead keeps the
    exchange for review."""
    from tests.argos_factory import build_package

    app, url, browser = live
    en_zh = build_package(tmp_path / "copy-en_zh", "en", "zh", copy=True)
    app.models.install([packages["copy"]["zh_en"], packages["copy"]["en_fr"], packages["copy"]["fr_en"], en_zh])
    page = await browser.new_page()
    await sign_in(page, app, url, LEAD)
    await page.goto(f"{url}/talk?a=zh&b=fr")
    trainer, operator = page.locator('[data-side="a"]'), page.locator('[data-side="b"]')
    await trainer.locator("textarea").fill("涂布机")
    await trainer.get_by_role("button").click()
    term = operator.locator(".bubble a.term").first
    await term.wait_for()
    french = app.glossary.concept("coater").preferred("fr").text
    assert french in await operator.locator(".bubble").first.inner_text()
    await operator.locator("textarea").fill("Merci, c'est noté.")
    await operator.get_by_role("button").click()
    await trainer.locator(".bubble").nth(1).wait_for()
    assert await trainer.locator(".bubble").count() == 2
    assert "Merci" in await operator.locator(".bubble.mine").inner_text()
    await page.get_by_role("button", name="Keep this exchange for the translation memory").click()
    assert "Kept for review" in await page.locator("p.notice").inner_text()
    kept = app.storage.read(lambda db: db.execute(
        "SELECT count(*) FROM tm_unit WHERE origin = 'manual' AND status = 'unreviewed' "
        "AND note LIKE '%conversation on the web%'").fetchone()[0])
    assert kept >= 1
    # the highlighted term opens its card
    await term.click()
    await page.locator("article.concept").first.wait_for()
