"""The console's glossary editor (``/glossary``): browse and search, a
concept page with its history and fixes, edit forms, merge, deprecate,
revert, review per language, the suggestions and the missing terms.

Thin views: every rule (who may do what, versions, review reset, audit)
is in ``bot.knowledge.termbase``, the service the CLI uses too. Trainers
open every page and propose; leads and admins apply, merge and revert.
Plain forms, no JavaScript; every POST carries the CSRF token.
"""

from __future__ import annotations

from aiohttp import web

from bot.app import App
from bot.knowledge import termbase as tb
from bot.knowledge.fixes import reindex_concepts
from glossary import CATEGORIES, LANGS, TERM_TYPES
from glossary.model import GENDERS, PARTS_OF_SPEECH

from .server import APP, SESSION, error_page, form, parse_id, render, require
from .pages import clean_query

MAX_ROWS = 20  # term rows one language's form may carry
BLANK_ROWS = 2
STATES = ("draft", "reviewed")


def _filters(query) -> dict:
    """The browse filters from the URL; anything unknown is ignored."""
    category = query.get("category", "")
    lang = query.get("lang", "")
    state = query.get("state", "")
    equipment = {"1": True, "0": False}.get(query.get("equipment", ""))
    return {"category": category if category in CATEGORIES else None,
            "equipment": equipment,
            "lang": lang if lang in LANGS else None,
            "state": state if state in STATES else None}


async def _editor(request: web.Request) -> tb.Editor:
    app: App = request.app[APP]
    return await app.storage.aread(tb.editor_for, request[SESSION].person)


@require("trainer")
async def browse(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    filters = _filters(request.query)
    q, too_long = clean_query(request.query.get("q", ""), 200)
    page = parse_id(request.query.get("page"), 1, high=100_000) or 1
    if q and not too_long:
        # The bot's search, then the same filters.
        found = await app.storage.arun(app.glossary.lookup, q, tb.MAX_LIST)
        concepts = [r.concept for r in found.results if tb.keep(r.concept, **filters)]
        total, pages = len(concepts), 1
    else:
        concepts, total = await app.storage.aread(lambda db: tb.browse(db, page=page, **filters))
        pages = max(1, -(-total // tb.MAX_LIST))
    counts = await app.storage.aread(tb.review_counts)
    return render(request, "glossary.html", {
        "q": "" if too_long else q, "too_long": too_long, "filters": filters, "concepts": concepts,
        "total": total, "page": page, "pages": pages, "categories": CATEGORIES, "counts": counts,
        "query_base": _query_base(q, filters)}, status=400 if too_long else 200)


def _query_base(q: str, filters: dict) -> dict:
    out = {"q": q} if q else {}
    for key, value in filters.items():
        if value is not None:
            out[key] = ("1" if value else "0") if key == "equipment" else value
    return out


async def _concept_or_404(request: web.Request):
    app: App = request.app[APP]
    cid = request.match_info["cid"]
    concept = await app.storage.aread(tb.get, cid)
    if concept is None:
        into = await app.storage.aread(tb.merged_into, cid[:64])
        if into:
            raise web.HTTPSeeOther(f"/glossary/c/{into}?merged={cid[:64]}")
    return concept


def concept_route(role: str):
    """``require(role)``, then the concept of the URL (a merged one's
    address leads to where it went; an unknown one: 404), passed on."""

    def wrap(handler):
        async def with_concept(request: web.Request):
            concept = await _concept_or_404(request)
            if concept is None:
                return error_page(request, 404, "No such concept.")
            return await handler(request, concept)

        with_concept.__name__ = handler.__name__
        return require(role)(with_concept)

    return wrap


@concept_route("trainer")
async def concept_page(request: web.Request, concept) -> web.Response:
    app: App = request.app[APP]
    person = request[SESSION].person
    editor = await _editor(request)

    def read(db):
        return (tb.fixes_mentioning(db, concept.id, person.lang), tb.changes(db, concept.id),
                tb.actor_names(db, [by for by, _ in concept.reviews.values()]))

    fixes, history, names = await app.storage.aread(read)
    return render(request, "glossary_concept.html", {
        "c": concept, "fixes": fixes, "history": history, "editor": editor, "names": names,
        "done": request.query.get("done", "")[:20], "proposed": parse_id(request.query.get("proposed")),
        "merged": request.query.get("merged", "")[:64]})


def _term_rows(concept, lang: str) -> list[dict]:
    rows = [{"text": t.text, "type": t.type, "pos": t.pos or "", "gender": t.gender or ""}
            for t in (concept.terms_in(lang) if concept else [])]
    return rows + [{"text": "", "type": "admitted" if rows else "preferred", "pos": "", "gender": ""}
                   for _ in range(BLANK_ROWS)]


def _edit_context(concept, lang: str, **more) -> dict:
    ctx = {"c": concept, "lang_edit": lang, "types": TERM_TYPES, "poses": PARTS_OF_SPEECH, "genders": GENDERS,
           "categories": CATEGORIES, "conflict": None, "error": None, "proposal": None,
           "version": concept.version if concept else 0}
    if lang in LANGS:
        ctx["rows"] = _term_rows(concept, lang)
        ctx["definition"] = concept.definitions.get(lang, "") if concept else ""
    else:
        ctx.update(category=concept.category, equipment=concept.equipment, source=concept.source,
                   notes=concept.notes)
    ctx.update(more)
    return ctx


@concept_route("trainer")
async def edit_page(request: web.Request, concept) -> web.Response:
    app: App = request.app[APP]
    lang = request.query.get("lang", "general")
    lang = lang if lang in LANGS else "general"
    ctx = _edit_context(concept, lang)
    sid = parse_id(request.query.get("proposal"))
    if sid is not None:
        proposal = await app.storage.aread(tb.proposal, sid)
        if proposal is not None and proposal.after is not None and proposal.concept_id == concept.id:
            ctx = _edit_context(proposal.after, lang, c=concept, version=concept.version,
                                proposal=proposal)
    return render(request, "glossary_edit.html", ctx)


def _rows_from(data: dict, lang: str) -> list[dict]:
    rows = []
    for i in range(MAX_ROWS):
        if f"text_{i}" not in data:
            break
        rows.append({"text": data.get(f"text_{i}", ""), "type": data.get(f"type_{i}", ""),
                     "pos": data.get(f"pos_{i}", ""), "gender": data.get(f"gender_{i}", "")})
    return rows


def _message(request, exc: tb.EditError) -> str:
    from .server import gettext_for, request_lang

    _ = gettext_for(request_lang(request))
    values = {k: _(v) if isinstance(v, str) and k == "what" else v for k, v in exc.values.items()}
    return _(exc.msgid).format(**values)


async def _respot(app: App) -> None:
    """A changed glossary may name concepts in old fixes: spot them again
    (chunks of 100 fixes, a short transaction each)."""
    import asyncio

    await asyncio.to_thread(reindex_concepts, app.storage.write, app.storage.read)


def _after(outcome: tb.Outcome, done: str) -> web.HTTPSeeOther:
    if not outcome.applied:
        return web.HTTPSeeOther(f"/glossary/c/{outcome.concept_id}?proposed={outcome.suggestion}")
    if outcome.deleted:
        return web.HTTPSeeOther(f"/glossary?done={done}")
    return web.HTTPSeeOther(f"/glossary/c/{outcome.concept_id}?done={done}")


@concept_route("trainer")
async def edit_post(request: web.Request, concept):
    app: App = request.app[APP]
    data = await form(request)
    editor = await _editor(request)
    lang = data.get("lang", "general")
    base = parse_id(data.get("version"))
    proposal = parse_id(data.get("proposal"))
    if base is None:
        return error_page(request, 400, "This request could not be read.")
    rows = _rows_from(data, lang) if lang in LANGS else []
    try:
        if lang in LANGS:
            terms = [tb.make_term(lang, r["text"], r["type"], r["pos"], r["gender"]) for r in rows]
            outcome = await app.storage.awrite(tb.edit_language, editor, concept.id, base, lang, terms,
                                               data.get("definition", ""), proposal)
        elif lang == "general":
            outcome = await app.storage.awrite(
                tb.edit_general, editor, concept.id, base, category=data.get("category", ""),
                equipment=data.get("equipment") == "1", source=data.get("source", ""),
                notes=data.get("notes", ""), proposal=proposal)
        else:
            return error_page(request, 400, "This request could not be read.")
    except tb.NotAllowed as exc:
        return error_page(request, 403, exc.msgid, **exc.values)
    except tb.EditError as exc:
        # The form again, with what the person typed, and why (the other
        # person's change, for a conflict).
        typed = {"rows": rows + [{"text": "", "type": "admitted", "pos": "", "gender": ""}]
                 if lang in LANGS else None,
                 "definition": data.get("definition", ""), "category": data.get("category", ""),
                 "equipment": data.get("equipment") == "1", "source": data.get("source", ""),
                 "notes": data.get("notes", "")}
        current = exc.current if isinstance(exc, tb.Conflict) else concept
        ctx = _edit_context(current, lang if lang in LANGS else "general",
                            error=_message(request, exc),
                            conflict=exc if isinstance(exc, tb.Conflict) else None,
                            version=current.version)
        ctx.update({k: v for k, v in typed.items() if v is not None and (lang in LANGS) == (k in ("rows", "definition"))})
        return render(request, "glossary_edit.html", ctx, status=409 if isinstance(exc, tb.Conflict) else 400)
    if outcome.applied:
        await _respot(app)
    raise _after(outcome, "saved")


async def _simple_change(request: web.Request, concept, change, done: str):
    """A POST whose form is a concept version and a few fields."""
    app: App = request.app[APP]
    data = await form(request)
    editor = await _editor(request)
    try:
        outcome = await app.storage.awrite(change, editor, concept, data)
    except tb.NotAllowed as exc:
        return error_page(request, 403, exc.msgid, **exc.values)
    except tb.Conflict as exc:
        return render(request, "glossary_conflict.html", {"c": exc.current, "conflict": exc,
                                                          "error": _message(request, exc)}, status=409)
    except tb.EditError as exc:
        return error_page(request, 400, _message(request, exc))
    if isinstance(outcome, tb.Outcome):
        if outcome.applied and not outcome.deleted:
            await _respot(app)
        raise _after(outcome, done)
    raise web.HTTPSeeOther(f"/glossary/c/{concept.id}?done={done}")


@concept_route("trainer")
async def review_post(request: web.Request, concept):
    return await _simple_change(
        request, concept, lambda db, editor, c, data: tb.review(db, editor, c.id, data.get("lang", ""), _version(data)),
        "reviewed")


@concept_route("trainer")
async def deprecate_post(request: web.Request, concept):
    return await _simple_change(
        request, concept, lambda db, editor, c, data: tb.deprecate(
            db, editor, c.id, _version(data), data.get("lang", ""), data.get("text", "")), "deprecated")


def _version(data: dict) -> int:
    base = parse_id(data.get("version"))
    if base is None:
        raise tb.EditError("This request could not be read.")
    return base


@concept_route("lead")
async def merge_page(request: web.Request, concept) -> web.Response:
    app: App = request.app[APP]
    q, too_long = clean_query(request.query.get("q", ""), 200)
    found = []
    if q and not too_long:
        found = [r.concept for r in (await app.storage.arun(app.glossary.lookup, q, 10)).results
                 if r.concept.id != concept.id]
    return render(request, "glossary_merge.html", {"c": concept, "q": q, "found": found})


@concept_route("lead")
async def merge_post(request: web.Request, concept):
    return await _simple_change(
        request, concept, lambda db, editor, c, data: tb.merge(db, editor, c.id, _version(data), data.get("other", "")),
        "merged")


@concept_route("lead")
async def revert_post(request: web.Request, concept):
    def change(db, editor, c, data):
        change_id = parse_id(data.get("change"))
        if change_id is None:
            raise tb.EditError("No such change.")
        return tb.revert(db, editor, c.id, change_id)

    return await _simple_change(request, concept, change, "reverted")


def _new_rows(data) -> dict[str, str]:
    return {lang: data.get(f"term_{lang}", "") for lang in LANGS}


@require("trainer")
async def new_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    query = request.query
    terms = {lang: "" for lang in LANGS}
    lang = query.get("lang", "")
    text, too_long = clean_query(query.get("term", ""), 200)
    if text and not too_long:
        terms[lang if lang in LANGS else "en"] = tb.clean_term(text[:120])
    sid = parse_id(query.get("proposal"))
    proposal = await app.storage.aread(tb.proposal, sid) if sid is not None else None
    ctx = {"terms": terms, "categories": CATEGORIES, "category": "general", "equipment": False,
           "definition_en": "", "concept_id": "", "error": None, "proposal": None}
    if proposal is not None and proposal.after is not None and proposal.action == "create":
        after = proposal.after
        ctx.update(terms={lang: (after.preferred(lang).text if after.preferred(lang) else "") for lang in LANGS},
                   category=after.category, equipment=after.equipment,
                   definition_en=after.definitions.get("en", ""), concept_id=after.id, proposal=proposal)
    elif proposal is not None:
        ctx["terms"]["en" if not lang else lang if lang in LANGS else "en"] = tb.clean_term(
            proposal.suggestion.term[:120])
    return render(request, "glossary_new.html", ctx)


@require("trainer")
async def new_post(request: web.Request):
    app: App = request.app[APP]
    data = await form(request)
    editor = await _editor(request)
    rows = _new_rows(data)
    category = data.get("category", "general")
    try:
        # No part of speech or gender is guessed: the language forms set them.
        terms = [tb.make_term(lang, text, "preferred") for lang, text in rows.items()]
        outcome = await app.storage.awrite(
            tb.add_concept, editor, terms, concept_id=data.get("concept_id", ""), category=category,
            equipment=data.get("equipment") == "1", definitions={"en": data.get("definition_en", "")},
            proposal=parse_id(data.get("proposal")))
    except tb.NotAllowed as exc:
        return error_page(request, 403, exc.msgid, **exc.values)
    except tb.EditError as exc:
        return render(request, "glossary_new.html", {
            "terms": rows, "categories": CATEGORIES, "category": category if category in CATEGORIES else "general",
            "equipment": data.get("equipment") == "1", "definition_en": data.get("definition_en", ""),
            "concept_id": data.get("concept_id", "")[:64], "error": _message(request, exc), "proposal": None},
            status=400)
    if outcome.applied:
        await _respot(app)
    raise _after(outcome, "added")


@require("trainer")
async def queue_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]

    def read(db):
        return tb.pending_proposals(db), tb.missing_terms(db)

    proposals, missing = await app.storage.aread(read)
    return render(request, "glossary_queue.html", {"proposals": proposals, "missing": missing})


@require("lead")
async def speakers_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    rows = await app.storage.aread(tb.speakers)
    return render(request, "glossary_speakers.html", {"rows": rows, "done": request.query.get("done") == "1"})


@require("lead")
async def speakers_post(request: web.Request):
    app: App = request.app[APP]
    data = await form(request)
    user_id = parse_id(data.get("person"))
    if user_id is None:
        return error_page(request, 400, "This request could not be read.")
    editor = await _editor(request)
    langs = [lang for lang in LANGS if data.get(f"lang_{lang}") == "1"]
    try:
        await app.storage.awrite(tb.set_speaker_langs, editor, user_id, langs)
    except tb.NotAllowed as exc:
        return error_page(request, 403, exc.msgid, **exc.values)
    except tb.EditError as exc:
        return error_page(request, 400, _message(request, exc))
    raise web.HTTPSeeOther("/glossary/speakers?done=1")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/glossary", browse)
    router.add_get("/glossary/queue", queue_page)
    router.add_get("/glossary/new", new_page)
    router.add_post("/glossary/new", new_post)
    router.add_get("/glossary/speakers", speakers_page)
    router.add_post("/glossary/speakers", speakers_post)
    router.add_get("/glossary/c/{cid}", concept_page)
    router.add_get("/glossary/c/{cid}/edit", edit_page)
    router.add_post("/glossary/c/{cid}/edit", edit_post)
    router.add_post("/glossary/c/{cid}/review", review_post)
    router.add_post("/glossary/c/{cid}/deprecate", deprecate_post)
    router.add_get("/glossary/c/{cid}/merge", merge_page)
    router.add_post("/glossary/c/{cid}/merge", merge_post)
    router.add_post("/glossary/c/{cid}/revert", revert_post)
