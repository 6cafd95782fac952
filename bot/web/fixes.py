"""The fixes on the web: ``/fixes`` (list and filter), ``/fixes/ID`` (what a
fix is, its state, its languages, what this person may do with it),
``/fixes/new`` and ``/fixes/ID/edit`` (a form with photos), and the author's
and the lead's actions (submit, withdraw, validate a sample for this site).

The bot's rules, through the same services: anyone known reads approved
fixes, the author their own, leads and admins all (``fixes.can_read``);
trainers and above write fixes, only the author edits, submits or withdraws
one, and only while it is a draft, pending or rejected (``fixes``' state
machine); a new fix is created and submitted in one transaction
(``fixes.create_and_submit``, as /newfix).

Photos come as a multipart form, read part by part with caps of our own
(the app's 64 KB body limit is for plain forms): the CSRF token must be the
first field, before any byte of a file is kept; each photo at most 10 MB
(the bot's limit), at most ``fixes.MAX_PHOTOS`` per fix, ``MAX_UPLOAD``
for the whole request. Each photo is checked as the bot checks a photo it
reads (``bot.vision.prepare.open_image``: size, pixels, JPEG/PNG/WebP) and
stored as a fresh JPEG in the photos folder (``prepare.save_photo``), where
``/fix/ID`` shows it. A refused photo re-shows the form with everything
typed kept.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from bot.app import App
from bot.knowledge import fixes as fix_store
from bot.knowledge import review
from bot.knowledge.fixes import FixError
from bot.people.directory import can
from bot.telegram.texts import N_, PHOTO_REFUSED, PHOTO_UNREADABLE
from bot.translation.text import detect_language
from bot.vision import prepare
from glossary import LANGS

from .pages import knowledge, photo_response, shown_photos
from .review import log, notice, person_label
from .server import (APP, SESSION, CsrfError, check_csrf, error_page, form, gettext_for, parse_id, render,
                     request_lang, require)

MAX_UPLOAD = 32 * 1024 * 1024  # one request: a few phone photos and the text
MAX_FIELD = 64 * 1024  # one text field of the form (a fix is far smaller)
PAGE = 50
TEXT_FIELDS = ("equipment", "original_lang", "symptom", "codes", "cause", "steps", "safety")

NOT_EDITABLE = N_("Only the author can edit this fix, while it is a draft, pending or rejected.")
NOTICES = {
    "submitted": N_("Received: fix #{id} waits for a lead's review."),
    "saved": N_("Fix #{id} saved."),
    "withdrawn": N_("Fix #{id} withdrawn."),
    "adopted": N_("Fix #{id} is now this site's procedure."),
}


# -- reading a form with photos -----------------------------------------------------

@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    photos: list[bytes] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # msgids, one per refused file


class TooLarge(Exception):
    pass


#: Photos decoded at once, across all requests: a 40-megapixel photo takes
#: about 120 MB while it is decoded, and the machine is shared with the bot.
#: One semaphore per event loop (a semaphore belongs to the loop it waited on).
DECODING = 2
_decoding: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = weakref.WeakKeyDictionary()


def decoding() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _decoding:
        _decoding[loop] = asyncio.Semaphore(DECODING)
    return _decoding[loop]

#: What aiohttp's multipart reader raises on a body that is not one.
MALFORMED = (ValueError, AssertionError, HttpProcessingError)


async def read_upload(request: web.Request) -> Upload:
    """A form with files (multipart) or without (urlencoded), CSRF checked
    first. Raises CsrfError, TooLarge (the request is over MAX_UPLOAD, or a
    text field over MAX_FIELD), or HTTPBadRequest for a malformed body."""
    if not request.content_type.startswith("multipart/"):
        return Upload(fields=await form(request))
    if request.content_length is not None and request.content_length > MAX_UPLOAD:
        raise TooLarge()
    try:
        reader = await request.multipart()
    except MALFORMED:
        raise web.HTTPBadRequest(text="malformed form")
    upload, total, checked = Upload(), 0, False
    while True:
        try:
            part = await reader.next()
        except MALFORMED:
            raise web.HTTPBadRequest(text="malformed form")
        if part is None:
            break
        if not isinstance(part, BodyPartReader):  # a multipart inside the multipart
            raise web.HTTPBadRequest(text="malformed form")
        is_file = part.filename is not None
        limit = prepare.MAX_BYTES if is_file else MAX_FIELD
        data = bytearray()
        try:
            while chunk := await part.read_chunk(65536):
                total += len(chunk)
                if total > MAX_UPLOAD:
                    raise TooLarge()
                if len(data) <= limit:  # past the limit: read on (the request may go on), keep nothing
                    data += chunk
        except MALFORMED:
            raise web.HTTPBadRequest(text="malformed form")
        if not checked:
            # The token comes first: nothing of a forged request is kept.
            if part.name != "csrf" or is_file:
                raise CsrfError()
            check_csrf(request, data.decode("utf-8", "replace"))
            checked = True
            continue
        if is_file:
            if not part.filename and not data:
                continue  # a file input left empty
            if len(data) > limit:
                upload.refused.append(PHOTO_REFUSED["too-large"])
            else:
                upload.photos.append(bytes(data))
        elif len(data) > limit:
            raise TooLarge()
        elif part.name:
            upload.fields[part.name] = data.decode("utf-8", "replace")
    if not checked:
        raise CsrfError()
    return upload


async def save_photos(app: App, person_id: int, photos: list[bytes]) -> tuple[list[dict], list[str]]:
    """Check and store each photo; (the stored photos, the msgids of the refused)."""
    saved, refused = [], []
    for data in photos:
        # A name of its own per upload, as the bot names its downloads.
        name = f"{person_id}-web-{secrets.token_hex(8)}"
        try:
            async with decoding():
                path = await asyncio.to_thread(prepare.save_photo, data, app.settings.photos_path, name)
        except prepare.ImageRefused as exc:
            refused.append(PHOTO_REFUSED.get(exc.reason, PHOTO_UNREADABLE))
            continue
        except (OSError, ValueError):  # decoded, but not re-encodable (an odd mode): not a photo we keep
            refused.append(PHOTO_UNREADABLE)
            continue
        saved.append({"local_path": path})
    return saved, refused


def delete_files(app: App, paths: list[str]) -> None:
    for local_path in paths:  # never a file outside the photos folder
        if (path := fix_store.photo_file(app.settings.photos_path, local_path)) is not None:
            path.unlink(missing_ok=True)


# -- the content of a fix, from the form -------------------------------------------

async def content(app: App, fields: dict[str, str], prior: str) -> dict:
    """The service's arguments for a fix from the form's fields. The original
    language: the one chosen, else detected as /newfix does."""
    symptom, cause = fields.get("symptom", "").strip(), fields.get("cause", "").strip()
    steps, safety = (fix_store.typed_items(fields.get(k, "")) for k in ("steps", "safety"))
    lang = fields.get("original_lang", "")
    if lang not in LANGS:
        sample = "\n".join([symptom, cause, *steps])[:2000]
        lang = (await asyncio.to_thread(detect_language, sample, prior)).lang or prior
    return {"equipment": fields.get("equipment", "").strip(), "original_lang": lang, "symptom": symptom,
            "cause": cause, "steps": steps, "safety": safety,
            "codes": fix_store.typed_codes(fields.get("codes", ""))}


async def equipment_choices(app: App, lang: str, ids: list[str] | None = None) -> list[tuple[str, str]]:
    """(concept id, name in the reader's language) of ``ids``, or of all the
    glossary's equipment, by name."""
    def read() -> list[tuple[str, str]]:
        out = []
        for cid in ids if ids is not None else [r[0] for r in app.storage.conn().execute(
                "SELECT id FROM concept WHERE equipment = 1")]:
            concept = app.glossary.concept(cid)
            term = concept and (concept.preferred(lang) or concept.preferred("en"))
            out.append((cid, term.text if term else cid))
        return sorted(out, key=lambda c: c[1].casefold())

    return await app.storage.arun(read)


# -- pages ----------------------------------------------------------------------------

@require("operator")
async def list_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    person = request[SESSION].person
    q = request.query
    flt = review.FixFilter(equipment=q.get("equipment", ""), status=q.get("status", ""),
                           author=q.get("author", ""), lang=q.get("lang", ""), sample=q.get("sample", "")).clean()
    page = parse_id(q.get("page"), 1, high=100_000) or 1
    rows, total = await app.storage.aread(review.list_fixes, person.user_id, person.role, flt,
                                          PAGE, (page - 1) * PAGE)
    equipment = await equipment_choices(app, person.lang, await app.storage.aread(review.fix_equipment))
    pages = max(1, -(-total // PAGE))
    query = {k: v for k, v in (("equipment", flt.equipment), ("status", flt.status), ("author", flt.author),
                               ("lang", flt.lang), ("sample", flt.sample)) if v}
    return render(request, "fixes_list.html", {
        "rows": rows, "total": total, "flt": flt, "page": page, "pages": pages,
        "equipment": equipment, "labels": dict(equipment),
        "statuses": fix_store.STATUSES, "notice": notice_of(request),
        "prev_url": str(URL("/fixes").with_query({**query, "page": page - 1})) if page > 1 else None,
        "next_url": str(URL("/fixes").with_query({**query, "page": page + 1})) if page < pages else None})


def notice_of(request: web.Request) -> str | None:
    said = request.query.get("said", "")
    if said in NOTICES:
        return gettext_for(request_lang(request))(NOTICES[said]).format(id=parse_id(request.query.get("of")) or "")
    return notice(request)


async def readable(request: web.Request, fix_id: int | None):
    """The fix's card if this person may read it (``fixes.can_read``), else None."""
    app: App = request.app[APP]
    person = request[SESSION].person
    card = await knowledge(app).aget(fix_id) if fix_id else None
    if card is None or not fix_store.can_read(person.role, person.user_id, card.status, card.author):
        return None
    return card


def is_author(person, card) -> bool:
    return card.author == str(person.user_id)


@require("operator")
async def view_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    person = request[SESSION].person
    card = await readable(request, parse_id(request.match_info["fix_id"]))
    if card is None:
        return error_page(request, 404, "This fix is no longer available.")
    mine = is_author(person, card) and can(person.role, "trainer")
    photos = [n for n, _p in shown_photos(app, card)]
    [(_cid, equipment)] = await equipment_choices(app, person.lang, [card.equipment])
    return render(request, "fix_view.html", {
        "fix": card, "author": await person_label(app, card.author), "mine": mine, "equipment": equipment,
        "editable": mine and card.status in ("draft", "pending", "rejected"),
        "submittable": mine and card.status == "draft",
        "withdrawable": mine and card.status in ("draft", "pending"),
        "speaker": can(person.role, "trainer") and card.status == "approved",
        "adoptable": card.sample and can(person.role, "lead"), "photos": photos,
        "notice": notice_of(request)})


def blank_form() -> dict:
    return dict.fromkeys(TEXT_FIELDS, "")


@require("trainer")
async def new_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    values = blank_form()
    values["equipment"] = request.query.get("equipment", "")[:200]
    return await _form_page(request, app, values, fix=None)


async def _form_page(request, app: App, values: dict, *, fix, errors=(), status: int = 200) -> web.Response:
    person = request[SESSION].person
    choices = await equipment_choices(app, person.lang)
    current = values.get("equipment", "")
    if current and current not in dict(choices) and await app.storage.arun(app.glossary.concept, current):
        # A fix may be about any concept (the bot offers materials and processes
        # too): the one it is about stays a choice.
        choices = await equipment_choices(app, person.lang, [current]) + choices
    return render(request, "fix_form.html", {
        "values": values, "fix": fix, "errors": list(errors), "max_photos": fix_store.MAX_PHOTOS,
        "equipment": choices,
        "limits": {"symptom": fix_store.MAX_SYMPTOM, "cause": fix_store.MAX_CAUSE}}, status=status)


async def _write(request: web.Request, fix) -> web.Response:
    """The new-fix and edit forms' POST: read, store the photos, one write."""
    app: App = request.app[APP]
    person = request[SESSION].person
    try:
        upload = await read_upload(request)
    except TooLarge:
        return error_page(request, 413, "This request is too large.")
    values = {k: upload.fields.get(k, "")[:MAX_FIELD] for k in TEXT_FIELDS}
    kept = [p for n, p in enumerate(fix.photos if fix else []) if f"remove-{n}" not in upload.fields]
    removed = [p.local_path for n, p in enumerate(fix.photos if fix else []) if f"remove-{n}" in upload.fields]
    _ = gettext_for(request_lang(request))
    errors = [_(m) for m in upload.refused]
    if len(kept) + len(upload.photos) > fix_store.MAX_PHOTOS:
        errors.append(_(N_("At most {limit} photos per fix.")).format(limit=fix_store.MAX_PHOTOS))
    if errors:
        return await _form_page(request, app, values, fix=fix, errors=errors, status=400)
    saved, refused = await save_photos(app, person.user_id, upload.photos)
    if refused:
        delete_files(app, [p["local_path"] for p in saved])
        return await _form_page(request, app, values, fix=fix, errors=[_(m) for m in refused], status=400)
    args = await content(app, values, person.lang)
    photos = [{"file_id": p.file_id, "local_path": p.local_path, "caption": p.caption} for p in kept] + saved
    try:
        if fix is None:
            fix_id = await app.storage.awrite(fix_store.create_and_submit, author=person.user_id,
                                              role=person.role, photos=photos, **args)
            said = "submitted"
        else:
            fix_id = fix.id
            await app.storage.awrite(fix_store.update_draft, fix_id, person.user_id, role=person.role,
                                     photos=photos, **args)
            said = "saved"
    except FixError as exc:
        delete_files(app, [p["local_path"] for p in saved])  # the fix was not written: its photos go
        return await _form_page(request, app, values, fix=fix, errors=[f"{_(N_('Not saved:'))} {exc}"], status=400)
    if removed:
        delete_files(app, await app.storage.aread(fix_store.unused_photos, removed))
    if said == "submitted":
        await tell_reviewers(request, fix_id, person, args["symptom"])
    raise web.HTTPSeeOther(f"/fixes/{fix_id}?said={said}&of={fix_id}")


async def tell_reviewers(request: web.Request, fix_id: int, person, symptom: str) -> None:
    """The leads learn in the bot that a fix waits (when the bot runs here)."""
    announce = request.app[APP].announce
    if announce is not None:
        try:
            await asyncio.wait_for(announce.tell_reviewers(fix_id, person, symptom), 10)
        except Exception as exc:  # noqa: BLE001 - the fix is written; the leads also see /review
            log.warning("web: could not tell the reviewers of fix #%s: %s", fix_id, exc)


@require("trainer")
async def new_post(request: web.Request) -> web.Response:
    return await _write(request, None)


async def own_fix(request: web.Request):
    """The card of a fix this person wrote and may still edit, else None."""
    person = request[SESSION].person
    card = await readable(request, parse_id(request.match_info["fix_id"]))
    if card is None or not is_author(person, card) or card.status not in ("draft", "pending", "rejected"):
        return None
    return card


@require("trainer")
async def edit_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    card = await own_fix(request)
    if card is None:
        return error_page(request, 403, NOT_EDITABLE)
    values = {"equipment": card.equipment, "original_lang": card.original_lang, "symptom": card.symptom,
              "codes": ", ".join(card.codes), "cause": card.cause, "steps": "\n".join(card.steps),
              "safety": "\n".join(card.safety)}
    return await _form_page(request, app, values, fix=card)


@require("trainer")
async def edit_post(request: web.Request) -> web.Response:
    card = await own_fix(request)
    if card is None:
        # Checked before the body is read: another person's fix keeps nothing of the upload.
        return error_page(request, 403, NOT_EDITABLE)
    return await _write(request, card)


@require("operator")
async def photo(request: web.Request) -> web.FileResponse:
    card = await readable(request, parse_id(request.match_info["fix_id"]))
    return photo_response(request.app[APP], card, parse_id(request.match_info["n"], high=100))


@require("trainer")
async def action_post(request: web.Request):
    """submit, withdraw (the author), adopt (a lead: validate a sample)."""
    app: App = request.app[APP]
    person = request[SESSION].person
    data = await form(request)
    fix_id = parse_id(request.match_info["fix_id"])
    action = request.match_info["action"]
    if fix_id is None or action not in ("submit", "withdraw", "adopt"):
        return error_page(request, 404, "This page does not exist.")
    who, role = person.user_id, person.role
    if action == "withdraw" and data.get("sure") != "1":  # no JavaScript confirm(): a box to tick
        return error_page(request, 400, N_("Tick the box to confirm: a withdrawn fix is deleted."))
    try:
        if action == "submit":
            await app.storage.awrite(fix_store.submit, fix_id, who, role)
            card = await knowledge(app).aget(fix_id)
            await tell_reviewers(request, fix_id, person, card.symptom if card else "")
            said, where = "submitted", f"/fixes/{fix_id}"
        elif action == "withdraw":
            delete_files(app, await app.storage.awrite(fix_store.withdraw, fix_id, who, role))
            said, where = "withdrawn", "/fixes"
        else:
            await app.storage.awrite(fix_store.adopt_sample, fix_id, who, role)
            said, where = "adopted", f"/fixes/{fix_id}"
    except fix_store.FixNotFound:
        return error_page(request, 404, "This fix is no longer available.")
    except fix_store.FixPermissionError:
        return error_page(request, 403, "Your role cannot open this page.")
    except FixError as exc:
        return error_page(request, 409, N_("Not done: {why}"), why=str(exc))
    raise web.HTTPSeeOther(f"{where}?said={said}&of={fix_id}")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/fixes", list_page)
    router.add_get("/fixes/new", new_page)
    router.add_post("/fixes/new", new_post)
    router.add_get("/fixes/{fix_id}", view_page)
    router.add_get("/fixes/{fix_id}/photo/{n}", photo)
    router.add_get("/fixes/{fix_id}/edit", edit_page)
    router.add_post("/fixes/{fix_id}/edit", edit_post)
    router.add_post("/fixes/{fix_id}/{action}", action_post)
