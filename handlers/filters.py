"""Router-level filters shared by the feature routers."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject
from aiogram.utils.magic_filter import MagicFilter

from bot.people.directory import can


def on(*checks) -> "OnLoop":
    """``on(F.data.startswith("fx:"))``: these synchronous checks, on the event loop."""
    return OnLoop(*checks)


class OnLoop(Filter):
    """Synchronous checks (magic ``F`` filters, FSM states, plain functions of
    the event), all of which must hold, checked on the event loop.

    aiogram runs a filter that is not a coroutine function in a worker thread
    (``asyncio.to_thread``): some fifteen thread round trips per private
    message, for checks that take microseconds. A ``Filter`` subclass is
    awaited in place, so every synchronous check goes through this one
    (``tests/telegram/test_bot.py`` checks that no filter is left to a thread).
    """

    def __init__(self, *checks) -> None:
        self.checks = checks

    async def __call__(self, event: TelegramObject, raw_state: str | None = None) -> bool:
        for check in self.checks:
            if isinstance(check, State):
                ok = check(event, raw_state)
            elif isinstance(check, MagicFilter):
                ok = check.resolve(event)
            else:
                ok = check(event)
            if not ok:
                return False
        return True


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
