"""The console's people and files pages in a real browser (Debian's
chromium through Playwright, as tests/web/test_browser.py): the invite QR
code decodes to exactly the bot's deep link, and an upload preview refuses a
malformed TBX with its line number and changes nothing."""

from __future__ import annotations

import functools
import io
import re
from types import SimpleNamespace

import pytest

from bot.people import directory
from bot.web import server

from .test_browser import LEAD, live, sign_in  # noqa: F401 - live: the fixture, reused
from .test_console_files import MALFORMED_TBX, snapshot

zxingcpp = pytest.importorskip("zxingcpp")
Image = pytest.importorskip("PIL.Image")

BOT = "shopbot_plant_bot"


@pytest.fixture
def named_bot(monkeypatch):
    """The bot has started (its username known), for the ``live`` server
    built after this fixture: ``live`` makes its ``server.Status()`` then."""
    monkeypatch.setattr(server, "Status", functools.partial(server.Status, bot_username=BOT))


async def no_js_page(browser):
    """A page with JavaScript off: the console works with forms and links alone."""
    context = await browser.new_context(java_script_enabled=False)
    return await context.new_page()


async def assert_big_targets(page) -> None:
    """Every control can be hit with a gloved finger: at least 48 px high."""
    for control in await page.locator("main button, main select, main .button, main input[type=file]").all():
        box = await control.bounding_box()
        assert box and box["height"] >= 48, (await control.evaluate("e => e.outerHTML"))[:120]


async def decode(element) -> list[str]:
    """The QR codes a phone would read in a screenshot of ``element``."""
    png = await element.screenshot()
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def test_the_invite_qr_encodes_exactly_the_deep_link(named_bot, live):
    app, url, browser = live
    page = await no_js_page(browser)
    await sign_in(page, app, url, LEAD)
    await page.goto(f"{url}/people")
    await assert_big_targets(page)
    await page.get_by_role("region", name="Invite someone").get_by_label("Role").select_option("trainer")
    await page.get_by_role("button", name="Make an invite").click()
    await page.locator("#qr-telegram").wait_for()
    code = re.search(r"/start ([A-Za-z0-9_-]{16})", await page.locator("#qr-telegram").inner_text()).group(1)
    deep_link = f"https://t.me/{BOT}?start={code}"
    # what the bot's /invite sends is Invite.link(its username)
    assert directory.Invite(0, code, "trainer", LEAD, None, None).link(BOT) == deep_link
    assert await decode(page.locator("#qr-telegram .qr-code svg")) == [deep_link]
    assert await decode(page.locator("#qr-web .qr-code svg")) == [f"{url}/invite/{code}"]
    # and the code is a live trainer invite
    person = app.storage.write(directory.redeem_invite, code, 8080, name="Tia")
    assert person.role == "trainer"


async def test_a_malformed_tbx_is_refused_with_its_line_and_changes_nothing(live):
    app, url, browser = live
    page = await no_js_page(browser)
    await sign_in(page, app, url, LEAD)
    before = snapshot(SimpleNamespace(app=app))
    await page.goto(f"{url}/files")
    await assert_big_targets(page)
    await page.get_by_label("File", exact=True).set_input_files(
        {"name": "vendor.tbx", "mimeType": "application/xml", "buffer": MALFORMED_TBX})
    await page.get_by_role("button", name="Preview the import").click()
    reason = page.locator("#refused .reason")
    await reason.wait_for()
    assert "line 7: malformed XML" in await reason.inner_text()
    assert await page.get_by_role("button", name="Import it").count() == 0
    assert snapshot(SimpleNamespace(app=app)) == before
    await assert_big_targets(page)

    # a good file: previewed, still nothing changed, then imported
    good = MALFORMED_TBX.replace(b"<term>enduiseuse</termSec>", b"<term>enduiseuse</term></termSec>")
    await page.goto(f"{url}/files")
    await page.get_by_label("File", exact=True).set_input_files(
        {"name": "vendor.tbx", "mimeType": "application/xml", "buffer": good})
    await page.get_by_role("button", name="Preview the import").click()
    assert "1 added, 0 changed" in await page.locator("#summary").inner_text()
    assert snapshot(SimpleNamespace(app=app))[:-1] == before[:-1]  # only the kept upload
    await page.get_by_role("button", name="Import it").click()
    assert "1 added" in await page.locator("#summary").inner_text()
    assert snapshot(SimpleNamespace(app=app)) != before
