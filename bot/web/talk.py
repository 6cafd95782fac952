"""Conversation mode (``/talk``): one tablet, two people, two languages.

The screen is split: the trainer's side (language ``a``) and the operator's
(language ``b``). Each types in their own language and reads the other's
messages translated into it (the same engine as the bot: glossary terms
enforced, memory first); glossary terms are highlighted and link to their
card. Plain forms: it works without JavaScript.

A conversation lives in memory, per session (the last ``KEEP_MESSAGES``):
it is gone at sign-out or restart, on purpose: nothing said at the line is
stored unless a lead keeps the exchange, which adds each message and its
translation to the translation memory as an *unreviewed* unit (origin
``manual``, note "kept from a conversation on the web"), for a speaker to
check before it is trusted.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from aiohttp import web

from bot.app import App
from bot.translation import memory as tm
from bot.translation.engine import MissingModelError, TranslationError
from glossary import LANGS
from glossary.normalize import scrub

from .server import APP, SESSION, error_page, form, parse_id, render, require

KEEP_MESSAGES = 50
MAX_CONVERSATIONS = 500
MAX_TEXT = 1000


@dataclass
class Message:
    side: str  # a | b
    lang: str
    text: str
    target: str
    translated: str | None = None
    provenance: str = ""
    missing: list = field(default_factory=list)  # pairs without a model
    failed: bool = False


TALKS = web.AppKey("talks", OrderedDict)


def conversation(request: web.Request) -> list[Message]:
    talks: OrderedDict = request.app[TALKS]
    sid = request[SESSION].id
    if sid not in talks:
        talks[sid] = []
        while len(talks) > MAX_CONVERSATIONS:
            talks.popitem(last=False)
    talks.move_to_end(sid)
    return talks[sid]


def languages(query, person) -> tuple[str, str]:
    a = query.get("a", "")
    b = query.get("b", "")
    a = a if a in LANGS else person.lang
    b = b if b in LANGS and b != a else ("fr" if a != "fr" else "zh")
    return a, b


async def pieces(app: App, text: str) -> list[tuple[str, str | None]]:
    """``text`` as (piece, glossary term or None): terms become links to their card."""
    spots = await app.storage.arun(app.glossary.spot, text)
    out, last = [], 0
    for s in sorted(spots, key=lambda s: s.start):
        if s.start < last:
            continue
        if s.start > last:
            out.append((text[last:s.start], None))
        out.append((text[s.start:s.end], text[s.start:s.end]))
        last = s.end
    if last < len(text):
        out.append((text[last:], None))
    return out


@require("operator")
async def talk_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    person = request[SESSION].person
    a, b = languages(request.query, person)
    lines = []
    for n, m in enumerate(conversation(request)):
        # Each side reads its own words as typed, the other's translated.
        own = {m.side: m.text}
        other_side = "b" if m.side == "a" else "a"
        shown_other = m.translated
        lines.append({
            "n": n, "side": m.side, "message": m,
            m.side: await pieces(app, own[m.side]),
            other_side: await pieces(app, shown_other) if shown_other is not None else None,
        })
    return render(request, "talk.html", {"a": a, "b": b, "lines": lines,
                                         "kept": request.query.get("kept")})


@require("operator")
async def talk_post(request: web.Request):
    app: App = request.app[APP]
    data = await form(request)
    person = request[SESSION].person
    a, b = languages(data, person)
    side = data.get("side")
    text = scrub(data.get("text", "")).strip()
    back = f"/talk?a={a}&b={b}"
    if side not in ("a", "b"):
        return error_page(request, 400, "This request could not be read.")
    if not text:
        raise web.HTTPSeeOther(back)
    if len(text) > MAX_TEXT:
        return error_page(request, 400, "This text is too long: {length} characters, at most {limit}.",
                          length=len(text), limit=MAX_TEXT)
    lang, target = (a, b) if side == "a" else (b, a)
    message = Message(side, lang, text, target)
    try:
        result = await app.engine.atranslate(text, target, source=lang, prior=lang)
        message.translated, message.provenance = result.text, result.provenance
        app.usage.translated(result)
    except MissingModelError as exc:
        message.missing = exc.pairs
    except TranslationError:
        message.failed = True
    talk = conversation(request)
    talk.append(message)
    del talk[:-KEEP_MESSAGES]
    raise web.HTTPSeeOther(back + f"#m{len(talk) - 1}")


@require("operator")
async def talk_clear(request: web.Request):
    data = await form(request)
    conversation(request).clear()
    a, b = languages(data, request[SESSION].person)
    raise web.HTTPSeeOther(f"/talk?a={a}&b={b}")


@require("lead")
async def talk_keep(request: web.Request):
    """A lead keeps the exchange: each translated message becomes an
    unreviewed translation-memory unit (a candidate for review)."""
    app: App = request.app[APP]
    data = await form(request)
    person = request[SESSION].person
    a, b = languages(data, person)
    only = parse_id(data.get("n"))
    talk = conversation(request)
    chosen = [m for i, m in enumerate(talk) if (only is None or i == only)
              and m.translated and m.provenance in ("machine", "glossary")]

    def keep(db) -> int:
        kept = 0
        for m in chosen:
            try:
                tm.add_unit(db, {m.lang: m.text, m.target: m.translated}, status="unreviewed",
                            origin="manual", actor=f"web:{person.user_id}",
                            note="kept from a conversation on the web")
                kept += 1
            except tm.TMError:  # an odd message (control characters...): the others are kept
                continue
        return kept

    kept = await app.storage.awrite(keep) if chosen else 0
    raise web.HTTPSeeOther(f"/talk?a={a}&b={b}&kept={kept}")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/talk", talk_page)
    router.add_post("/talk", talk_post)
    router.add_post("/talk/clear", talk_clear)
    router.add_post("/talk/keep", talk_keep)
