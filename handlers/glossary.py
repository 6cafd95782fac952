"""Glossary lookups in a private chat: /term QUERY, or a short text."""

from __future__ import annotations

import re

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from glossary import store as glossary_store

from .filters import known, on, outside_dialogue, private
from .render import concept_card, concept_details, parse_int, q


_SENTENCE_END = re.compile(r"[.!?。！？]\s*$")


def looks_like_lookup(text: str | None) -> bool:
    """A word or two (or a few CJK characters), not a sentence: look it up
    instead of translating it. Short inputs translate badly anyway."""
    text = (text or "").strip()
    if not text or text.startswith("/") or "\n" in text or _SENTENCE_END.search(text):
        return False
    cjk = sum(1 for c in text if ord(c) >= 0x2E80)
    if cjk:
        return len(text) <= 8
    return len(text.split()) <= 3 and len(text) <= 40


def more_button(key: int | None) -> InlineKeyboardMarkup | None:
    if key is None:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=_("More"), callback_data=f"more:{key}")]])


async def answer_lookup(message: Message, app, person, lang: str, query: str) -> None:
    found = await app.storage.arun(app.glossary.lookup, query, 3)  # SQLite: off the loop
    app.usage.looked_up(lang)  # counted for the dashboard, never waited for
    if found.results:
        best = found.results[0]
        await message.answer(concept_card(best.concept, lang, best), reply_markup=more_button(found.key))
        return
    await app.storage.awrite(glossary_store.log_missing, query, lang, f"tg:{person.user_id}")
    text = _("No concept found for «{query}». The leads will see that it is missing.").format(
        query=q(query[:100]))
    if found.nearest:
        names = ", ".join(q((c.preferred(lang) or c.preferred("en")).text) for c in found.nearest
                          if c.preferred(lang) or c.preferred("en"))
        text += "\n" + _("Nearest: {names}").format(names=names)
    await message.answer(text)


async def term_command(message: Message, command: CommandObject, app, person, lang: str):
    if not command.args or not command.args.strip():
        await message.answer(_("Usage: /term WORD, e.g. /term coater"))
        return
    await answer_lookup(message, app, person, lang, command.args.strip()[:200])


async def short_text(message: Message, app, person, lang: str):
    await answer_lookup(message, app, person, lang, message.text)


async def more(callback: CallbackQuery, app, lang: str):
    key = parse_int(callback.data.split(":", 1)[1])
    concept = await app.storage.arun(app.glossary.concept_by_key, key) if key is not None else None
    await callback.answer()
    if concept is not None and callback.message:
        await callback.message.answer(concept_details(concept, lang))


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="glossary")
    router.message.filter(private, known)
    router.callback_query.filter(known)
    # Free text first: most messages are that, and it can never be a command.
    router.message(outside_dialogue, on(F.text.func(looks_like_lookup)))(short_text)
    router.message(Command("term"))(term_command)
    router.callback_query(on(F.data.startswith("more:")))(more)
    return router
