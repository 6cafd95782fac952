"""The operators' pages: ``/ask`` (one search box: glossary cards, fixes,
translation), ``/fix/ID`` (a fix step by step, with its photos) and
``/talk`` (conversation mode). Same services as the bot's handlers, same
catalogue; rendering is Jinja (autoescaped) instead of Telegram HTML.

Every page is a plain GET (bookmarkable, JavaScript off); the only POSTs
are ``/talk`` and keeping an exchange, both with the session's CSRF token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from bot.app import App
from bot.knowledge import fixes as fix_store
from bot.knowledge.search import FixBase, query_codes
from bot.people.directory import can
from bot.translation.engine import MissingModelError, Translation, TranslationError
from glossary import LANGS, Concept, SearchResult
from glossary import store as glossary_store
from glossary.normalize import normalize, scrub

from .server import APP, SESSION, error_page, parse_id, render, require

MODES = ("auto", "term", "fix", "translate")
_SENTENCE_END = re.compile(r"[.!?。！？]\s*$")


def looks_like_lookup(text: str) -> bool:
    """The bot's rule (handlers/glossary.py): a word or two, or a few CJK
    characters, is a lookup; anything longer is a sentence to translate."""
    text = text.strip()
    if not text or "\n" in text or _SENTENCE_END.search(text):
        return False
    if any(ord(c) >= 0x2E80 for c in text):
        return len(text) <= 8
    return len(text.split()) <= 3 and len(text) <= 40


def knowledge(app: App) -> FixBase:
    return FixBase(app.storage, app.glossary, app.engine)


@dataclass
class Card:
    concept: Concept
    reason: str
    matched: str
    deprecated_typed: bool
    head: str
    definition: str | None
    rows: list  # (lang, [(text, type)])


def card(result: SearchResult, lang: str) -> Card:
    concept = result.concept
    head = concept.preferred(lang) or concept.preferred("en")
    definition = concept.definition(lang)
    return Card(concept=concept, reason=result.reason, matched=result.matched.text,
                deprecated_typed=result.matched.type == "deprecated",
                head=head.text if head else concept.id, definition=definition[1] if definition else None,
                rows=[(code, [(t.text, t.type) for t in concept.terms_in(code)]) for code in LANGS])


def marked(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_a_glossary_term) for highlighting; the
    template escapes each piece."""
    terms = sorted({t for t in terms if t and t.strip()}, key=len, reverse=True)
    if not terms:
        return [(text, False)]
    pattern = re.compile("|".join(re.escape(t) for t in terms[:50]))
    out, last = [], 0
    for m in pattern.finditer(text):
        if m.start() > last:
            out.append((text[last:m.start()], False))
        out.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        out.append((text[last:], False))
    return out


def clean_query(raw: str, limit: int) -> tuple[str, bool]:
    """The query as searched: lone surrogates replaced; over ``limit``: refused."""
    text = scrub(raw or "").strip()
    return text, len(text) > limit


@require("operator")
async def ask(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    session = request[SESSION]
    person = session.person
    query = request.query
    raw = query.get("q", "")
    mode = query.get("mode", "auto")
    mode = mode if mode in MODES else "auto"
    source = query.get("from", "")
    source = source if source in LANGS else ""
    target = query.get("to", "")
    target = target if target in LANGS else person.target
    limit = app.settings.max_message_chars
    text, too_long = clean_query(raw, limit)
    ctx = {"q": text[:limit] if not too_long else "", "mode": mode, "source": source, "target": target,
           "cards": [], "nearest": [], "fixes": [], "translation": None, "segments": [],
           "missing": None, "error": None, "too_long": too_long, "length": len(text), "limit": limit,
           "searched": bool(text) and not too_long, "did": []}
    if too_long or not text:
        return render(request, "ask.html", ctx, status=400 if too_long else 200)

    norm = normalize(text[:800])
    ctx["codes"] = query_codes(norm) if norm else []
    short = looks_like_lookup(text)
    # An alarm code is looked up in the fixes, not logged as a missing term.
    want_terms = mode == "term" or (mode == "auto" and short and not ctx["codes"])
    # An alarm code or a symptom: fixes. In auto mode a word may be both a
    # term and a symptom ("wrinkles"), so fixes are always looked for.
    want_fixes = mode in ("fix", "auto")
    want_translation = mode == "translate" or (mode == "auto" and not short)

    if want_terms:
        found = await app.storage.arun(app.glossary.lookup, text[:200], 3)
        app.usage.looked_up(person.lang)  # counted for the dashboard, never waited for
        ctx["cards"] = [card(r, person.lang) for r in found.results]
        ctx["nearest"] = [(c.preferred(person.lang) or c.preferred("en")).text for c in found.nearest
                          if c.preferred(person.lang) or c.preferred("en")]
        if not found.results:
            # Queued, not awaited, as the fixes' search log: the leads see it in `glossary missing`.
            app.storage.defer(glossary_store.log_missing, text, person.lang, f"web:{person.user_id}")
        ctx["did"].append("term")
    if want_fixes:
        ctx["fixes"] = await knowledge(app).asearch(text[:fix_store.MAX_QUERY], person.lang, 5,
                                                    user=person.user_id)
        # "No fix found" is news when fixes were asked for (a code, the Fix mode),
        # noise under a glossary card or a translation.
        if ctx["fixes"] or mode == "fix" or ctx["codes"] or not ctx["did"] and not want_translation:
            ctx["did"].append("fix")
    if want_translation:
        ctx["did"].append("translate")
        try:
            result: Translation = await app.engine.atranslate(text, target, source=source or None,
                                                              prior=person.lang)
            app.usage.translated(result)
            ctx["translation"] = result
            ctx["segments"] = marked(result.text, [t.target for t in result.terms])
        except MissingModelError as exc:
            ctx["missing"] = exc
        except TranslationError as exc:
            ctx["error"] = "too long" if "limit is" in str(exc) else "failed"
    return render(request, "ask.html", ctx)


async def visible_fix(app: App, session, fix_id: int, lang: str):
    card = await knowledge(app).aget(fix_id, lang)
    if card is None or (card.status != "approved" and not can(session.person.role, "lead")):
        return None
    return card


@require("operator")
async def fix_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    session = request[SESSION]
    fix_id = parse_id(request.match_info["fix_id"])
    fix = await visible_fix(app, session, fix_id, session.person.lang) if fix_id else None
    if fix is None:
        return error_page(request, 404, "This fix is no longer available.")
    step = parse_id(request.query.get("step"), 1)
    step = min(max(step or 1, 1), max(len(fix.steps), 1))
    photos = shown_photos(app, fix)
    back = request.query.get("q", "")[:200]
    return render(request, "fix.html", {"fix": fix, "step": step, "photos": photos,
                                        "telegram_photos": len(fix.photos) - len(photos),
                                        "all": request.query.get("all") == "1", "back": back})


@require("operator")
async def fix_photo(request: web.Request) -> web.StreamResponse:
    app: App = request.app[APP]
    session = request[SESSION]
    fix_id = parse_id(request.match_info["fix_id"])
    n = parse_id(request.match_info["n"], high=100)
    fix = await visible_fix(app, session, fix_id, session.person.lang) if fix_id else None
    return photo_response(app, fix, n)


def shown_photos(app: App, fix) -> list:
    """(n, photo) of the fix's photos that are files in the photos folder
    (the others are Telegram file ids, or a path planted outside it)."""
    return [(n, p) for n, p in enumerate(fix.photos)
            if (path := fix_store.photo_file(app.settings.photos_path, p.local_path)) is not None
            and path.is_file()]


def photo_response(app: App, fix, n: int | None) -> web.FileResponse:
    """Photo ``n`` of a fix the caller may read (None: not found), if it is a
    file inside the photos folder."""
    if fix is None or n is None or n >= len(fix.photos):
        raise web.HTTPNotFound()
    path = fix_store.photo_file(app.settings.photos_path, fix.photos[n].local_path)
    if path is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/ask", ask)
    router.add_get("/fix/{fix_id}", fix_page)
    router.add_get("/fix/{fix_id}/photo/{n}", fix_photo)
