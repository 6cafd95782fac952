"""Webhook mode: the web app's server receives Telegram's updates (aiogram's
aiohttp integration), checks the secret header, and drops a redelivered
update as polling does. Telegram is the fake Bot API server (setWebhook is
recorded there); the updates are POSTed as Telegram would."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal

import aiohttp

from bot.app import App
from bot.config import Settings
from bot.telegram.wiring import Webhook, build_bot, build_dispatcher, run_webhook, webhook_secret
from bot.web import server, site
from tests.fake_telegram import FakeTelegram

ADMIN = 777


async def test_updates_arrive_by_webhook_once_with_the_secret(tmp_path, seeded_template):
    db = tmp_path / "hook.db"
    shutil.copy(seeded_template, db)
    app = App(Settings(db=db, models_dir=tmp_path / "models"))
    status = server.Status()
    async with FakeTelegram() as tg:
        runner, url = await site.start(app, status, "127.0.0.1", 0)
        bot = build_bot(tg.token, tg.url)
        dp = build_dispatcher(app)
        await dp["people"].ensure_admins([ADMIN])
        secret = webhook_secret(tg.token)
        hook = Webhook("https://bot.example.org/telegram/webhook", secret,
                       lambda handler: site.set_webhook_handler(runner, handler))
        task = asyncio.create_task(run_webhook(bot, dp, hook, status))
        try:
            (call,) = await tg.wait_for("setWebhook", timeout=30)
            assert call.params["url"] == hook.url and call.params["secret_token"] == secret
            assert tg.token not in secret
            update = tg.message(ADMIN, ADMIN, "coater")
            async with aiohttp.ClientSession() as http:
                endpoint = f"{url}/telegram/webhook"
                for wrong in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                    async with http.post(endpoint, json=update, headers=wrong) as r:
                        assert r.status == 401
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
                async with http.post(endpoint, json=update, headers=headers) as r:
                    assert r.status == 200
                await tg.wait_for("sendMessage", timeout=30)
                await dp["in_flight"].wait(timeout=30)
                # Telegram redelivers (it did not see our answer): dropped
                async with http.post(endpoint, json=update, headers=headers) as r:
                    assert r.status == 200
                # aiogram created the update's task before it answered (it
                # reads the body first); one turn of the loop starts it, and
                # from its first step in_flight tracks it until it is done.
                await asyncio.sleep(0)
                await dp["in_flight"].wait(timeout=30)
                assert len(tg.sent(ADMIN)) == 1
                assert "coater" in tg.sent(ADMIN)[0]["text"].lower()
            assert status.telegram == "webhook"
        finally:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(task, timeout=30)
            await runner.cleanup()
            app.close()
