"""The web app in a process of its own, beside the bot.

``shopbot run`` with a token and long polling serves the web app from a
child process (started with ``spawn``: a fresh interpreter, no copy of the
parent's threads, event loop or SQLite connections) with its own ``App`` over
the same database. Why: one ask costs about as much CPU as one bot update,
and on one event loop (and one GIL) 200 asks/s beside 300 updates/s are more
than one core, so the bot's replies queued behind the pages
(benchmarks/bench_web.py). Two processes use both cores, and the kernel, not
the event loop, shares them out.

Two processes on one SQLite file are safe: WAL, a busy timeout and each
process's single writer thread (bot/storage.py); the glossary's and the
memory's in-memory indexes see the other process's writes through their
revision rows. What the two do not share: the translation engine (each
loads the models it uses, on first use) and the conversations of ``/talk``,
which lived in the web app alone already. The child tells people in the bot
(a decision, a new fix to review) through ``announcer``: a Bot that sends
and never polls (bot.telegram.wiring.announcing, handed over by the entry
point, so this module imports no Telegram code).

The parent (``WebProcess``) starts the child, waits until it serves and
learns the URL it serves (port 0: the port the system chose), then watches
it: a child that dies after it has served is logged and started again on the
same address (at once, then after a growing wait if it keeps dying soon
after each start: ``Restarts``); one that dies before it serves (the port
is taken, the database cannot be opened) ends ``shopbot run`` with its
error, since starting it again would fail the same way. Stopping the
parent stops the child (SIGTERM, then SIGKILL after ``STOP_TIMEOUT``); a
child whose parent is gone (killed with SIGKILL) sees its pipe close and
stops by itself.

The bot's state for ``/healthz`` goes through the database: the parent's
``BotStatus`` writes each change to ``bot_state``, the child's ``/healthz``
reads it (``Status.elsewhere``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing as mp
import os
import signal
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Callable

from bot.app import App
from bot.config import Settings
from bot.storage import Storage, set_bot_state

from . import site
from .server import Status

log = logging.getLogger("shopbot.web")

#: How long the child may take to start serving, and to stop.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0

#: The wait before the child is started again, by how many times in a row it
#: died soon after starting (within STABLE_AFTER seconds): a child that dies
#: at once (a crash on its first request, memory short) is not restarted in
#: a tight loop that fills the log and takes the CPU from the bot, and one
#: that served for a while comes back at once.
RESTART_DELAYS = (0.0, 1.0, 5.0, 30.0, 60.0)
STABLE_AFTER = 300.0


class Restarts:
    """Counts the child's quick deaths in a row and says how long to wait
    before the next start (``clock``: injected by the tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.quick = 0
        self._started = clock()

    def started(self) -> None:
        self._started = self.clock()

    def ended(self) -> float:
        """The child ended: the seconds to wait before starting it again."""
        self.quick = self.quick + 1 if self.clock() - self._started < STABLE_AFTER else 1
        return RESTART_DELAYS[min(self.quick, len(RESTART_DELAYS)) - 1]


class WebStartError(OSError):
    """The web app's process could not start serving (its error, one line)."""


class BotStatus(Status):
    """The bot's ``Status`` when the web app serves from another process:
    each state the bot goes through (bot.telegram.wiring.run sets them) is
    also written to the database, where that process's /healthz reads it.
    Queued, not awaited: a state change never waits for an fsync, and the
    writer thread writes what was queued before it stops."""

    def __init__(self, storage: Storage, url: str = ""):
        self._storage = None
        super().__init__(url=url)  # sets telegram = "off" here only
        self._storage = storage

    @property  # type: ignore[override]
    def telegram(self) -> str:
        return self._state

    @telegram.setter
    def telegram(self, value: str) -> None:
        self._state = value
        if self._storage is not None:
            self._storage.submit(set_bot_state, value, os.getpid())


# -- the child -----------------------------------------------------------------

def child_main(conn, settings: Settings, setup: Callable[[], None] | None = None, nice: int = 0,
               announcer: Callable[[App], AbstractAsyncContextManager] | None = None) -> None:
    """The child process: serve the web app until SIGTERM/SIGINT or until the
    parent is gone. ``conn`` gets ("serving", url) or ("failed", message)."""
    if setup is not None:
        setup()
    if nice:
        os.nice(nice)
    try:
        from uvloop import new_event_loop as loop_factory
    except ImportError:
        loop_factory = None
    try:
        app = App(settings)
    except Exception as exc:  # noqa: BLE001 - told to the parent, which reports it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    with app, asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_child(app, settings, conn, announcer))


async def _serve_child(app: App, settings: Settings, conn, announcer=None) -> None:
    async with announcer(app) if announcer is not None else nullcontext():
        await _serve_until_stopped(app, settings, conn)


async def _serve_until_stopped(app: App, settings: Settings, conn) -> None:
    status = Status(elsewhere=True)
    try:
        web_runner, url = await site.start(app, status, settings.web_host, settings.web_port)
    except Exception as exc:  # noqa: BLE001
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # The pipe closes when the parent is gone, however it ended: stop then.
        loop.add_reader(conn.fileno(), stop.set)
        # What start-up allocated out of the garbage collector's sight, as the
        # bot does (bot.telegram.wiring.warm_up): fewer long collections.
        gc.collect()
        gc.freeze()
        conn.send(("serving", url))
        await stop.wait()
    finally:
        await web_runner.cleanup()


# -- the parent ----------------------------------------------------------------

class WebProcess:
    """Start, watch and stop the web app's process (see the module's text).

    ``setup`` runs first thing in the child (logging, as the parent's);
    ``announcer(app)`` is entered around serving (the child's ``App.announce``).
    Both must pickle: module-level functions, or partials of them
    (``spawn`` pickles them by name)."""

    def __init__(self, settings: Settings, setup: Callable[[], None] | None = None,
                 on_fatal: Callable[[str], None] | None = None, nice: int = 0,
                 announcer: Callable[[App], AbstractAsyncContextManager] | None = None):
        self.nice = nice
        self.announcer = announcer
        self.settings = settings.model_copy(update={"token": None, "webhook_secret": None})
        self.setup = setup
        self.on_fatal = on_fatal
        self.ctx = mp.get_context("spawn")
        self.process = None
        self.url = ""
        self.fatal: str | None = None
        self._stopping = False
        self._watch: asyncio.Task | None = None
        self.restarts = Restarts()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> str:
        """Start the child and wait until it serves; the URL it serves."""
        self.url = await self._spawn(self.settings)
        self.restarts.started()
        self._watch = asyncio.ensure_future(self._watch_child())
        return self.url

    async def _spawn(self, settings: Settings) -> str:
        parent_end, child_end = self.ctx.Pipe()
        process = self.ctx.Process(target=child_main, args=(child_end, settings, self.setup, self.nice, self.announcer),
                                   name="shopbot-web", daemon=False)
        process.start()
        child_end.close()  # ours is closed: the child sees EOF only from the parent's end
        self.process, self._conn = process, parent_end
        loop = asyncio.get_running_loop()
        ready = loop.run_in_executor(None, _receive, parent_end, START_TIMEOUT)
        try:
            kind, value = await ready
        except (EOFError, OSError, TimeoutError) as exc:
            await self._reap(process)
            raise WebStartError(f"the web app's process ended before it served "
                                f"(exit code {process.exitcode}): {type(exc).__name__}") from None
        if kind != "serving":
            await self._reap(process)
            raise WebStartError(value)
        return value

    async def _watch_child(self) -> None:
        while True:
            process = self.process
            await _ended(process)
            if self._stopping:
                return
            delay = self.restarts.ended()
            log.error("the web app's process (pid %s) ended unexpectedly (exit code %s); starting it "
                      "again on %s%s", process.pid, process.exitcode, self.url,
                      f" in {delay:g} s ({self.restarts.quick} times in a row)" if delay else "")
            self._conn.close()
            if delay:
                await asyncio.sleep(delay)  # stop() cancels this task: no wait at shutdown
            # The same address as before: links already sent stay valid.
            port = int(self.url.rsplit(":", 1)[1])
            try:
                await self._spawn(self.settings.model_copy(update={"web_port": port}))
            except WebStartError as exc:
                if self._stopping:
                    return
                self.fatal = f"the web app's process could not be started again: {exc}"
                log.error("%s; stopping", self.fatal)
                if self.on_fatal is not None:
                    self.on_fatal(self.fatal)
                return
            self.restarts.started()
            log.info("web app: %s again (pid %s)", self.url, self.process.pid)

    async def stop(self) -> None:
        """SIGTERM to the child, SIGKILL after STOP_TIMEOUT; waits for it."""
        self._stopping = True
        if self._watch is not None:
            # Cancelled, not awaited: it may be starting a new child just now,
            # which is then self.process and stopped below.
            self._watch.cancel()
            try:
                await self._watch
            except asyncio.CancelledError:
                pass
        if self.process is not None:
            await self._reap(self.process)
            self._conn.close()

    @staticmethod
    async def _reap(process) -> None:
        loop = asyncio.get_running_loop()
        if process.is_alive():
            process.terminate()
        await loop.run_in_executor(None, process.join, STOP_TIMEOUT)
        if process.is_alive():
            log.warning("the web app's process (pid %s) did not stop in %.0f s: killed",
                        process.pid, STOP_TIMEOUT)
            process.kill()
            await loop.run_in_executor(None, process.join)


async def _ended(process) -> None:
    """Until ``process`` has ended: its sentinel becomes readable then (no
    thread waits for it)."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(process.sentinel, lambda: done.done() or done.set_result(None))
    try:
        await done
    finally:
        loop.remove_reader(process.sentinel)
    process.join()


def _receive(conn, timeout: float):
    if not conn.poll(timeout):
        raise TimeoutError("no answer")
    return conn.recv()
