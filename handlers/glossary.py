"""Glossary lookups in a private chat: /term QUERY, or a short text."""

from __future__ import annotations

import re

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from glossary import store as glossary_store

from .filters import known, private
from .render import concept_card, concept_details, q


_SENTENCE_END = re.compile(r"[.!?。！？]\s*$")


def looks_like_lookup(text: str) -> bool:
    """A word or two (or a few CJK characters), not a sentence: look it up
    instead of translating it. Short inputs translate badly anyway."""
    text = text.strip()
    if not text or text.startswith("/") or "\n" in text or _SENTENCE_END.search(text):
        return False
    cjk = sum(1 for c in text if ord(c) >= 0x2E80)
    if cjk:
        return len(text) <= 8
    return len(text.split()) <= 3 and len(text) <= 40


async def more_button(app, concept_id: str) -> InlineKeyboardMarkup | None:
    key = await app.storage.arun(app.glossary.concept_key, concept_id)  # SQLite: off the loop
    if key is None:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=_("More"), callback_data=f"more:{key}")]])


async def answer_lookup(message: Message, app, person, lang: str, query: str) -> None:
    results = await app.storage.arun(app.glossary.search, query, None, 3)
    if results:
        best = results[0]
        await message.answer(concept_card(best.concept, lang, best),
                             reply_markup=await more_button(app, best.concept.id))
        return
    await app.storage.awrite(glossary_store.log_missing, query, lang, f"tg:{person.user_id}")
    nearest = await app.storage.arun(app.glossary.nearest, query, 3)
    text = _("No concept found for «{query}». The leads will see that it is missing.").format(
        query=q(query[:100]))
    if nearest:
        names = ", ".join(q((c.preferred(lang) or c.preferred("en")).text) for c in nearest
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
    raw = callback.data.split(":", 1)[1]
    concept = await app.storage.arun(app.glossary.concept_by_key, int(raw)) if raw.isdigit() else None
    await callback.answer()
    if concept is not None and callback.message:
        await callback.message.answer(concept_details(concept, lang))


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="glossary")
    router.message.filter(private, known)
    router.callback_query.filter(known)
    router.message(Command("term"))(term_command)
    router.message(F.text.func(looks_like_lookup))(short_text)
    router.callback_query(F.data.startswith("more:"))(more)
    return router
