"""Inline mode: "@bot QUERY" gives glossary cards, "@bot fr: text" a translation."""

from __future__ import annotations

import hashlib
import re

from aiogram import Router
from aiogram.types import InlineQuery, InlineQueryResultArticle, InputTextMessageContent

from bot.translation.engine import TranslationError
from glossary import LANGS

from .render import concept_card, q


_TRANSLATE = re.compile(r"^\s*(zh|ko|ms|fr|en)\s*:\s*(.+)$", re.S | re.I)


def _article(title: str, body: str, description: str = "") -> InlineQueryResultArticle:
    key = hashlib.sha1(f"{title}\n{body}".encode()).hexdigest()[:32]
    return InlineQueryResultArticle(id=key, title=title[:100], description=description[:200],
                                    input_message_content=InputTextMessageContent(message_text=body[:4096]))


async def inline(query: InlineQuery, app, person, lang: str):
    if person is None:  # strangers: nothing at all
        await query.answer([], cache_time=5, is_personal=True)
        return
    text = query.query.strip()
    results: list[InlineQueryResultArticle] = []
    match = _TRANSLATE.match(text)
    if match and match.group(1).lower() in LANGS:
        try:
            done = await app.engine.atranslate(match.group(2)[:1000], match.group(1).lower(), prior=person.lang)
            results.append(_article(done.text, q(done.text), f"{done.route_text} · {done.provenance}"))
        except TranslationError as exc:
            results.append(_article("⚠️", q(str(exc))))
    elif text:
        for found in await app.storage.arun(app.glossary.search, text, None, 10):
            title = (found.concept.preferred(lang) or found.concept.preferred("en")).text
            description = " · ".join(t.text for c in LANGS if (t := found.concept.preferred(c)))
            results.append(_article(title, concept_card(found.concept, lang, found), description))
    await query.answer(results[:50], cache_time=30, is_personal=True)


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="inline")
    router.inline_query()(inline)
    return router
