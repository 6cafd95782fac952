"""Screenshots of the console's people page (an invite with its QR codes)
and of an import preview, for docs/ (run by hand, not by the suite):

    .venv/bin/python -m tests.web.console_screenshots

As tests/web/screenshots.py: a fresh seeded database, the web app on a free
port, Debian's headless chromium at a 10-inch tablet's size."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from bot.app import App
from bot.config import Settings
from bot.people import directory, signin
from bot.web import server, site

from .screenshots import DOCS, FLAGS

TBX = (b'<?xml version="1.0" encoding="UTF-8"?>\n<tbx type="TBX-Basic" xml:lang="en" '
       b'xmlns="urn:iso:std:iso:30042:ed-2">\n<text>\n<body>\n'
       b'<conceptEntry id="g1"><langSec xml:lang="en"><termSec><term>vacuum gripper</term></termSec></langSec>'
       b'<langSec xml:lang="fr"><termSec><term>pr\xc3\xa9henseur \xc3\xa0 vide</term></termSec></langSec>'
       b'</conceptEntry>\n<conceptEntry id="g2"><langSec xml:lang="de"><termSec><term>Greifer</term></termSec>'
       b'</langSec></conceptEntry>\n</body>\n</text>\n</tbx>\n')


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = App(Settings(db=Path(tmp) / "shots.db", models_dir=Path(tmp) / "models"))
        for uid, role, name in ((101, "admin", "Mei"), (102, "trainer", "Ji-ho"), (103, "operator", "Olivier"),
                                (104, "operator", "Aisyah")):
            app.storage.write(lambda d, u=uid, r=role, n=name: directory._admit(
                d, u, r, now=directory._now(None), seen=True, actor="system", via="docs", name=n))
        app.storage.write(directory.register_group, -1001, "Coating line 2", ["fr", "zh"], True, directory.SYSTEM)
        status = server.Status(bot_username="shopbot_plant_bot")
        runner, url = await site.start(app, status, "127.0.0.1", 0)
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                link = app.storage.write(signin.create_link, 101)
                await page.goto(link.url(url))
                await page.locator("form[action^='/signin/'] button").click()
                await page.wait_for_url(f"{url}/ask")
                await page.goto(f"{url}/people")
                await page.screenshot(path=str(DOCS / "console-people.png"), full_page=True)
                await page.get_by_role("button", name="Make an invite").click()
                await page.screenshot(path=str(DOCS / "console-invite.png"), full_page=True)
                await page.goto(f"{url}/files")
                await page.get_by_label("File", exact=True).set_input_files(
                    {"name": "vendor.tbx", "mimeType": "application/xml", "buffer": TBX})
                await page.get_by_role("button", name="Preview the import").click()
                await page.screenshot(path=str(DOCS / "console-files-preview.png"), full_page=True)
                await browser.close()
        finally:
            await runner.cleanup()
            app.close()
    for name in ("console-people.png", "console-invite.png", "console-files-preview.png"):
        print(DOCS / name)


if __name__ == "__main__":
    asyncio.run(main())
