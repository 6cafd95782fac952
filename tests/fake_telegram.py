"""A fake Telegram Bot API server for end-to-end tests.

A real aiogram ``Bot`` talks to it over real HTTP on 127.0.0.1::

    async with FakeTelegram() as tg:
        tg.message(chat_id=42, user_id=42, text="/start")    # queue an update
        async with polling(tg, dp, tg.bot()):                # dp.start_polling
            [call] = await tg.wait_for("sendMessage")
        assert call.params["text"] == "Welcome"

``tg.bot()`` is ``Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.url)))``;
``polling`` starts ``dp.start_polling(bot, handle_signals=False, polling_timeout=1)``
as a task and stops it with ``dp.stop_polling()``.

What it serves, at ``/bot{token}/{method}`` (GET or POST; JSON, urlencoded and
multipart bodies, the query string too):

* ``getUpdates``: long polling over a queue of updates the test enqueued.
  ``offset`` confirms (forgets) the updates below it that were handed out
  already; ``limit``; ``timeout`` (waits for an update, or the timeout);
  ``allowed_updates`` is remembered as Telegram does and updates of other types
  are dropped. A newer getUpdates makes a waiting one answer 409 Conflict, as
  two bot instances polling one token would see.
* messages: ``sendMessage``, ``editMessageText``, ``deleteMessage``,
  ``sendPhoto`` answer realistic ``Message`` objects (message ids counted per
  chat, ``from`` the bot, inline keyboards echoed, ``reply_to_message``) and
  fail like Telegram does for an empty or too long text, an unknown message, or
  an edit that changes nothing ("message is not modified").
* validation as the real server does it (``parse_html`` and the ``_check_*``
  functions): parse_mode HTML is parsed as Telegram does, and unknown or
  unclosed tags, stray end tags and unknown entities answer 400 "can't parse
  entities"; text over 4,096 characters after parsing (captions: 1,024),
  callback_data over 64 bytes, an answerCallbackQuery text over 200
  characters, more than 50 inline results or a result id over 64 bytes
  answer 400 too. Every bot test thus checks the bot's escaping.
* ``getMe``, ``getChat``, ``getChatMember``, ``getChatAdministrators``,
  ``getFile`` (and file downloads at ``/file/bot{token}/{path}``).
* ``answerCallbackQuery``, ``answerInlineQuery``, ``leaveChat``,
  ``setMyCommands``, ``sendChatAction``... and ANY OTHER METHOD: recorded and
  answered ``{"ok": true, "result": true}``, so a bot calling a method this fake
  does not model still runs (``tg.unknown_calls`` lists those calls).
* a wrong token: 401 ``Unauthorized`` (not recorded).

Every call is recorded in ``tg.calls`` (see ``Call``); ``tg.fail_next`` injects
429, 5xx, any error status, or a dropped connection.

Form bodies carry strings only: aiogram JSON-encodes every non-string value
(``42``, ``true``, ``{"inline_keyboard": ...}``) and sends strings as they are.
The fake decodes a form value as JSON unless its field holds text
(``_TEXT_FIELDS``), so ``params["chat_id"]`` is an int and ``params["text"]``
stays ``"123"`` when the bot sent the text 123. Uploaded files become ``Upload``
objects, also where a parameter says ``attach://<name>``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, AsyncIterator, Callable

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

# Fields whose form value is text even when it looks like JSON ("123", "true").
_TEXT_FIELDS = frozenset({
    "text", "caption", "query", "parse_mode", "callback_query_id", "inline_query_id",
    "next_offset", "name", "description", "short_description", "language_code",
    "title", "question", "custom_title", "action", "emoji", "url", "file_id",
    "business_connection_id", "message_effect_id", "first_name", "last_name",
    "phone_number", "address", "payload", "start_parameter", "switch_pm_text",
    "switch_pm_parameter", "photo", "document", "inline_message_id",
})

# Updates Telegram leaves out unless allowed_updates names them.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_MAX_TEXT = 4096
_CONFLICT = ("Conflict: terminated by other getUpdates request; "
             "make sure that only one bot instance is running")
_WEBHOOK_CONFLICT = ("Conflict: can't use getUpdates method while webhook is active; "
                     "use deleteWebhook to delete the webhook first")


@dataclass
class Call:
    """One request the bot made.

    ``at`` is ``time.monotonic()`` at arrival (subtract two to measure a
    retry delay); ``status`` is the HTTP status answered, 0 when the fake
    dropped the connection, None while a long poll is still waiting.
    """

    method: str
    params: dict
    at: float
    status: int | None = None
    content_type: str = ""  # of the request body: application/json, multipart/form-data...


@dataclass(frozen=True)
class Upload:
    """A file the bot uploaded in a multipart body."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class _Fault:
    status: int
    retry_after: int
    remaining: int
    disconnect: bool
    description: str | None


@dataclass
class _Queued:
    update: dict
    delivered: bool = False  # handed out by a getUpdates at least once


class ApiError(Exception):
    """An error answer (``{"ok": false, ...}``) from a method implementation."""

    def __init__(self, status: int, description: str, **parameters: Any):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _error_body(status: int, description: str, parameters: dict | None = None) -> dict:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _default_description(status: int, retry_after: int) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {retry_after}"
    if status == 403:
        return "Forbidden: bot was blocked by the user"
    if status == 400:
        return "Bad Request: injected failure"
    return HTTPStatus(status).phrase


def _utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _command_entities(text: str) -> list[dict]:
    """A bot_command entity when the text starts with a command, as clients add it."""
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]


def _unique_id(file_id: str) -> str:
    return f"u-{file_id}"


def _update_type(update: dict) -> str:
    return next(key for key in update if key != "update_id")


# --------------------------------------------------------------------------
# Request bodies


def _decode_value(name: str, value: Any) -> Any:
    if isinstance(value, web.FileField):
        return Upload(value.filename, value.content_type, value.file.read())
    if name in _TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # a plain string: "@channel", a file id, a URL...


def _resolve_attachments(value: Any, files: dict[str, Upload], used: set[str]) -> Any:
    """Replace ``attach://name`` references (top level or inside InputMedia)
    by the upload; collect the names used in ``used``."""
    if isinstance(value, str) and value.startswith("attach://"):
        name = value[len("attach://"):]
        if name in files:
            used.add(name)
            return files[name]
        return value
    if isinstance(value, list):
        return [_resolve_attachments(item, files, used) for item in value]
    if isinstance(value, dict):
        return {key: _resolve_attachments(item, files, used) for key, item in value.items()}
    return value


async def _read_params(request: web.Request) -> dict:
    params = {name: _decode_value(name, value) for name, value in request.query.items()}
    if request.content_type == "application/json" and request.can_read_body:
        params.update(await request.json())
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        params.update({name: _decode_value(name, value) for name, value in form.items()})
    # aiogram names a file part randomly and refers to it as attach://<name>:
    # put the file where it is referred to and drop the part itself.
    files = {name: value for name, value in params.items() if isinstance(value, Upload)}
    used: set[str] = set()
    params = _resolve_attachments(params, files, used)
    return {name: value for name, value in params.items() if name not in used}


# --------------------------------------------------------------------------
# The server


class FakeTelegram:
    """A Telegram Bot API server for one bot, on 127.0.0.1 and a free port."""

    def __init__(self, token: str = "123:abc", *, username: str = "shopbot_test_bot",
                 first_name: str = "Shopbot Test"):
        self.token = token
        self.bot_user = {
            "id": int(token.split(":", 1)[0]), "is_bot": True, "first_name": first_name,
            "username": username, "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": True,
        }
        self.url = ""
        self.calls: list[Call] = []
        self.chats: dict[int, dict] = {}
        self.users: dict[int, dict] = {}
        self.members: dict[tuple[int, int], str] = {}  # (chat_id, user_id) -> status
        self.messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> Message
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, data)
        self.declared_sizes: dict[str, int | None] = {}  # file_id -> file_size to report (a lie)
        self._queue: list[_Queued] = []
        self._last_update_id = 0
        self._message_ids: dict[int, int] = {}
        self._ids = itertools.count(1)  # callback/inline query ids, file ids
        self._allowed: set[str] | None = None  # None: Telegram's default set
        self._faults: dict[str, list[_Fault]] = {}
        self._poll_generation = 0
        self.webhook_url: str | None = None  # set: getUpdates answers 409, as Telegram's does
        self._closing = False
        # Swapped for a new Event at every change: a waiter awaits the one it saw.
        self._updates_changed = asyncio.Event()
        self._calls_changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[dict], Any]] = {
            "getme": lambda params: self.bot_user,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "deletemessage": self._delete_message,
            "sendphoto": self._send_photo,
            "getfile": self._get_file,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "leavechat": self._leave_chat,
            "answercallbackquery": _check_callback_answer,
            "answerinlinequery": _check_inline_answer,
            # Methods whose answer is True; listed so that they are not "unknown".
            **{name: lambda params: True for name in (
                "setmycommands",
                "deletemycommands", "sendchataction", "setmyname", "setmydescription",
                "close", "logout")},
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
        }

    # -- lifecycle -------------------------------------------------------
    async def __aenter__(self) -> "FakeTelegram":
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # handler_cancellation: a long poll whose client went away (stop_polling)
        # stops waiting instead of handing updates to nobody.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))  # port 0: the kernel picks a free port
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        self._notify_updates()  # waiting long polls answer now
        if self._runner is not None:
            await self._runner.cleanup()

    def bot(self, token: str | None = None) -> Bot:
        """An aiogram Bot whose session talks to this server."""
        session = _LocalSession(api=TelegramAPIServer.from_base(self.url))
        return Bot(token or self.token, session=session)

    # -- recorded calls --------------------------------------------------
    def sent(self, chat_id: int | str | None = None) -> list[dict]:
        """Params of the successful sendMessage, editMessageText and sendPhoto calls."""
        methods = {"sendmessage", "editmessagetext", "sendphoto"}
        return [c.params for c in self.calls
                if c.method.lower() in methods and c.status == 200
                and (chat_id is None or c.params.get("chat_id") == chat_id)]

    @property
    def unknown_calls(self) -> list[Call]:
        """Calls of methods this fake does not model (answered True)."""
        return [c for c in self.calls if c.method.lower() not in self._methods]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5,
                       predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        """Wait until ``count`` calls of ``method`` (case-insensitive) matching
        ``predicate`` have arrived since the start; return all of them.
        Raises AssertionError, listing the calls seen, after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matching = [c for c in self.calls if c.method.lower() == method.lower()
                        and (predicate is None or predicate(c))]
            remaining = deadline - loop.time()
            if len(matching) >= count:
                return matching
            if remaining <= 0:
                seen = [f"{c.method}({c.status})" for c in self.calls]
                raise AssertionError(f"waited {timeout}s for {count} {method} call(s), "
                                     f"got {len(matching)}; calls: {seen}")
            await self._wait(self._calls_changed, remaining)

    # -- fault injection -------------------------------------------------
    def fail_next(self, method: str, status: int = 429, retry_after: int = 1, times: int = 1,
                  *, disconnect: bool = False, description: str | None = None) -> None:
        """Make the next ``times`` calls of ``method`` fail: answer ``status``
        (429 carries ``parameters.retry_after``), or with ``disconnect=True``
        close the connection without an answer (aiogram: TelegramNetworkError)."""
        self._faults.setdefault(method.lower(), []).append(
            _Fault(status, retry_after, times, disconnect, description))

    def _take_fault(self, method: str) -> _Fault | None:
        faults = self._faults.get(method.lower(), [])
        while faults and faults[0].remaining <= 0:
            faults.pop(0)
        if not faults:
            return None
        faults[0].remaining -= 1
        return faults[0]

    # -- HTTP ------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(_error_body(401, "Unauthorized"), status=401)
        method = request.match_info["method"]
        content_type = request.content_type if request.body_exists else ""
        call = Call(method, await _read_params(request), time.monotonic(), content_type=content_type)
        self.calls.append(call)
        self._notify_calls()
        fault = self._take_fault(method)
        if fault and fault.disconnect:
            call.status = 0
            request.transport.close()  # the client sees ServerDisconnectedError
            return web.Response()
        if fault:
            description = fault.description or _default_description(fault.status, fault.retry_after)
            parameters = {"retry_after": fault.retry_after} if fault.status == 429 else {}
            return self._answer(call, ApiError(fault.status, description, **parameters))
        implementation = self._methods.get(method.lower(), lambda params: True)
        try:
            result = implementation(call.params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as error:
            return self._answer(call, error)
        return self._answer(call, result)

    def _answer(self, call: Call, outcome: Any) -> web.Response:
        if isinstance(outcome, ApiError):
            call.status = outcome.status
            body = _error_body(outcome.status, outcome.description, outcome.parameters)
        else:
            call.status = 200
            body = {"ok": True, "result": outcome}
        self._notify_calls()
        return web.json_response(body, status=call.status)

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        for file_path, data in self.files.values():
            if file_path == request.match_info["path"]:
                return web.Response(body=data)
        return web.Response(status=404)

    # -- change notification ----------------------------------------------
    def _notify_calls(self) -> None:
        self._calls_changed.set()
        self._calls_changed = asyncio.Event()

    def _notify_updates(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def _set_webhook(self, params: dict) -> bool:
        self.webhook_url = params.get("url") or None  # an empty url removes it
        return True

    def _delete_webhook(self, params: dict) -> bool:
        self.webhook_url = None
        return True

    # -- getUpdates --------------------------------------------------------
    async def _get_updates(self, params: dict) -> list[dict]:
        if self.webhook_url:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_updates()  # an older waiting poll wakes up and answers 409
        if params.get("allowed_updates") is not None:
            self._allowed = set(params["allowed_updates"]) or None
        self._confirm(params.get("offset"))
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params.get("timeout") or 0)
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, _CONFLICT)
            batch = self._deliverable()[:limit]
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                break
            await self._wait(self._updates_changed, remaining)
        for queued in batch:
            queued.delivered = True
        return [queued.update for queued in batch]

    def _confirm(self, offset: int | None) -> None:
        """Forget confirmed updates. Only updates already handed out count as
        confirmed: an update the test enqueued again with an old id (a
        redelivery) is still delivered once."""
        if offset is None:
            return
        if offset < 0:  # Telegram: keep the last -offset updates, forget the rest
            self._queue = self._queue[offset:]
            return
        self._queue = [q for q in self._queue
                       if not (q.delivered and q.update["update_id"] < offset)]

    def _deliverable(self) -> list[_Queued]:
        """The queue, without the updates allowed_updates excludes (dropped for good)."""
        def allowed(queued: _Queued) -> bool:
            kind = _update_type(queued.update)
            return kind in self._allowed if self._allowed else kind not in _OPT_IN_UPDATES

        self._queue = [q for q in self._queue if allowed(q)]
        return self._queue

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by the bot's next getUpdates
        (which it sends only after it has started handling them)."""
        return len(self._queue)

    # -- enqueuing updates -------------------------------------------------
    def enqueue(self, update: dict) -> dict:
        """Queue an update as it is (an ``update_id`` is added when missing).
        Queue the same dict again to simulate a redelivery."""
        if "update_id" not in update:
            update = {"update_id": self._last_update_id + 1, **update}
        self._last_update_id = max(self._last_update_id, update["update_id"])
        self._queue.append(_Queued(update))
        self._notify_updates()
        return update

    def message(self, chat_id: int, user_id: int, text: str, *, chat_type: str = "private",
                language_code: str = "en", first_name: str = "User",
                reply_to: int | dict | None = None, entities: list[dict] | None = None,
                message_id: int | None = None) -> dict:
        """A user writes ``text``; commands get their bot_command entity."""
        message = self._user_message(chat_id, user_id, chat_type, language_code, first_name,
                                     message_id, reply_to)
        message["text"] = text
        entities = _command_entities(text) if entities is None else entities
        if entities:
            message["entities"] = entities
        return self.enqueue({"message": message})

    def edited_message(self, chat_id: int, user_id: int, text: str, *, message_id: int,
                       chat_type: str = "private", language_code: str = "en",
                       first_name: str = "User") -> dict:
        """A user edits their message ``message_id`` to ``text``."""
        original = self.messages.get((chat_id, message_id))
        message = dict(original) if original else self._user_message(
            chat_id, user_id, chat_type, language_code, first_name, message_id, None)
        message.update(text=text, edit_date=int(time.time()))
        message.pop("entities", None)
        if entities := _command_entities(text):
            message["entities"] = entities
        self.messages[(chat_id, message_id)] = message
        return self.enqueue({"edited_message": message})

    def photo_message(self, chat_id: int, user_id: int, *, caption: str | None = None,
                      data: bytes = b"\xff\xd8\xff fake jpeg", width: int = 1280,
                      height: int = 960, chat_type: str = "private", language_code: str = "en",
                      first_name: str = "User", message_id: int | None = None,
                      sizes: list[dict] | None = None, file_size: int | None | bool = True) -> dict:
        """A user sends a photo (a thumbnail and the full size; getFile serves ``data``).
        ``sizes``: the ``photo`` of an earlier update, to send the same photo
        again (same ``file_unique_id``, as Telegram does for a resent photo).
        ``file_size``: True, the real size; None, left out; a number, that lie
        (in the update and in getFile, as a self-hosted server may)."""
        message = self._user_message(chat_id, user_id, chat_type, language_code, first_name,
                                     message_id, None)
        message["photo"] = sizes if sizes is not None else self._photo_sizes(data, width, height)
        if file_size is not True:
            for size in message["photo"]:
                self.declared_sizes[size["file_id"]] = file_size
                size.pop("file_size", None)
                if file_size is not None:
                    size["file_size"] = file_size
        if caption is not None:
            message["caption"] = caption
        return self.enqueue({"message": message})

    def document_message(self, chat_id: int, user_id: int, *, file_name: str = "notes.txt",
                         data: bytes = b"hello", mime_type: str = "text/plain",
                         caption: str | None = None, chat_type: str = "private",
                         language_code: str = "en", first_name: str = "User",
                         message_id: int | None = None) -> dict:
        """A user sends a file (getFile and the download serve ``data``)."""
        message = self._user_message(chat_id, user_id, chat_type, language_code, first_name,
                                     message_id, None)
        file_id, unique_id = self._register_file(data, "documents", file_name)
        message["document"] = {"file_id": file_id, "file_unique_id": unique_id,
                               "file_name": file_name, "mime_type": mime_type,
                               "file_size": len(data)}
        if caption is not None:
            message["caption"] = caption
        return self.enqueue({"message": message})

    def callback_query(self, user_id: int, data: str, message: dict | int | None = None, *,
                       chat_id: int | None = None, language_code: str = "en",
                       first_name: str = "User") -> dict:
        """A user presses an inline button. ``message``: the Message dict the
        button is on, or its message_id in ``chat_id`` (default: the user's
        private chat), or None for the last message the bot sent there."""
        chat_id = user_id if chat_id is None else chat_id
        if not isinstance(message, dict):
            message = self._find_message(chat_id, message)
        query = {"id": str(next(self._ids)),
                 "from": self._user(user_id, first_name, language_code),
                 "chat_instance": f"ci{chat_id}", "data": data, "message": message}
        return self.enqueue({"callback_query": query})

    def inline_query(self, user_id: int, query: str, *, offset: str = "",
                     chat_type: str = "sender", language_code: str = "en",
                     first_name: str = "User") -> dict:
        """A user types ``@shopbot_test_bot query`` in some chat."""
        inline = {"id": str(next(self._ids)),
                  "from": self._user(user_id, first_name, language_code),
                  "query": query, "offset": offset, "chat_type": chat_type}
        return self.enqueue({"inline_query": inline})

    def my_chat_member(self, chat_id: int, user_id: int, new_status: str = "member", *,
                       old_status: str = "left", chat_type: str = "group",
                       first_name: str = "User") -> dict:
        """User ``user_id`` changes the bot's membership of a chat (default: adds
        it to a group). The bot's status is remembered for getChatMember."""
        chat = self._chat(chat_id, chat_type, first_name)
        self.members[(chat_id, self.bot_user["id"])] = new_status
        change = {"chat": chat, "from": self._user(user_id, first_name, "en"),
                  "date": int(time.time()),
                  "old_chat_member": _member(self.bot_user, old_status),
                  "new_chat_member": _member(self.bot_user, new_status)}
        return self.enqueue({"my_chat_member": change})

    # -- chats, users, messages ------------------------------------------------
    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers for this user (default "member")."""
        self.members[(chat_id, user_id)] = status

    def _chat(self, chat_id: int, chat_type: str | None = None, first_name: str = "User") -> dict:
        """The chat, registered on first sight (unknown ids: private if positive)."""
        known = self.chats.get(chat_id)
        if known and (chat_type is None or known["type"] == chat_type):
            return known
        chat_type = chat_type or ("private" if chat_id > 0 else "supergroup")
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": first_name}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}
        self.chats[chat_id] = chat
        return chat

    def _user(self, user_id: int, first_name: str, language_code: str) -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": first_name,
                "language_code": language_code}
        self.users[user_id] = user
        return user

    def _next_message_id(self, chat_id: int, wanted: int | None = None) -> int:
        """Message ids count up per chat, users' and the bot's messages alike."""
        message_id = wanted if wanted is not None else self._message_ids.get(chat_id, 0) + 1
        self._message_ids[chat_id] = max(message_id, self._message_ids.get(chat_id, 0))
        return message_id

    def _new_message(self, chat: dict, sender: dict, message_id: int | None,
                     reply_to: int | dict | None) -> dict:
        message = {"message_id": self._next_message_id(chat["id"], message_id),
                   "from": sender, "chat": chat, "date": int(time.time())}
        if reply_to is not None:
            replied = reply_to if isinstance(reply_to, dict) else self.messages.get(
                (chat["id"], reply_to))
            if replied is not None:  # Telegram nests one level only
                message["reply_to_message"] = {k: v for k, v in replied.items()
                                               if k != "reply_to_message"}
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _user_message(self, chat_id, user_id, chat_type, language_code, first_name,
                      message_id, reply_to) -> dict:
        return self._new_message(self._chat(chat_id, chat_type, first_name),
                                 self._user(user_id, first_name, language_code),
                                 message_id, reply_to)

    def _find_message(self, chat_id: int, message_id: int | None) -> dict:
        if message_id is None:
            bot_id = self.bot_user["id"]
            mine = [m for (chat, _), m in self.messages.items()
                    if chat == chat_id and m["from"]["id"] == bot_id]
            if not mine:
                raise LookupError(f"the bot has sent no message to chat {chat_id}")
            return mine[-1]
        return self.messages[(chat_id, message_id)]

    def _register_file(self, data: bytes, folder: str, name: str) -> tuple[str, str]:
        """A new file id (and unique id) whose getFile path serves ``data``."""
        number = next(self._ids)
        file_id = f"file{number}"
        self.files[file_id] = (f"{folder}/{number}-{name}", data)
        return file_id, _unique_id(file_id)

    def _photo_sizes(self, data: bytes, width: int, height: int) -> list[dict]:
        sizes = []
        for scale in (320 / max(width, height, 320), 1):  # a thumbnail, then the photo
            file_id, unique_id = self._register_file(data, "photos", "photo.jpg")
            sizes.append({"file_id": file_id, "file_unique_id": unique_id,
                          "width": round(width * scale), "height": round(height * scale),
                          "file_size": len(data)})
        return sizes

    # -- method implementations ------------------------------------------------
    def _bot_message(self, params: dict) -> dict:
        reply = params.get("reply_parameters") or {}
        reply_to = reply.get("message_id") or params.get("reply_to_message_id")
        message = self._new_message(self._chat(params["chat_id"]), self.bot_user, None, reply_to)
        _set_markup(message, params)
        return message

    def _send_message(self, params: dict) -> dict:
        _check_text(params)
        _check_markup(params.get("reply_markup"))
        message = self._bot_message(params)
        message["text"] = params["text"]
        if params.get("entities"):
            message["entities"] = params["entities"]
        return message

    def _edit_message_text(self, params: dict) -> dict | bool:
        _check_text(params)
        _check_markup(params.get("reply_markup"))
        if "inline_message_id" in params:
            return True  # messages sent via inline mode are not the bot's to show
        message = self.messages.get((params.get("chat_id"), params.get("message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if (message.get("text") == params["text"]
                and message.get("reply_markup") == _inline_markup(params)):
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                                "content and reply markup are exactly the same as a current "
                                "content and reply markup of the message")
        message.update(text=params["text"], edit_date=int(time.time()))
        _set_markup(message, params)  # no reply_markup in the edit removes the keyboard
        return message

    def _delete_message(self, params: dict) -> bool:
        if self.messages.pop((params.get("chat_id"), params.get("message_id")), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _send_photo(self, params: dict) -> dict:
        _check_caption(params)
        _check_markup(params.get("reply_markup"))
        photo = params.get("photo")
        data = photo.data if isinstance(photo, Upload) else str(photo).encode()
        message = self._bot_message(params)
        message["photo"] = self._photo_sizes(data, 1280, 960)
        if params.get("caption"):
            message["caption"] = params["caption"]
        return message

    def _get_file(self, params: dict) -> dict:
        file_id = params.get("file_id")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        file_path, data = self.files[file_id]
        size = self.declared_sizes.get(file_id, len(data))
        return {"file_id": file_id, "file_unique_id": _unique_id(file_id), "file_path": file_path,
                **({"file_size": size} if size is not None else {})}

    def _get_chat(self, params: dict) -> dict:
        return {**self._chat(params["chat_id"]), "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False,
                                        "unique_gifts": False, "premium_subscription": False,
                                        "gifts_from_channels": False}}

    def _get_chat_member(self, params: dict) -> dict:
        chat_id, user_id = params["chat_id"], params["user_id"]
        user = (self.bot_user if user_id == self.bot_user["id"]
                else self.users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "User"}))
        return _member(user, self.members.get((chat_id, user_id), "member"))

    def _get_chat_administrators(self, params: dict) -> list[dict]:
        chat_id = params["chat_id"]
        return [self._get_chat_member({"chat_id": chat_id, "user_id": user_id})
                for (chat, user_id), status in self.members.items()
                if chat == chat_id and status in ("creator", "administrator")]

    def _leave_chat(self, params: dict) -> bool:
        self.members[(params["chat_id"], self.bot_user["id"])] = "left"
        return True


# --------------------------------------------------------------------------
# Validation, as the Bot API does it (https://core.telegram.org/bots/api:
# "Formatting options", sendMessage, InlineKeyboardButton, answerCallbackQuery,
# answerInlineQuery). A bot test then checks the bot's escaping for free.

#: The tags of parse_mode HTML ("Only the tags mentioned above are currently supported").
_HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
                        "tg-spoiler", "a", "code", "pre", "blockquote", "tg-emoji", "tg-time"})
#: "The API currently supports only the following named HTML entities".
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]*));")
_HTML_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_HTML_ATTR_RE = re.compile(r"""\s+([A-Za-z][A-Za-z0-9-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_MAX_CAPTION = 1024
_MAX_CALLBACK_DATA = 64  # bytes
_MAX_CALLBACK_ANSWER = 200
_MAX_INLINE_RESULTS = 50
_MAX_RESULT_ID = 64  # bytes


def _entities_error(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {what}")


def parse_html(text: str) -> str:
    """The plain text of a parse_mode HTML text, or ApiError 400 "can't parse
    entities" where Telegram refuses it: a tag it does not support, an end
    tag that closes nothing or the wrong tag, a tag left open, an entity it
    does not know (only &lt; &gt; &amp; &quot; and numeric ones).

    One way stricter than the server: a bare ``&`` or ``>`` that is not part
    of a tag or entity is refused, as the docs require ("must be replaced
    with the corresponding HTML entities"); the server shows them as they
    are, but text that holds one unescaped was never escaped at all."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        offset = len(text[:i].encode("utf-8", "surrogatepass"))  # Telegram says byte offset
        ch = text[i]
        if ch == "&":
            m = _HTML_ENTITY_RE.match(text, i)
            if m is None:
                raise _entities_error(f"Unescaped \"&\" at byte offset {offset}")
            decimal, hexadecimal, name = m.groups()
            if name is not None:
                if name not in _HTML_NAMED:
                    raise _entities_error(f"Unsupported HTML entity \"&{name};\" at byte offset {offset}")
                out.append(_HTML_NAMED[name])
            else:
                code = int(decimal) if decimal is not None else int(hexadecimal, 16)
                if not 0 < code <= 0x10FFFF:
                    raise _entities_error(f"Invalid HTML entity at byte offset {offset}")
                out.append(chr(code))
            i = m.end()
        elif ch == ">":
            raise _entities_error(f"Unescaped \">\" at byte offset {offset}")
        elif ch != "<":
            out.append(ch)
            i += 1
        elif text.startswith("</", i):
            m = _HTML_NAME_RE.match(text, i + 2)
            end = text.find(">", i)
            if end < 0:
                raise _entities_error(f"Unclosed end tag at byte offset {offset}")
            name = text[i + 2:end].strip().lower()
            if not stack:
                raise _entities_error(f"Unexpected end tag at byte offset {offset}")
            if m is None or name != stack[-1]:
                raise _entities_error(f"Unmatched end tag at byte offset {offset}, expected "
                                      f"\"</{stack[-1]}>\", found \"</{name}>\"")
            stack.pop()
            i = end + 1
        else:
            m = _HTML_NAME_RE.match(text, i + 1)
            if m is None:
                raise _entities_error(f"Unsupported start tag at byte offset {offset}")
            name = m.group().lower()
            if name not in _HTML_TAGS:
                raise _entities_error(f"Unsupported start tag \"{name}\" at byte offset {offset}")
            j, attributes = m.end(), {}
            while (attr := _HTML_ATTR_RE.match(text, j)) is not None:
                value = next((v for v in attr.groups()[1:] if v is not None), "")
                attributes[attr.group(1).lower()] = value
                j = attr.end()
            while j < len(text) and text[j].isspace():
                j += 1
            if j >= len(text) or text[j] != ">":
                raise _entities_error(f"Unclosed start tag at byte offset {offset}")
            if name == "span" and attributes.get("class") != "tg-spoiler":
                raise _entities_error(f"Tag \"span\" must have class \"tg-spoiler\" at byte offset {offset}")
            if name == "a" and "href" not in attributes:
                attributes["href"] = ""  # Telegram: a link without href is plain text
            stack.append(name)
            i = j + 1
    if stack:
        raise _entities_error(f"Can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


def _plain(params: dict, field: str) -> str:
    """The text of ``field`` as the user will see it (HTML parsed when asked)."""
    text = params.get(field) or ""
    if not isinstance(text, str):
        raise ApiError(400, f"Bad Request: field \"{field}\" must be of type String")
    mode = (params.get("parse_mode") or "").lower()
    return parse_html(text) if mode == "html" else text


def _check_text(params: dict) -> None:
    """Text of 1-4096 characters after entities parsing (sendMessage, editMessageText)."""
    plain = _plain(params, "text")
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(plain) > _MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")


def _check_caption(params: dict) -> None:
    """Caption of 0-1024 characters after entities parsing."""
    if len(_plain(params, "caption")) > _MAX_CAPTION:
        raise ApiError(400, "Bad Request: message caption is too long")


def _check_markup(markup: Any) -> None:
    """Inline keyboards: callback_data of 1-64 bytes, a text on every button."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return
    for row in markup["inline_keyboard"]:
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode("utf-8")) <= _MAX_CALLBACK_DATA:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _check_callback_answer(params: dict) -> bool:
    if not params.get("callback_query_id"):
        raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
    if len(params.get("text") or "") > _MAX_CALLBACK_ANSWER:
        raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
    return True


def _check_inline_answer(params: dict) -> bool:
    """answerInlineQuery: at most 50 results, unique ids of 1-64 bytes, and
    each result's message valid as a sent message would be."""
    results = params.get("results")
    if isinstance(results, str):
        results = json.loads(results)
    if not isinstance(results, list):
        raise ApiError(400, "Bad Request: can't parse inline query results JSON object")
    if len(results) > _MAX_INLINE_RESULTS:
        raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
    seen = set()
    for result in results:
        rid = str(result.get("id", ""))
        if not 1 <= len(rid.encode("utf-8")) <= _MAX_RESULT_ID:
            raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
        if rid in seen:
            raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        seen.add(rid)
        if result.get("type") == "article" and not result.get("title"):
            raise ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            _check_text({"text": content["message_text"], "parse_mode": content.get("parse_mode")})
        _check_markup(result.get("reply_markup"))
    return True


def _inline_markup(params: dict) -> dict | None:
    """A Message shows inline keyboards only; reply keyboards live on the client."""
    markup = params.get("reply_markup")
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _set_markup(message: dict, params: dict) -> None:
    markup = _inline_markup(params)
    if markup:
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)


_ADMIN_RIGHTS = ("can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                 "can_restrict_members", "can_promote_members", "can_change_info",
                 "can_invite_users", "can_post_stories", "can_edit_stories",
                 "can_delete_stories", "can_send_welcome_messages")
_MEMBER_RIGHTS = ("can_send_messages", "can_send_audios", "can_send_documents",
                  "can_send_photos", "can_send_videos", "can_send_video_notes",
                  "can_send_voice_notes", "can_send_polls", "can_send_other_messages",
                  "can_add_web_page_previews", "can_react_to_messages", "can_edit_tag",
                  "can_change_info", "can_invite_users", "can_pin_messages",
                  "can_manage_topics")


def _member(user: dict, status: str) -> dict:
    """A ChatMember object with the fields its status requires."""
    member: dict[str, Any] = {"user": user, "status": status}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(can_be_edited=False, is_anonymous=False,
                      **dict.fromkeys(_ADMIN_RIGHTS, True))
    elif status == "restricted":
        member.update(is_member=True, until_date=0, **dict.fromkeys(_MEMBER_RIGHTS, False))
    elif status == "kicked":
        member["until_date"] = 0
    return member


# --------------------------------------------------------------------------
# Running aiogram against the fake


class _LocalSession(AiohttpSession):
    """AiohttpSession.close sleeps 250 ms to let TLS connections close; plain
    HTTP on 127.0.0.1 has none, and the tests close many sessions."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


@asynccontextmanager
async def polling(tg: FakeTelegram, dp: Dispatcher, bot: Bot, **kwargs: Any) -> AsyncIterator[None]:
    """Run ``dp.start_polling(bot)`` (1 s long polls) for the ``async with``
    block; the block starts once the first getUpdates arrived."""
    started = time.monotonic()
    kwargs = {"handle_signals": False, "polling_timeout": 1, **kwargs}
    task = asyncio.create_task(dp.start_polling(bot, **kwargs))
    try:
        await tg.wait_for("getUpdates", predicate=lambda call: call.at >= started)
        yield
    finally:
        if not task.done():
            await dp.stop_polling()
        await task
