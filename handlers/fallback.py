"""Last stop for a known person's message that no feature took."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from .filters import known, on, private


async def not_text(message: Message):
    await message.answer(_("I can only read text messages."))


async def unknown_command(message: Message):
    # A command nobody above took (unknown, or above this person's role).
    await message.answer(_("I do not know this command. /help lists what you can do."))


async def lost_dialogue(message: Message, state: FSMContext):
    # Free text reaches this far only inside a dialogue that no router knows:
    # a state saved by an older version. End it rather than drop every
    # message this person sends from now on.
    await state.clear()
    await message.answer(_("Your earlier conversation with me had ended. Please send that again."))


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="fallback")
    router.message.filter(private, known)
    router.message(on(~F.text))(not_text)
    router.message(on(F.text.startswith("/")))(unknown_command)
    router.message(on(F.text))(lost_dialogue)
    return router
