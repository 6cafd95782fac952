"""Router-level filters shared by the feature routers."""

from __future__ import annotations

from aiogram.fsm.state import StatesGroup
from aiogram.types import Message, TelegramObject

from bot.people.directory import can


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


def is_command(text: str | None) -> bool:
    return bool(text) and text.startswith("/")


async def command(message: Message) -> bool:
    """A /command (in the text, or a photo's caption, as aiogram's Command reads it)."""
    return is_command(message.text or message.caption)


def command_or_in(*dialogues: type[StatesGroup]):
    """A /command, or any message while the person is in one of these dialogues.

    As a router-level filter it lets an ordinary message skip, in one check,
    a router whose message handlers are all commands or dialogue steps,
    instead of trying each of their filters in turn (the bulk of the
    dispatching cost when hundreds of messages a second come in)."""
    states = {state.state for dialogue in dialogues for state in dialogue.__all_states__}

    async def check(message: Message, raw_state: str | None = None) -> bool:
        return raw_state in states or is_command(message.text or message.caption)

    return check


async def outside_dialogue(message: Message, raw_state: str | None = None) -> bool:
    """No dialogue (FSM state) in progress: free text is a lookup or a
    sentence to translate, not the answer to a dialogue's question."""
    return raw_state is None
