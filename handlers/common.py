"""/start (with an invite code), /lang, /help."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot.people.directory import InviteError, can, language_from_telegram
from glossary import LANGS
from glossary.model import LANG_NAMES

from .filters import command, known, on, private


def language_keyboard(proposed: str, prefix: str) -> InlineKeyboardMarkup:
    order = [proposed] + [code for code in LANGS if code != proposed]
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=("✓ " if code == proposed else "") + LANG_NAMES[code],
                             callback_data=f"{prefix}:{code}")
        for code in order
    ]])


def help_text(person) -> str:
    lines = [
        _("Send me an equipment word to see it in every language, or a sentence to translate it."),
        _("/term WORD: look up a term"),
        _("/to LANG: translate into LANG (zh, ko, ms, fr, en)"),
        _("/tr (in reply to a message): translate that message"),
        _("/lang: change my language"),
        _("/fix WORDS or CODE: find a troubleshooting fix"),
        _("A photo of a machine screen, an alarm or a label: I read it and find the fix for its alarm code"),
    ]
    if person is not None and can(person.role, "trainer"):
        lines += [
            _("/newfix: write a fix step by step; /myfixes: yours; /suggest TERM = PROPOSAL: a glossary term"),
            _("/editfix ID FIELD TEXT: change a fix of yours that is not approved yet"),
        ]
    if person is not None and can(person.role, "lead"):
        lines += [
            _("/review: approve or reject fixes and suggestions; /stats: what people search"),
            _("/invite ROLE: a one-time invite (operator, trainer, lead)"),
            _("/users: people and roles; /promote ID ROLE, /demote ID ROLE, /remove ID"),
            _("/setup LANGS [auto|off] in a group: register it (e.g. /setup fr zh auto)"),
        ]
    return "\n".join(lines)


async def start(message: Message, command: CommandObject, people, person, lang: str):
    user = message.from_user
    if command.args:
        try:
            person = await people.redeem(command.args.strip(), user.id, user.full_name,
                                         user.language_code)
        except InviteError as exc:
            reasons = {
                "unknown": _("This invite code is not valid."),
                "expired": _("This invite code has expired. Ask for a new one."),
                "used": _("This invite code has already been used. Ask for a new one."),
                "revoked": _("This invite code was withdrawn. Ask for a new one."),
            }
            await message.answer(reasons.get(exc.reason, reasons["unknown"]))
            return
    if person is None:
        # Not an invite: let the next routers try, down to the strangers',
        # which answers once. (Returning here would end the dispatch: aiogram
        # stops at the first handler that matched.)
        raise SkipHandler
    # Propose the language Telegram reports; the person confirms or picks another.
    proposed = language_from_telegram(user.language_code) if user.language_code else person.lang
    await message.answer(
        _("Welcome! Your role: {role}. Which language shall I speak?").format(role=person.role),
        reply_markup=language_keyboard(proposed, "lang"),
    )


async def choose_language(message: Message, lang: str):
    await message.answer(_("Choose my language:"), reply_markup=language_keyboard(lang, "lang"))


async def set_language(callback: CallbackQuery, people, person):
    code = callback.data.split(":", 1)[1]
    if person is None or code not in LANGS:
        await callback.answer()
        return
    await people.set_language(person.user_id, code)
    from aiogram.utils.i18n import gettext

    text = gettext("Done: I will speak {language}. /to changes the language of translations.",
                   locale=code).format(language=LANG_NAMES[code])
    await callback.answer()
    if callback.message:
        await callback.message.edit_text(text)


async def help_command(message: Message, person):
    await message.answer(help_text(person))


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="common")
    router.message.filter(private, command)
    router.message(CommandStart())(start)
    # known: a stranger's /lang or /help goes on to the strangers' router.
    router.message(Command("lang"), known)(choose_language)
    router.callback_query(on(F.data.startswith("lang:")))(set_language)
    router.message(Command("help"), known)(help_command)
    return router
