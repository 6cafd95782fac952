"""Groups: registration (/setup), leaving unregistered groups, and automatic
translation of each message into the group's other languages."""

from __future__ import annotations

import asyncio
import logging
import time

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import ChatMemberUpdated, Message
from aiogram.utils.i18n import gettext as _

from bot.people import chats
from bot.people.directory import PeopleError, can
from bot.translation.engine import TranslationError
from glossary import LANGS

from .filters import on
from .render import FLAGS, LIMIT, q, quoted_pieces


log = logging.getLogger("shopbot")

GROUP_RATE = 20  # messages a minute Telegram allows a bot in one group
MERGE_LIMIT = 3500
PIECE_LIMIT = 4000  # one reply's text, under Telegram's 4,096


class Outbox:
    """Replies to one group, within Telegram's 20 messages a minute.

    When the budget is spent, translations wait and leave together in one
    merged message as soon as the budget allows: a burst is merged, never
    dropped."""

    def __init__(self, bot: Bot, app, chat_id: int):
        self.bot, self.app, self.chat_id = bot, app, chat_id
        self.tokens = float(GROUP_RATE)
        self.stamp = time.monotonic()
        self.pending: list[tuple[int, str]] = []
        self.flusher: asyncio.Task | None = None

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(GROUP_RATE, self.tokens + (now - self.stamp) * GROUP_RATE / 60)
        self.stamp = now

    async def submit(self, message_id: int, block: str) -> None:
        self.pending.append((message_id, block))
        self._refill()
        if self.tokens >= 1 and self.flusher is None:
            await self._send()
        elif self.flusher is None:
            self.flusher = asyncio.create_task(self._later())

    async def _later(self) -> None:
        try:
            while self.pending:
                self._refill()
                if self.tokens < 1:
                    await asyncio.sleep((1 - self.tokens) * 60 / GROUP_RATE)
                    continue
                await self._send()
        finally:
            self.flusher = None

    async def _send(self) -> None:
        batch, size = [], 0
        while self.pending and (not batch or size + len(self.pending[0][1]) < MERGE_LIMIT):
            batch.append(self.pending.pop(0))
            size += len(batch[-1][1])
        self.tokens -= 1
        text = "\n\n".join(block for _, block in batch)
        sent = await self.bot.send_message(self.chat_id, text, reply_to_message_id=batch[-1][0],
                                           allow_sending_without_reply=True)
        await self.app.storage.awrite(chats.record, self.chat_id, batch, sent.message_id)


def outbox(outboxes: dict, bot: Bot, app, chat_id: int) -> Outbox:
    """The outbox of one group. ``outboxes`` lives in the Dispatcher's data:
    one registry per running bot, not a module global."""
    box = outboxes.get(chat_id)
    if box is None:
        box = outboxes[chat_id] = Outbox(bot, app, chat_id)
    return box


async def render_translations(app, text: str, langs: list[str], prior: str | None) -> list[str]:
    """One line per other language of the group, "🇫🇷 text", in as few pieces
    of at most PIECE_LIMIT characters as it takes (usually one): whole
    language lines while they fit, a longer line cut at sentences. Four
    languages of an 800-character message came to 4,711 characters, which
    Telegram refused: the translation was lost."""
    lines: list[str] = []
    source = None
    for target in langs:
        try:
            result = await app.engine.atranslate(text, target, prior=prior)
        except TranslationError:
            continue
        source = result.source
        app.usage.translated(result)
        if result.provenance != "unchanged" and result.source != target:
            flag = FLAGS[target]
            lines += [f"{flag} {piece}" for piece in quoted_pieces(result.text, PIECE_LIMIT - len(flag) - 1)]
    if not (lines and source):
        return []
    pieces = [lines[0]]
    for line in lines[1:]:
        if len(pieces[-1]) + 1 + len(line) <= PIECE_LIMIT:
            pieces[-1] += "\n" + line
        else:
            pieces.append(line)
    return pieces


async def added(event: ChatMemberUpdated, bot: Bot, people, person):
    if event.chat.type not in ("group", "supergroup"):
        return
    if event.new_chat_member.status not in ("member", "administrator"):
        return
    group = await people.get_group(event.chat.id)
    if group is not None:
        return
    if person is not None and can(person.role, "lead"):
        await bot.send_message(event.chat.id, _(
            "Hello! Register this group with /setup and its languages, e.g. /setup fr zh auto"))
    else:
        await bot.leave_chat(event.chat.id)


async def setup(message: Message, command: CommandObject, people, person):
    args = (command.args or "").lower().split()
    langs = [a for a in args if a in LANGS]
    auto = "off" not in args
    if person is None or not can(person.role, "lead"):
        await message.reply(_("Only a lead or an admin can set up a group."))
        return
    if not langs or any(a not in LANGS and a not in ("auto", "off") for a in args):
        await message.reply(_("Usage: /setup LANGS [auto|off], e.g. /setup fr zh auto"))
        return
    try:
        await people.register_group(message.chat.id, message.chat.title or "", langs, auto, person.user_id)
    except PeopleError as exc:
        await message.reply(q(str(exc)))
        return
    state = _("on") if auto else _("off")
    await message.reply(_("Group registered: {langs}; automatic translation {state}.").format(
        langs=" ".join(langs), state=state))


async def group_message(message: Message, bot: Bot, app, people, person, outboxes: dict):
    group = await people.get_group(message.chat.id)
    if group is None:
        if person is None or not can(person.role, "lead"):
            await bot.leave_chat(message.chat.id)
        return
    user = message.from_user
    if user is None or user.is_bot or message.via_bot:
        return
    if person is None:  # a member of a registered group is an operator
        person = await people.join_from_group(user.id, message.chat.id, user.full_name, user.language_code)
    text = message.text or message.caption
    if not group.auto_translate or not text or text.startswith("/"):
        return
    pieces = await render_translations(app, text, group.langs, person.lang if person else None)
    box = outbox(outboxes, bot, app, message.chat.id)
    for piece in pieces:
        await box.submit(message.message_id, piece)


async def edited(message: Message, bot: Bot, app, people, person, outboxes: dict):
    group = await people.get_group(message.chat.id)
    text = message.text or message.caption
    if group is None or not group.auto_translate or not text:
        return
    pieces = await render_translations(app, text, group.langs, person.lang if person else None)
    if not pieces:
        return
    if len(pieces) == 1:  # edit the reply that carries it, if it still fits there
        found = await app.storage.awrite(chats.update_block, message.chat.id, message.message_id, pieces[0])
        if found is not None and len(merged := "\n\n".join(found[1])) <= LIMIT:
            try:
                await bot.edit_message_text(merged, chat_id=message.chat.id, message_id=found[0])
                return
            except TelegramBadRequest as exc:  # too old to edit, deleted...: a new reply
                log.info("group %s: reply %s not edited (%s): sent anew", message.chat.id, found[0], exc)
    box = outbox(outboxes, bot, app, message.chat.id)
    for piece in pieces:
        await box.submit(message.message_id, piece)


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="groups")
    router.message.filter(on(F.chat.type.in_({"group", "supergroup"})))
    router.edited_message.filter(on(F.chat.type.in_({"group", "supergroup"})))
    router.my_chat_member()(added)
    router.message(Command("setup"))(setup)
    router.message()(group_message)
    router.edited_message()(edited)
    return router
