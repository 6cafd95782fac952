"""/web in Telegram and `shopbot web link`: a person gets their own one-time link."""

from __future__ import annotations

import asyncio
import json
import re
import shutil

from bot.app import App
from bot.config import Settings
from bot.people import signin
from bot.telegram.wiring import build_bot, build_dispatcher
from tests.fake_telegram import FakeTelegram, polling

ADMIN = 4242


async def reply(tg: FakeTelegram, chat: int, before: int, timeout: float = 10) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(tg.sent(chat)) <= before:
        assert loop.time() < deadline, "no reply"
        await asyncio.sleep(0.02)
    return tg.sent(chat)[before]


async def test_web_command_sends_a_known_person_their_link(tmp_path, seeded_template):
    db = tmp_path / "bot.db"
    shutil.copy(seeded_template, db)
    app = App(Settings(db=db, models_dir=tmp_path / "models", web_url="https://shopbot.plant.example"))
    try:
        async with FakeTelegram() as tg:
            dp = build_dispatcher(app)
            bot = build_bot(tg.token, tg.url)
            await dp["people"].ensure_admins([ADMIN])
            async with polling(tg, dp, bot):
                tg.message(ADMIN, ADMIN, "/web")
                sent = await reply(tg, ADMIN, 0)
                url = re.search(r"https://shopbot\.plant\.example/signin/[\w-]+", sent["text"]).group(0)
                assert "10 minutes" in sent["text"]
                preview = sent["link_preview_options"]  # no preview: it would fetch the link
                assert (json.loads(preview) if isinstance(preview, str) else preview)["is_disabled"] is True
                token = url.rsplit("/", 1)[1]
                assert app.storage.read(signin.check_link, token).user_id == ADMIN
                # a stranger's /web gets the access message, no link
                tg.message(99, 99, "/web")
                other = await reply(tg, 99, 0)
                assert "/signin/" not in other["text"]
    finally:
        app.close()


def test_cli_web_link(run):
    result = run("web", "link", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["role"] == "admin" and re.fullmatch(r"http://127\.0\.0\.1:8080/signin/[\w-]{43}", data["url"])
    kiosk = json.loads(run("web", "link", "--role", "kiosk", "--json").output)
    again = json.loads(run("web", "link", "--role", "kiosk", "--json").output)
    assert kiosk["kind"] == "kiosk" and kiosk["person_id"] == again["person_id"] >= signin.WEB_ID_BASE
    lead = json.loads(run("web", "link", "--role", "lead", "--json").output)
    assert lead["role"] == "lead" and lead["person_id"] != kiosk["person_id"]
    plain = run("web", "link", "--user", str(lead["person_id"]))
    assert plain.exit_code == 0 and "/signin/" in plain.output
    missing = run("web", "link", "--user", "12345")
    assert missing.exit_code == 1 and "no person with id 12345" in missing.output
    both = run("web", "link", "--user", "1", "--role", "lead")
    assert both.exit_code == 2
