"""Translation in a private chat: any longer text, /to LANG, /tr in reply."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.telegram.texts import AMBIGUOUS_TERM
from bot.translation.engine import MissingModelError, Translation, TranslationError
from glossary import LANGS
from glossary.model import LANG_NAMES

from .filters import known, on, outside_dialogue, private
from .render import q, split_plain



def footer(result: Translation) -> str:
    """Route, provenance and enforced terms, compactly."""
    kind = {
        "memory": _("memory {match}%").format(match=round(result.match or 0)),
        "machine": _("machine"),
        "glossary": _("glossary"),
        "unchanged": _("unchanged"),
    }[result.provenance]
    parts = [result.route_text or "", kind]
    if result.terms:
        parts.append(", ".join(f"{q(t.source)}→{q(t.target)}" for t in result.terms[:6]))
    text = "<i>" + " · ".join(q(p) if i < 2 else p for i, p in enumerate(parts) if p) + "</i>"
    for item in result.ambiguous[:4]:
        text += "\n" + _(AMBIGUOUS_TERM).format(
            term=q(item.source), options=" / ".join(f"«{q(o)}»" for o in item.options))
    return text


def error_text(exc: Exception) -> str:
    if isinstance(exc, MissingModelError):
        pairs = ", ".join(f"{a}→{b}" for a, b in exc.pairs)
        text = _("No translation model for {pairs} is installed. An admin can install it with: {command}").format(
            pairs=pairs, command="<code>" + q("; ".join(f"shopbot models download {a} {b}" for a, b in exc.pairs)) + "</code>")
        if exc.terms:
            text += "\n" + _("Glossary: {terms}").format(
                terms=", ".join(f"{q(t.source)} → {q(t.target)}" for t in exc.terms))
        return text
    if isinstance(exc, TranslationError) and "limit is" in str(exc):
        return _("This message is too long to translate.")
    return _("I could not translate this message.")


async def reply_translation(message: Message, app, person, text: str, target: str) -> None:
    try:
        result = await app.engine.atranslate(text, target, prior=person.lang)
    except TranslationError as exc:
        await message.answer(error_text(exc))
        return
    app.usage.translated(result)
    pieces = split_plain(result.text)
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        await message.reply(q(piece) + ("\n" + footer(result) if last else ""))


async def set_target(message: Message, command: CommandObject, people, person):
    code = (command.args or "").strip().lower()
    if code not in LANGS:
        await message.answer(_("Usage: /to LANG, one of: {langs}").format(langs=", ".join(LANGS)))
        return
    await people.set_target(person.user_id, code)
    await message.answer(_("Translations now go to {language}.").format(language=LANG_NAMES[code]))


async def translate_reply(message: Message, command: CommandObject, app, person):
    source = message.reply_to_message
    text = (source.text or source.caption) if source else command.args
    if not text:
        await message.answer(_("Reply to a message with /tr to translate it."))
        return
    await reply_translation(message, app, person, text, person.target)


async def translate_text(message: Message, app, person):
    await reply_translation(message, app, person, message.text, person.target)


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="translate")
    router.message.filter(private, known)
    # Free text first: most messages are that, and it can never be a command.
    router.message(outside_dialogue, on(F.text & ~F.text.startswith("/")))(translate_text)
    router.message(Command("to"))(set_target)
    router.message(Command("tr"))(translate_reply)
    return router
