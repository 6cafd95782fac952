"""aiogram wiring: the Bot, the Dispatcher, middlewares, polling, shutdown.

Only the entry point (``bot.cli``) imports this module; it is the one place
that includes the ``handlers`` routers.

Handlers live in ``handlers/``; everything they need arrives through the
middlewares here as handler arguments: ``app`` (services), ``person`` (None
for a stranger), ``lang`` (the reader's language) and ``people``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import aiohttp
from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import Default, DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, Response
from aiogram.types import (BotCommand, BotCommandScopeAllPrivateChats, CallbackQuery, InlineQuery,
                           Message, TelegramObject, Update, User)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n.middleware import I18nMiddleware
from aiohttp.payload import BytesPayload

from bot.app import App
from bot.config import SECRETS, redact
from bot.people.directory import People, language_from_telegram
from bot.storage import set_bot_username
from glossary import LANGS
from glossary.normalize import has_surrogate, scrub

from .fsm import SQLiteStorage, UpdateDeduplicator
from .texts import DOMAIN, LOCALES, N_, ensure_catalogs

log = logging.getLogger("shopbot")


# -- the token never reaches a log ------------------------------------------

class RedactToken(logging.Filter):
    """Replace the bot token in every log record (it is part of each request
    URL, so it turns up in HTTP errors and tracebacks): ``config.redact``,
    the same as the CLI's error line."""

    def __init__(self, token: str):
        super().__init__()
        if token:
            SECRETS.add(token)

    def filter(self, record: logging.LogRecord) -> bool:
        if not SECRETS:
            return True
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = redact(message)
        record.args = ()
        return True


def set_up_logging(debug: bool = False, handlers: list[logging.Handler] | None = None) -> None:
    """How ``shopbot run`` logs: INFO, without aiogram's line per update
    (one per message, a log a stranger's flood could fill) unless debugging."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers)
    if not debug:
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)


def install_redaction(token: str) -> RedactToken:
    redactor = RedactToken(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor


# -- Telegram errors: retried, never fatal ------------------------------------

class RetryRequests(BaseRequestMiddleware):
    """Honour 429 ``retry_after``; retry 5xx and network errors with backoff.

    getUpdates is left to aiogram's own polling backoff.
    """

    def __init__(self, attempts: int = 5, max_wait: float = 60.0, base_delay: float = 0.5):
        self.attempts = attempts
        self.max_wait = max_wait
        self.base_delay = base_delay

    async def __call__(self, make_request, bot, method):
        if isinstance(method, GetUpdates):
            return await make_request(bot, method)
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt == self.attempts:
                    raise
                await asyncio.sleep(min(exc.retry_after, self.max_wait))
            except (TelegramServerError, TelegramNetworkError) as exc:
                if attempt == self.attempts:
                    raise
                delay = min(self.base_delay * 2 ** (attempt - 1), self.max_wait)
                log.warning("%s failed (%s); retry %d in %.1fs", type(method).__name__,
                            type(exc).__name__, attempt, delay)
                await asyncio.sleep(delay)


# -- the HTTP session ----------------------------------------------------------------

class Session(AiohttpSession):
    """aiogram's aiohttp session, made cheaper per request (each reply is one).

    It overrides ``make_request``, the one method aiogram asks a custom
    session to implement (abstract in ``BaseSession``), and around it uses
    only public parts: ``create_session``, ``prepare_value``,
    ``build_form_data`` (uploads), ``check_response``, ``api.api_url`` and the
    ``__api_method__``/``__returning__`` that every method class declares.

    - Bodies go out as JSON, which the Bot API accepts for every method
      without a file upload. aiogram sends a url-encoded form, and Python's
      url-encoder quotes byte by byte: a reply in Chinese or Korean cost more
      to encode than to compose. Uploads still go as aiogram's multipart form.
    - The pydantic model ``Response[T]`` that parses a method's result is
      kept alive. pydantic caches such generic models only weakly, so the
      garbage collector kept dropping them and the next request rebuilt one,
      holding the event loop for 5 to 30 ms each time.
    """

    _response_models: dict[Any, type] = {}

    def json_body(self, bot: Bot, method) -> bytes | None:
        """The method's parameters as a JSON body; None when it uploads a file."""
        files: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            if isinstance(value, Default):
                value = bot.default[value.name]
            if value is None or value == "":  # what the form leaves out, too
                continue
            if isinstance(value, str):
                fields[key] = value
                continue
            # prepare_value does what aiogram does for a form field (defaults
            # inside objects, dates, enums, files) and returns its JSON text.
            prepared = self.prepare_value(value, bot=bot, files=files)
            if files:
                return None
            if prepared is None or prepared == "":
                continue
            try:
                fields[key] = self.json_loads(prepared)
            except ValueError:  # a plain string (an enum's value): as the form would send it
                fields[key] = prepared
        # ASCII escapes: a lone surrogate (text Telegram itself sent as
        # "\\ud800") has no UTF-8 form and must not fail the reply.
        return json.dumps(fields, separators=(",", ":")).encode()

    async def make_request(self, bot: Bot, method, timeout: float | None = None):
        body = self.json_body(bot, method)
        data = (BytesPayload(body, content_type="application/json") if body is not None
                else self.build_form_data(bot, method))
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        wait = aiohttp.ClientTimeout(total=self.timeout if timeout is None else timeout)
        http = await self.create_session()
        try:
            async with http.post(url, data=data, timeout=wait) as resp:
                status, content = resp.status, await resp.text()
        except asyncio.TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except aiohttp.ClientError as exc:
            raise TelegramNetworkError(method=method, message=f"{type(exc).__name__}: {exc}") from exc
        returning = method.__returning__
        if returning not in self._response_models:
            self._response_models[returning] = Response[returning]
        return self.check_response(bot=bot, method=method, status_code=status, content=content).result


# -- updates in flight -------------------------------------------------------------

class InFlight(BaseMiddleware):
    """The updates being handled, so that shutdown can let them finish.

    aiogram cancels polling on stop but not the update tasks it started, and
    then closes the HTTP session under them. The first outer middleware of
    ``dp.update`` sees every update from its first step (a new task reaches
    it before it ever waits), so waiting for these tasks before the session
    closes means no reply is half-sent. It must come before aiogram's own
    FSM middleware, which may wait on a per-chat lock (``first_in_line``)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()

    async def __call__(self, handler, event: TelegramObject, data: dict[str, Any]):
        task = asyncio.current_task()
        self.tasks.add(task)
        try:
            return await handler(event, data)
        finally:
            self.tasks.discard(task)

    async def wait(self, timeout: float) -> None:
        pending = [t for t in self.tasks if not t.done() and t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)


def first_in_line(manager, middleware) -> None:
    """Put ``middleware`` before those the Dispatcher registered itself.

    Its FSM middleware holds the per-chat isolation lock: an update queued
    behind another of the same person waits there, and a tracker placed after
    it would not see that update at all (shutdown would close the session
    under it; a test waiting for quiet would stop early). The manager's
    public register/unregister keep their order, so take them out and back."""
    registered = list(manager)
    for existing in registered:
        manager.unregister(existing)
    manager.register(middleware)
    for existing in registered:
        manager.register(existing)


async def needs_record(people: People, update: Update) -> bool:
    """Whether the deduplicator must record this update's id. Not for what a
    stranger sends in private (or inline): they get one message an hour
    whatever arrives twice, and a flood of them would otherwise write a row
    per update. Except an invite code, which must not be redeemed twice."""
    event = update.event
    user = getattr(event, "from_user", None)
    chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
    if user is None or (chat is not None and chat.type != "private"):
        return True
    if isinstance(event, Message) and (event.text or "").startswith("/start "):
        return True
    return await people.get(user.id) is not None


# -- per-update context -----------------------------------------------------------

class ContextMiddleware(BaseMiddleware):
    """Inject the services and the person behind the update."""

    def __init__(self, app: App, people: People):
        self.app = app
        self.people = people

    async def __call__(self, handler, event: TelegramObject, data: dict[str, Any]):
        event = scrubbed(event)
        user: User | None = data.get("event_from_user")
        person = None
        if user is not None and not user.is_bot:
            # touch() reads through the cache and writes at most every few minutes.
            person = await self.people.touch(user.id, user.full_name)
        data["app"] = self.app
        data["people"] = self.people
        data["person"] = person
        data["lang"] = person.lang if person else language_from_telegram(
            user.language_code if user else None)
        return await handler(event, data)


def scrubbed(event: TelegramObject) -> TelegramObject:
    """The event with every lone surrogate in what a person typed replaced by
    U+FFFD (glossary.normalize.scrub): Telegram's JSON can carry one, and
    SQLite, the logs and the models cannot. A copy only when there is one."""
    names = {Message: ("text", "caption"), CallbackQuery: ("data",), InlineQuery: ("query",)}
    fields = {name: scrub(value) for name in names.get(type(event), ())
              if isinstance(value := getattr(event, name), str) and has_surrogate(value)}
    return event.model_copy(update=fields) if fields else event


class PersonI18n(I18nMiddleware):
    """The interface speaks the person's stored language (else Telegram's)."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        return data.get("lang") or "en"


class FloodLimit(BaseMiddleware):
    """At most ``rate`` updates (messages, button presses, inline queries) per
    ``per`` seconds per person; the first one over the limit gets one
    localised "slow down", the others are dropped."""

    def __init__(self, rate: int = 20, per: float = 30.0, clock=time.monotonic):
        self.rate = rate
        self.per = per
        self.clock = clock  # a test stops time to count without racing the refill
        self.buckets: OrderedDict[int, tuple[float, float, bool]] = OrderedDict()

    async def __call__(self, handler, event: TelegramObject, data: dict[str, Any]):
        user = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        now = self.clock()
        tokens, last, warned = self.buckets.pop(user.id, (float(self.rate), now, False))
        tokens = min(self.rate, tokens + (now - last) * self.rate / self.per)
        if tokens >= 1:
            self.buckets[user.id] = (tokens - 1, now, False)
            self._trim()
            return await handler(event, data)
        self.buckets[user.id] = (tokens, now, True)
        # The first one over gets one word, then silence. Inline queries and
        # strangers (who had their one message already): silence.
        if not warned and data.get("person") is not None:
            from aiogram.utils.i18n import gettext as _

            text = _("You are sending messages too fast. Please wait a moment.")
            if isinstance(event, CallbackQuery):
                await event.answer(text)
            elif isinstance(event, Message) and event.chat.type == "private":
                await event.answer(text)
        return None

    def _trim(self) -> None:
        while len(self.buckets) > 10_000:
            self.buckets.popitem(last=False)


# -- building and running ---------------------------------------------------------

def build_bot(token: str, api_url: str | None) -> Bot:
    session = Session(api=TelegramAPIServer.from_base(api_url)) if api_url else Session()
    session.middleware(RetryRequests())
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_dispatcher(app: App) -> Dispatcher:
    from aiogram.fsm.storage.memory import SimpleEventIsolation
    from aiogram.fsm.strategy import FSMStrategy

    from handlers import get_routers

    ensure_catalogs()
    people = People(app.storage)
    # SimpleEventIsolation: one update at a time per chat and user, so two
    # quick messages cannot race through a conversation's state (aiogram #1317).
    dp = Dispatcher(storage=SQLiteStorage(app.storage), fsm_strategy=FSMStrategy.USER_IN_CHAT,
                    events_isolation=SimpleEventIsolation())
    in_flight = InFlight()
    first_in_line(dp.update.outer_middleware, in_flight)
    dp.update.outer_middleware(UpdateDeduplicator(app.storage, needs_record=partial(needs_record, people)))
    context = ContextMiddleware(app, people)
    i18n = PersonI18n(I18n(path=LOCALES, default_locale="en", domain=DOMAIN))
    flood = FloodLimit()
    for observer in (dp.message, dp.edited_message, dp.callback_query, dp.inline_query,
                     dp.my_chat_member, dp.chat_member):
        observer.outer_middleware(context)
        observer.outer_middleware(i18n)
    # Buttons and inline queries too: a forged or scripted flood of either
    # costs as much as messages.
    for observer in (dp.message, dp.callback_query, dp.inline_query):
        observer.outer_middleware(flood)
    dp.include_routers(*get_routers())
    dp.startup.register(warm_up)
    dp["app"] = app
    dp["people"] = people
    dp["i18n"] = i18n.i18n  # for messages sent outside an update (App.announce)
    dp["outboxes"] = {}  # group chat id → handlers.groups.Outbox
    dp["in_flight"] = in_flight
    dp["answered_strangers"] = {}  # user id → when the access message went out
    dp["web"] = None  # the web app's Status when it runs beside the bot (its address, for /web)
    return dp


async def warm_up(app: App, dispatcher: Dispatcher, **_) -> None:
    """Load the language detector (~50 MB, ~1 s) before the first message
    rather than during it. Translation models still load on first use.
    Start spotting the fixes' glossary concepts again if the glossary changed
    while the bot was not running (in the background, in small transactions).

    Then freeze what start-up allocated (aiogram's and pydantic's ~250 MB of
    objects) out of the garbage collector's sight: a full collection walking
    them stopped the event loop for ~200 ms, several times per 10,000 updates.
    """
    import gc

    from bot.translation.text import latin_identifier

    await asyncio.get_running_loop().run_in_executor(None, latin_identifier)
    dispatcher["respot"] = asyncio.ensure_future(respot_fixes(app))  # referenced: not collected
    gc.collect()
    gc.freeze()


async def respot_fixes(app: App) -> int:
    from bot.knowledge.fixes import reindex_concepts
    from bot.storage import StorageError

    try:
        done = await asyncio.to_thread(reindex_concepts, app.storage.write, app.storage.read)
    except StorageError:  # closed at shutdown: the next start carries on
        return 0
    except Exception:  # noqa: BLE001 - a background task: log it, the bot goes on
        log.exception("could not spot the glossary concepts of the fixes again")
        return 0
    if done:
        log.info("glossary concepts spotted again in %d fixes", done)
    return done


COMMANDS = {
    # command: English description, translated at registration
    "term": N_("Look up an equipment term"),
    "to": N_("Set your translation language"),
    "tr": N_("Translate the message you reply to"),
    "lang": N_("Change the bot's language"),
    "fix": N_("Find a troubleshooting fix"),
    "newfix": N_("Write a new fix (trainers)"),
    "review": N_("Review submitted fixes (leads)"),
    "web": N_("Sign in to the web app"),
    "cancel": N_("Cancel the current dialogue"),
    "help": N_("What I can do"),
}


async def register_commands(bot: Bot, i18n: I18n) -> None:
    """The command menu, in each interface language."""
    for lang in LANGS:
        commands = [BotCommand(command=c, description=i18n.gettext(d, locale=lang))
                    for c, d in COMMANDS.items()]
        await bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats(),
                                  language_code=None if lang == "en" else lang)


@dataclass
class Webhook:
    """Webhook mode: Telegram posts updates to ``url``, which the web app's
    server routes to ``attach``'s handler (aiogram's aiohttp integration)."""

    url: str
    secret: str
    attach: Callable[[Callable | None], None]  # the web app's slot for the handler


def webhook_secret(token: str, configured: str | None = None) -> str:
    """The X-Telegram-Bot-Api-Secret-Token value: configured, else derived from
    the token (stable across restarts, never the token itself). Telegram
    allows 1-256 characters of A-Z, a-z, 0-9, _ and -."""
    if configured:
        return configured
    import hashlib

    return hashlib.sha256(b"shopbot-webhook:" + token.encode()).hexdigest()


async def run(app: App, token: str, api_url: str | None, admins: list[int], *,
              status=None, webhook: Webhook | None = None) -> None:
    """Long polling (or, with ``webhook``, updates posted to the web app's
    server) until SIGTERM/SIGINT; in-flight updates finish first.
    ``status.telegram`` (the web app's /healthz) follows the bot's state."""
    install_redaction(token)
    bot = build_bot(token, api_url)
    if status is not None:
        status.telegram = "starting"
    try:
        dp = build_dispatcher(app)
        await dp["people"].ensure_admins(admins)
        me = await bot.get_me()
        log.info("shopbot running as @%s (id %s), event loop %s", me.username, me.id,
                 type(asyncio.get_running_loop()).__module__)
        if status is not None:  # the web console's invites show the bot's deep link
            status.bot_username = me.username or ""
        await app.storage.awrite(set_bot_username, me.username or "")
        await register_commands(bot, I18n(path=LOCALES, default_locale="en", domain=DOMAIN))
    except BaseException:
        # Polling closes the session when it ends; a start that fails before
        # polling must close it here ("Unclosed client session" otherwise).
        await bot.session.close()
        if status is not None:
            status.telegram = "failed"
        raise

    async def drain(**_):
        # Shutdown handlers run before aiogram closes the session.
        await dp["in_flight"].wait(timeout=30)

    dp.shutdown.register(drain)
    dp["web"] = status  # the web app's address, for /web (None: no web app)
    announce_from(app, bot, dp)
    loop = asyncio.get_running_loop()
    try:
        if webhook is not None:
            await run_webhook(bot, dp, webhook, status)
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(dp.stop_polling()))
        # A webhook left from webhook mode makes Telegram refuse getUpdates
        # (409): polling is what this start asked for, so remove it.
        await bot.delete_webhook()
        if status is not None:
            status.telegram = "polling"
        await dp.start_polling(bot, handle_signals=False, tasks_concurrency_limit=64,
                               allowed_updates=dp.resolve_used_update_types())
    finally:
        if status is not None:
            status.telegram = "stopped"


def announce_from(app: App, bot: Bot, dp: Dispatcher) -> None:
    """The web app's decisions and new fixes are told in the bot while it runs."""
    from handlers.fixes import Announcer

    app.announce = Announcer(bot, dp["people"], dp["i18n"])


@asynccontextmanager
async def announcing(app: App, token: str, api_url: str | None):
    """The web app without the bot on its event loop (its own process beside
    a polling bot, or `shopbot web` with a token): it still tells people in
    the bot, by sending only. Nothing polls here, so this never competes with
    the bot's getUpdates; sendMessage from two processes is fine for Telegram."""
    from handlers.fixes import Announcer

    ensure_catalogs()
    install_redaction(token)
    bot = build_bot(token, api_url)
    app.announce = Announcer(bot, People(app.storage), I18n(path=LOCALES, default_locale="en", domain=DOMAIN))
    try:
        yield
    finally:
        app.announce = None
        await bot.session.close()


async def run_webhook(bot: Bot, dp: Dispatcher, webhook: Webhook, status=None) -> None:
    """Updates arrive as POSTs on the web app's server; the same middlewares
    (deduplication, in-flight tracking, flood limit) see them as in polling."""
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    workflow = {"dispatcher": dp, "bots": [bot], **dp.workflow_data}
    await dp.emit_startup(bot=bot, **workflow)
    handler = SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=webhook.secret,
                                   handle_in_background=True)
    webhook.attach(handler.handle)
    try:
        await bot.set_webhook(webhook.url, secret_token=webhook.secret,
                              allowed_updates=dp.resolve_used_update_types())
        log.info("Telegram delivers updates to the webhook %s", webhook.url)
        if status is not None:
            status.telegram = "webhook"
        await stop.wait()
    finally:
        webhook.attach(None)  # later posts get 503: Telegram keeps them and retries
        try:
            await dp.emit_shutdown(bot=bot, **workflow)
        finally:
            await bot.session.close()
