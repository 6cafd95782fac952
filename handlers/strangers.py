"""Everyone without a role: one polite message on how to get access."""

from __future__ import annotations

import time

from aiogram import Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from .filters import private


# Answer a stranger at most once an hour: no conversation, no amplification.
QUIET_SECONDS = 3600


async def stranger_message(message: Message, person, answered_strangers: dict):
    """``answered_strangers`` (user id → when) lives in the Dispatcher's data."""
    if person is not None or message.from_user is None:
        return
    now = time.monotonic()
    if now - answered_strangers.get(message.from_user.id, -QUIET_SECONDS) < QUIET_SECONDS:
        return
    if len(answered_strangers) > 50_000:
        answered_strangers.clear()
    answered_strangers[message.from_user.id] = now
    await message.answer(_(
        "Hello! This assistant is for the teams of this factory. "
        "Ask your team lead for an invite code, then send /start CODE."))


async def stranger_callback(callback: CallbackQuery, person):
    await callback.answer()


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="strangers")
    router.message(private)(stranger_message)
    router.callback_query()(stranger_callback)
    return router
