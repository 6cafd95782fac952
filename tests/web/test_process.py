"""`shopbot run` with a token and long polling: the bot in the process started,
the web app in a child process of its own on the same database
(bot/web/process.py). Real processes, the fake Bot API server, real HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.app import App
from bot.config import Settings
from bot.storage import Storage, bot_state, bot_username, set_bot_state, set_bot_username
from bot.web import server, site
from bot.web.process import STABLE_AFTER, BotStatus, Restarts
from tests.fake_telegram import FakeTelegram

ADMIN = 5151


class Run:
    """`shopbot run` as a process; its log read line by line as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.lines: list[str] = []

    async def line(self, pattern: str, timeout: float = 60) -> re.Match:
        """The first line from now on (or already read) matching ``pattern``."""
        rx = re.compile(pattern)
        for line in self.lines:
            if (m := rx.search(line)) is not None:
                return m
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            assert raw, "the process ended; its log:\n" + "".join(self.lines)
            line = raw.decode(errors="replace")
            self.lines.append(line)
            if (m := rx.search(line)) is not None:
                return m

    async def finish(self, timeout: float = 60) -> str:
        rest = (await asyncio.wait_for(self.proc.communicate(), timeout))[0].decode(errors="replace")
        return "".join(self.lines) + rest

    async def stop(self) -> str:
        """SIGTERM, then the whole log once the process has ended."""
        self.proc.send_signal(signal.SIGTERM)
        return await self.finish()

    async def __aenter__(self) -> "Run":
        return self

    async def __aexit__(self, *exc) -> None:
        if self.proc.returncode is None:  # a failed test: no process left behind
            self.proc.kill()
            await self.proc.wait()


async def start(tmp_path: Path, seeded_template: Path, tg: FakeTelegram | None, command: str = "run",
                **extra: str) -> Run:
    db = tmp_path / "run.db"
    if not db.exists():
        shutil.copy(seeded_template, db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBOT_")}
    env.update(SHOPBOT_DB=str(db), SHOPBOT_WEB_PORT="0", SHOPBOT_ADMINS=str(ADMIN),
               SHOPBOT_MODELS_DIR=str(tmp_path / "models"))  # SHOPBOT_WEB_PROCESS unset: the default
    if tg is not None:
        env.update(SHOPBOT_TOKEN=tg.token, SHOPBOT_API_URL=tg.url)
    env.update(extra)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from bot.cli import main; main()", command, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    return Run(proc)


async def healthz(url: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as r:
        return await r.json()


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may wait for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def until(condition, what: str, timeout: float = 30) -> None:
    """Wait for a condition another process makes true (a deadline, not a proof)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
async def test_the_web_app_serves_from_its_own_process_and_comes_back(tmp_path, seeded_template):
    async with FakeTelegram(token="5151:TWOprocessesTOKEN") as tg:
        async with await start(tmp_path, seeded_template, tg) as run:
            m = await run.line(r"web app: (http://127\.0\.0\.1:\d+) \(its own process, pid (\d+)\)")
            url, web_pid = m.group(1), int(m.group(2))
            assert web_pid != run.proc.pid and parent_of(web_pid) == run.proc.pid
            link = (await run.line(rf"({re.escape(url)}/signin/[\w-]+)")).group(1)
            await tg.wait_for("getUpdates", timeout=60)
            tg.message(ADMIN, ADMIN, "coater")
            [reply] = await tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == ADMIN,
                                        timeout=30)
            assert "enduiseuse" in reply.params["text"]
            # The bot's state crossed over through the database: the update's
            # own write was queued after "polling", so it is committed.
            health = await healthz(url)
            assert health["telegram"] == "polling" and health["ready"] is True
            async with aiohttp.ClientSession() as http, http.get(link) as r:
                assert r.status == 200  # the first start's link, served by the child

            # The web app's process dies: logged, started again on the same address.
            os.kill(web_pid, signal.SIGKILL)
            await run.line(r"web app's process \(pid %d\) ended unexpectedly" % web_pid)
            again = int((await run.line(rf"web app: {re.escape(url)} again \(pid (\d+)\)")).group(1))
            assert again != web_pid and parent_of(again) == run.proc.pid
            assert (await healthz(url))["telegram"] == "polling"
            # Dead again soon after: started again after a wait, not in a tight loop.
            os.kill(again, signal.SIGKILL)
            await run.line(r"web app's process \(pid %d\) ended unexpectedly .* in 1 s \(2 times in a row\)" % again)
            again = int((await run.line(rf"web app: {re.escape(url)} again \(pid (?!{again}\))(\d+)\)")).group(1))
            # ... and the bot went on answering meanwhile.
            tg.message(ADMIN, ADMIN, "tab")
            await tg.wait_for("sendMessage", count=2, predicate=lambda c: c.params.get("chat_id") == ADMIN,
                              timeout=30)

            out = await run.stop()
    assert run.proc.returncode == 0, out
    assert not running(again)  # stopped with the parent, and reaped by it
    assert "Traceback" not in out and "TWOprocessesTOKEN" not in out
    with Storage(tmp_path / "run.db") as storage:
        assert storage.read(bot_state) == "stopped"


def test_a_child_that_keeps_dying_waits_longer_each_time():
    now = [0.0]
    restarts = Restarts(clock=lambda: now[0])
    delays = []
    for _ in range(7):  # each one dies 10 s after it started
        now[0] += 10
        delays.append(restarts.ended())
        restarts.started()
    assert delays == [0.0, 1.0, 5.0, 30.0, 60.0, 60.0, 60.0]
    now[0] += STABLE_AFTER  # this one served for a while: back at once
    assert (restarts.ended(), restarts.quick) == (0.0, 1)


@pytest.mark.parametrize("command", ["run", "web"])
async def test_the_web_process_tells_the_author_in_the_bot(tmp_path, seeded_template, command):
    """A fix approved on the web app's own process (`shopbot run`), or on
    `shopbot web` with a token, reaches its author in Telegram: through a
    Bot that sends and never polls."""
    from bot.knowledge import fixes
    from bot.people import directory

    from .conftest import csrf_of

    trainer = 777
    db = tmp_path / "run.db"
    shutil.copy(seeded_template, db)
    with Storage(db) as storage:
        storage.write(lambda d: directory._admit(d, trainer, "trainer", now=directory._now(None), seen=True,
                                                 actor="system", via="tests", name="Tao"))
        fix_id = storage.write(lambda d: fixes.create_and_submit(
            d, author=trainer, equipment="coater", original_lang="en", symptom="Unwind tension alarm",
            steps=["Stop the coater.", "Check the splice."]))
    async with FakeTelegram(token="5151:ANNOUNCEfromCHILD") as tg:
        async with await start(tmp_path, seeded_template, tg, command) as run:
            layout = r" \(its own process" if command == "run" else "$"
            url = (await run.line(r"web app: (http://127\.0\.0\.1:\d+)" + layout)).group(1)
            link = (await run.line(rf"({re.escape(url)}/signin/[\w-]+)")).group(1)
            if command == "run":
                await tg.wait_for("getUpdates", timeout=60)
            # unsafe: a jar that keeps cookies of an IP address (127.0.0.1)
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                page = await (await http.get(link)).text()
                r = await http.post(link, data={"csrf": csrf_of(page)})
                assert r.status == 200 and r.url.path == "/ask", await r.text()
                token = csrf_of(await (await http.get(f"{url}/review")).text())
                r = await http.post(f"{url}/review/fix/{fix_id}/approve", data={"csrf": token})
                html = await r.text()
                assert r.status == 200 and f"Approved: #{fix_id}. The author is told in the bot." in html
            [told] = await tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == trainer,
                                       timeout=30)
            assert f"#{fix_id}" in told.params["text"] and "approved" in told.params["text"]
            out = await run.stop()
    assert run.proc.returncode == 0, out
    assert "Unclosed client session" not in out and "ANNOUNCEfromCHILD" not in out
    if command == "web":  # it sends; it never takes the bot's updates
        assert not [c for c in tg.calls if c.method in ("getUpdates", "deleteWebhook", "setWebhook")]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
async def test_the_web_process_stops_when_its_parent_is_killed(tmp_path, seeded_template):
    async with FakeTelegram() as tg:
        async with await start(tmp_path, seeded_template, tg) as run:
            web_pid = int((await run.line(r"its own process, pid (\d+)")).group(1))
            await tg.wait_for("getUpdates", timeout=60)
            run.proc.kill()  # SIGKILL: no chance to stop the child
            await run.proc.wait()
            try:
                # The child sees its pipe to the parent close and stops by itself.
                await until(lambda: not running(web_pid), "the orphaned web process is still serving")
            finally:
                if running(web_pid):
                    os.kill(web_pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
async def test_a_web_process_that_cannot_come_back_stops_the_run(tmp_path, seeded_template):
    """The child dies and its port is taken meanwhile: starting it again
    fails, so `shopbot run` stops the bot as on SIGTERM and exits 1 with the
    reason. (The parent is paused while the port changes hands, so the
    order of events is fixed, not raced.)"""
    async with FakeTelegram() as tg:
        async with await start(tmp_path, seeded_template, tg) as run:
            m = await run.line(r"web app: http://127\.0\.0\.1:(\d+) \(its own process, pid (\d+)\)")
            port, web_pid = int(m.group(1)), int(m.group(2))
            await tg.wait_for("getUpdates", timeout=60)
            run.proc.send_signal(signal.SIGSTOP)
            try:
                os.kill(web_pid, signal.SIGKILL)
                taken = socket.socket()
                # as the web server's own socket: a listening socket refuses it all the same
                taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

                def take() -> bool:
                    # The port is free once the killed process's last thread has
                    # exited (its main thread may be a zombie before that).
                    try:
                        taken.bind(("127.0.0.1", port))
                    except OSError:
                        return False
                    return True

                await until(take, "the killed web process still holds its port")
                taken.listen()
            finally:
                run.proc.send_signal(signal.SIGCONT)
            with taken:
                out = await run.finish(timeout=120)
    assert run.proc.returncode == 1, out
    assert re.search(r"Error: the web app's process could not be started again: .*(in use|Errno 98)", out), out
    assert "Traceback" not in out
    with Storage(tmp_path / "run.db") as storage:
        assert storage.read(bot_state) == "stopped"  # the bot stopped cleanly


async def test_a_web_app_that_cannot_start_stops_the_run_before_the_bot(tmp_path, seeded_template):
    """The port is taken: one error line naming the cause, exit code 1, and
    the bot never started polling."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with FakeTelegram() as tg:
            async with await start(tmp_path, seeded_template, tg, SHOPBOT_WEB_PORT=str(port)) as run:
                out = await run.finish(timeout=120)
            assert run.proc.returncode == 1, out
            assert re.search(r"Error: .*(address already in use|Errno 98)", out, re.I), out
            assert not [c for c in tg.calls if c.method == "getUpdates"]
            assert "Traceback" not in out


async def test_healthz_reads_the_bot_state_another_process_wrote(tmp_path, seeded_template):
    """The web process's /healthz (Status.elsewhere) reads bot_state; the
    bot's BotStatus writes every state it is given."""
    db = tmp_path / "h.db"
    shutil.copy(seeded_template, db)
    web_app = App(Settings(db=db, models_dir=tmp_path / "models"))
    bot_app = App(Settings(db=db, models_dir=tmp_path / "models"))  # "the other process"
    runner, url = await site.start(web_app, server.Status(elsewhere=True), "127.0.0.1", 0)
    try:
        assert (await healthz(url))["telegram"] == "off"  # no bot ever ran on this database
        status = BotStatus(bot_app.storage)
        for state in ("starting", "polling", "failed"):
            status.telegram = state
            await bot_app.storage.awrite(lambda db: None)  # after the queued state write
            health = await healthz(url)
            assert health["telegram"] == state and status.telegram == state
            assert health["ready"] is (state != "failed")
        # the bot's @name (written at its start), for the web process's invite
        # deep links, kept across states
        await bot_app.storage.awrite(set_bot_username, "plant_bot")
        status.telegram = "polling"
        await bot_app.storage.awrite(lambda db: None)
        assert web_app.storage.read(bot_username) == "plant_bot"
        await bot_app.storage.awrite(set_bot_state, "stopped", 1)
        assert (await healthz(url))["telegram"] == "stopped"
        assert web_app.storage.read(bot_username) == "plant_bot"
    finally:
        await runner.cleanup()
        web_app.close()
        bot_app.close()


@pytest.mark.parametrize("mode", ["no token", "webhook", "polling"])
async def test_without_the_web_process_setting_one_process_serves(tmp_path, seeded_template, mode):
    """No token, webhook mode (the web server takes Telegram's updates), or
    long polling with SHOPBOT_WEB_PROCESS=0: the web app
    serves in the process started, no child."""
    async with FakeTelegram() as tg:
        hook = {"no token": {}, "polling": {"SHOPBOT_WEB_PROCESS": "0"},
                "webhook": {"SHOPBOT_WEBHOOK_URL": "https://bot.example.org/telegram/webhook"}}[mode]
        async with await start(tmp_path, seeded_template, None if mode == "no token" else tg, **hook) as run:
            url = (await run.line(r"web app: (http://127\.0\.0\.1:\d+)$")).group(1)
            if mode == "no token":
                await run.line("Telegram is off")
                expected = "off"
            elif mode == "polling":
                await tg.wait_for("getUpdates", timeout=60)
                expected = "polling"
            else:
                await tg.wait_for("setWebhook", timeout=60)
                await run.line("delivers updates to the webhook")
                expected = "webhook"
            assert (await healthz(url))["telegram"] == expected
            out = await run.stop()
    assert run.proc.returncode == 0, out
    assert "its own process" not in out
