"""The leads' review queue on the web (``/review``) and the speakers'
translation check (``/fixes/ID/translation/L``): the bot's /review and its
« Verify » / « Correct » buttons, on a desk's screen.

Same services as the bot (``bot.knowledge.review`` decides, ``fixes``
verifies and corrects), so the same rules hold: leads and admins decide,
a second approval (a double click, two leads at once) writes nothing and
says so, an item decided meanwhile gets a clear message; trainers and above
verify or correct a machine translation, and a correction becomes approved
translation memory. Plain forms, POST then redirect (a reload never
decides twice); the notice after a decision travels in the redirect's query
as a code, never as text.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from yarl import URL

from bot.app import App
from bot.knowledge import fixes as fix_store
from bot.knowledge import review, suggestions
from bot.knowledge.fixes import FixError
from bot.people import signin
from bot.telegram.texts import N_
from bot.translation.engine import TranslationError
from glossary import LANGS

from .pages import knowledge, shown_photos
from .server import APP, SESSION, error_page, form, gettext_for, parse_id, render, request_lang, require

log = logging.getLogger("shopbot.web")

#: The notices a redirect may ask for (``said``): code → msgid.
NOTICES = {
    "approved": N_("Approved: #{id}. The author is told in the bot."),
    "rejected": N_("Rejected: #{id}. The author is told why in the bot."),
    # No bot to tell with (`shopbot web` without a token), a person of the
    # web only, or Telegram refused: the reviewer should tell them.
    "approved-untold": N_("Approved: #{id}. The author could not be told in the bot: tell them yourself."),
    "rejected-untold": N_("Rejected: #{id}. The author could not be told in the bot: tell them why yourself."),
    "already-approved": N_("#{id} was already approved: nothing was changed."),
    "already-rejected": N_("#{id} was already rejected: nothing was changed."),
    "verified": N_("Marked as verified. Thank you!"),
    "already-verified": N_("Already verified."),
    "corrected": N_("Correction saved; {count} sentence(s) added to the translation memory."),
}
#: An item someone else decided (or withdrew) meanwhile.
GONE = N_("#{id} is no longer in the queue (it is {state} now): nothing was changed.")
NOT_TRANSLATION = N_("Translations are checked once a fix is approved, in a language other than its original.")
MAX_REASON = 2000
MAX_TEXT = 64 * 1024  # a correction form: far above what a fix may hold


def item_kind(raw: str) -> str | None:
    return raw if raw in review.KINDS else None


async def person_label(app: App, author: str | int) -> str:
    """A name for an author: the person's name or number, or the tag (sample...)."""
    pid = review.author_id(author)
    person = await app.storage.aread(signin.person_by_id, pid) if pid else None
    if person is None:
        return str(author)
    return person.name or f"#{person.user_id}"


def approved_fix(request: web.Request) -> int | None:
    """The fix just approved (its translations can be checked next), if any."""
    if request.query.get("k") == "fix" and request.query.get("said") in ("approved", "approved-untold",
                                                                                "already-approved"):
        return parse_id(request.query.get("of"))
    return None


def notice(request: web.Request) -> str | None:
    """The notice a redirect asked for, in the reader's language."""
    _ = gettext_for(request_lang(request))
    said = request.query.get("said", "")
    if said not in NOTICES:
        return None
    return _(NOTICES[said]).format(id=parse_id(request.query.get("of")) or "",
                                   count=parse_id(request.query.get("n"), 0))


async def side_by_side(app: App, original, lang: str, stored=None) -> dict | None:
    """The reviewer's language beside the original: a stored text (a
    speaker's, or the machine's made at approval), else a machine translation
    made now as the bot's preview does (not stored). None when the reviewer
    reads the original language; {"missing": True} without a model."""
    if lang == original.lang:
        return None
    if stored is not None:
        return {"symptom": stored.symptom, "cause": stored.cause, "steps": stored.steps,
                "safety": stored.safety, "kind": stored.kind, "missing": False}

    async def tr(text: str) -> str:
        return (await app.engine.atranslate(text, lang, source=original.lang)).text if text else ""

    try:
        return {"symptom": await tr(original.symptom), "cause": await tr(original.cause),
                "steps": [await tr(s) for s in original.steps], "safety": [await tr(s) for s in original.safety],
                "kind": "preview", "missing": False}
    except TranslationError:
        return {"missing": True}


# -- the queue -------------------------------------------------------------------

@require("lead")
async def queue_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    items = await app.storage.aread(review.pending_list, 200)
    rows = [(kind, item_id, title, await person_label(app, author), lang)
            for kind, item_id, title, author, lang in items]
    return render(request, "review_queue.html", {"rows": rows, "notice": notice(request),
                                                 "done_fix": approved_fix(request)})


@require("lead")
async def next_item(request: web.Request):
    """One at a time: the oldest pending item (after ``after``, a skip)."""
    app: App = request.app[APP]
    after = None
    kind, _sep, raw = request.query.get("after", "").partition("-")
    if item_kind(kind) and parse_id(raw):
        after = review.QueueItem(kind, parse_id(raw))
    item = await app.storage.aread(review.next_pending, after)
    keep = {k: request.query[k][:20] for k in ("said", "of", "n", "k") if k in request.query}
    path = "/review" if item is None else f"/review/{item.kind}/{item.id}"
    raise web.HTTPSeeOther(str(URL(path).with_query(keep)))


@require("lead")
async def item_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    session = request[SESSION]
    kind = item_kind(request.match_info["kind"])
    item_id = parse_id(request.match_info["item_id"])
    if kind is None or item_id is None:
        return error_page(request, 404, "This page does not exist.")
    ctx = {"kind": kind, "item_id": item_id, "notice": notice(request), "done_fix": approved_fix(request),
           "reason": "", "error": None}
    return await _show_item(request, app, session, ctx)


async def _show_item(request, app: App, session, ctx: dict, status: int = 200) -> web.Response:
    kind, item_id = ctx["kind"], ctx["item_id"]
    lang = session.person.lang
    if kind == "suggestion":
        s = await app.storage.aread(suggestions.get, item_id)
        if s is None:
            return error_page(request, 404, "This page does not exist.")
        ctx.update(suggestion=s, author=await person_label(app, s.author), status_now=s.status)
        return render(request, "review_item.html", ctx, status=status)
    kb = knowledge(app)
    original = await kb.aget(item_id)  # the original text
    if original is None:
        return error_page(request, 404, "This fix is no longer available.")
    texts = await app.storage.aread(fix_store.load_texts, item_id)
    concept = await app.storage.arun(app.glossary.concept, original.equipment)
    term = concept and (concept.preferred(lang) or concept.preferred("en"))
    ctx.update(fix=original, author=await person_label(app, original.author), status_now=original.status,
               equipment=term.text if term else original.equipment,
               other=await side_by_side(app, original, lang, texts.get(lang)), reader=lang,
               photos=[n for n, _p in shown_photos(app, original)])
    return render(request, "review_item.html", ctx, status=status)


def _said(decision: review.Decision, approved: bool, told: bool) -> str:
    said = "approved" if approved else "rejected"
    if not decision.changed:
        return "already-" + said
    return said if told else said + "-untold"


@require("lead")
async def decide(request: web.Request):
    app: App = request.app[APP]
    session = request[SESSION]
    data = await form(request)
    kind = item_kind(request.match_info["kind"])
    item_id = parse_id(request.match_info["item_id"])
    action = request.match_info["action"]
    if kind is None or item_id is None or action not in ("approve", "reject"):
        return error_page(request, 404, "This page does not exist.")
    reason = data.get("reason", "").strip()

    async def refused(msgid: str) -> web.Response:
        return await _show_item(request, app, session, {"kind": kind, "item_id": item_id, "notice": None,
                                                        "done_fix": None, "reason": reason[:MAX_REASON],
                                                        "error": msgid}, status=400)

    if action == "reject" and len(reason) > MAX_REASON:
        return await refused(N_("The reason is too long: at most 2000 characters."))
    try:
        if action == "approve":
            decision = await review.approve(knowledge(app), kind, item_id, session.person.user_id)
        else:
            decision = await review.reject(knowledge(app), kind, item_id, session.person.user_id, reason)
    except (FixError, suggestions.SuggestionError):
        # A reason refused, decided the other way, withdrawn, or a forged id: say what it is now.
        now = await app.storage.aread(review.status_of, kind, item_id)
        if now is None:
            return error_page(request, 404, "This fix is no longer available.")
        if now == "pending" and action == "reject":  # still waiting: the reason was refused
            return await refused(N_("A rejection needs a reason the author can act on."))
        return error_page(request, 409, GONE, id=item_id, state=gettext_for(request_lang(request))(now))
    told = await tell(request, decision, approved=action == "approve", reason=reason)
    raise web.HTTPSeeOther(f"/review/next?after={kind}-{item_id}&said={_said(decision, action == 'approve', told)}"
                           f"&of={item_id}&k={kind}")


async def tell(request: web.Request, decision: review.Decision, approved: bool, reason: str) -> bool:
    """The author learns the decision in the bot, when this process can send
    (``App.announce``: set by the bot, or by bot.telegram.wiring.announcing);
    a failure never undoes the decision. Whether a message went out."""
    announce = request.app[APP].announce
    if announce is None:
        return False
    try:
        return bool(await asyncio.wait_for(announce.tell_author(decision, approved, reason), 10))
    except Exception as exc:  # noqa: BLE001 - the decision stands
        log.warning("web: could not tell the author of %s #%s: %s", decision.kind, decision.id, exc)
        return False



# -- a machine translation: verify or correct ----------------------------------------

@require("trainer")
async def translation_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    fix_id = parse_id(request.match_info["fix_id"])
    return await _translation(request, app, fix_id, request.match_info["lang"], notice(request))


async def _translation(request, app: App, fix_id, lang: str, note, *, error=None, typed=None,
                       status: int = 200) -> web.Response:
    person = request[SESSION].person
    card = await knowledge(app).aget(fix_id) if fix_id else None
    if card is None or lang not in LANGS or not fix_store.can_read(person.role, person.user_id, card.status,
                                                                   card.author):
        return error_page(request, 404, "This fix is no longer available.")
    texts = await app.storage.aread(fix_store.load_texts, fix_id)
    if card.status != "approved" or lang == card.original_lang:
        return error_page(request, 409, NOT_TRANSLATION)
    current = texts.get(lang)
    shown = typed or ({"symptom": current.symptom, "cause": current.cause, "steps": "\n".join(current.steps),
                       "safety": "\n".join(current.safety)} if current else
                      {"symptom": "", "cause": "", "steps": "", "safety": ""})
    return render(request, "translation.html", {
        "fix": card, "target": lang, "current": current, "shown": shown, "notice": note, "error": error},
        status=status)


@require("trainer")
async def translation_post(request: web.Request):
    app: App = request.app[APP]
    session = request[SESSION]
    data = await form(request)
    fix_id = parse_id(request.match_info["fix_id"])
    lang = request.match_info["lang"]
    if fix_id is None or lang not in LANGS:
        return error_page(request, 404, "This fix is no longer available.")
    who, role = session.person.user_id, session.person.role
    try:
        if data.get("action") == "verify":
            changed = await app.storage.awrite(fix_store.verify_text, fix_id, lang, who, role)
            said, n = ("verified" if changed else "already-verified"), 0
        else:
            units = await app.storage.awrite(
                fix_store.correct_text, fix_id, lang, data.get("symptom", ""), data.get("cause", ""),
                fix_store.typed_items(data.get("steps", "")), fix_store.typed_items(data.get("safety", "")),
                who, role)
            said, n = "corrected", len(units)
    except FixError as exc:
        typed = {k: data.get(k, "")[:MAX_TEXT] for k in ("symptom", "cause", "steps", "safety")}
        return await _translation(request, app, fix_id, lang, None, error=str(exc), typed=typed, status=400)
    raise web.HTTPSeeOther(f"/fixes/{fix_id}/translation/{lang}?said={said}&of={fix_id}&n={n}")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/review", queue_page, name="review")
    router.add_get("/review/next", next_item)
    router.add_get("/review/{kind}/{item_id}", item_page)
    router.add_post("/review/{kind}/{item_id}/{action}", decide)
    router.add_get("/fixes/{fix_id}/translation/{lang}", translation_page)
    router.add_post("/fixes/{fix_id}/translation/{lang}", translation_post)
