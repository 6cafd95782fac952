"""Router-level filters shared by the feature routers."""

from __future__ import annotations

from aiogram.types import TelegramObject

from bot.people import can


async def known(event: TelegramObject, person=None) -> bool:
    """The sender has a role: strangers get nothing but the access message."""
    return person is not None


def at_least(role: str):
    async def check(event: TelegramObject, person=None) -> bool:
        return person is not None and can(person.role, role)

    return check


async def private(event: TelegramObject) -> bool:
    chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
    return chat is not None and chat.type == "private"
