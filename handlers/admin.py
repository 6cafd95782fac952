"""People management for leads and admins: /invite, /users, /promote, /demote, /remove."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.people.directory import ROLES, PeopleError

from .filters import at_least, command, private
from .render import pack, parse_int, q



async def invite(message: Message, command: CommandObject, bot: Bot, people, person):
    role = (command.args or "operator").strip().lower()
    if role not in ROLES:
        await message.answer(_("Usage: /invite ROLE, one of: {roles}").format(roles=", ".join(ROLES)))
        return
    try:
        code = await people.create_invite(role, person.user_id)
    except PeopleError as exc:
        await message.answer(q(str(exc)))
        return
    me = await bot.me()
    await message.answer(_("One-time invite for a {role}, valid until {expires} (UTC):").format(
        role=role, expires=code.expires_at.strftime("%Y-%m-%d %H:%M"))
        + f"\n<code>/start {q(code.code)}</code>\n{q(code.link(me.username))}")


async def users(message: Message, people):
    rows = [f"<code>{p.user_id}</code> {q(p.role)} · {q(p.label)} · {q(p.lang)}"
            for p in await people.list()]
    for text in pack(rows or [_("Nobody yet.")]):
        await message.answer(text)


async def _change(message: Message, command: CommandObject, people, person, action: str):
    args = (command.args or "").split()
    user_id = parse_int(args[0]) if args else None
    if user_id is None or (action != "remove" and len(args) < 2):
        await message.answer(_("Usage: /promote ID ROLE, /demote ID ROLE, /remove ID"))
        return
    try:
        if action == "remove":
            await people.remove(user_id, person.user_id)
            await message.answer(_("Removed {id}.").format(id=user_id))
        else:
            role = args[1].lower()
            await people.set_role(user_id, role, person.user_id)
            await message.answer(_("{id} is now {role}.").format(id=user_id, role=q(role)))
    except PeopleError as exc:
        await message.answer(q(str(exc)))


async def promote(message: Message, command: CommandObject, people, person):
    await _change(message, command, people, person, "promote")


async def demote(message: Message, command: CommandObject, people, person):
    await _change(message, command, people, person, "demote")


async def remove(message: Message, command: CommandObject, people, person):
    await _change(message, command, people, person, "remove")


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="admin")
    router.message.filter(command, private, at_least("lead"))
    router.message(Command("invite"))(invite)
    router.message(Command("users"))(users)
    router.message(Command("promote"))(promote)
    router.message(Command("demote"))(demote)
    router.message(Command("remove"))(remove)
    return router
