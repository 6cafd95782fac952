"""The console's files page (``/files``): download the glossary (CSV, TBX),
the translation memory (TMX) and the fixes (YAML); leads and admins upload
one of those files, see what its import would do (a preview: the real
import, rolled back), then import it or drop it.

Thin views over ``bot.knowledge.imports``. The upload is read here as a
stream, capped at ``imports.MAX_UPLOAD`` (the app's 64 KB form limit stays
for every other form), CSRF-checked before anything is parsed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from aiohttp import web

from bot.app import App
from bot.knowledge import imports
from bot.knowledge.files import fixes_bytes
from bot.knowledge.fixes import all_fixes, reindex_concepts
from bot.translation import memory as tm
from glossary import exchange
from glossary import store as glossary_store

from .server import APP, SESSION, check_csrf, error_page, form, render, require

#: Form fields other than the file: the CSRF token and the TBX source name.
MAX_FIELD = 1024
MAX_PARTS = 8

#: name -> (who may download it, media type, how it is made).
DOWNLOADS = {
    "glossary.csv": ("trainer", "text/csv; charset=utf-8"),
    "glossary.tbx": ("trainer", "application/x-tbx+xml"),
    "memory.tmx": ("trainer", "application/x-tmx+xml"),
    # every status, with authors' ids and reject reasons: as /fix shows drafts to leads only
    "fixes.yaml": ("lead", "application/yaml; charset=utf-8"),
}


def _actor(request: web.Request) -> str:
    return f"web:{request[SESSION].person.user_id}"


@require("trainer")
async def files_page(request: web.Request) -> web.Response:
    return render(request, "files.html", {"downloads": DOWNLOADS, "max_mb": imports.MAX_UPLOAD // (1024 * 1024)})


def _export(db, name: str) -> bytes:
    if name.startswith("glossary."):
        return exchange.file_bytes(glossary_store.all_concepts(db), name)
    if name == "memory.tmx":
        return tm.tmx_bytes(tm.all_units(db))
    return fixes_bytes(all_fixes(db), "yaml")


@require("trainer")
async def download(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    name = request.match_info["name"]
    if name not in DOWNLOADS:
        raise web.HTTPNotFound()
    role, media = DOWNLOADS[name]
    if not request[SESSION].person.can(role):
        return error_page(request, 403, "Your role cannot open this page.")
    body = await app.storage.aread(_export, name)
    stem, ext = name.split(".")
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return web.Response(body=body, headers={
        "Content-Type": media,
        "Content-Disposition": f'attachment; filename="shopbot-{stem}-{day}.{ext}"',
    })


async def _read_upload_form(request: web.Request) -> tuple[dict[str, str], str, bytes]:
    """The multipart form, read as a stream: fields of at most MAX_FIELD
    bytes, one file of at most MAX_UPLOAD (counted after any Content-Encoding
    of the request is undone: a gzip bomb stops at the cap). A part's own
    encoding is never applied: a compressed file stays compressed, and the
    reader refuses it."""
    if request.content_type != "multipart/form-data":
        raise web.HTTPBadRequest(text="malformed form")
    try:
        reader = await request.multipart()
        fields: dict[str, str] = {}
        name, data = "", b""
        for _ in range(MAX_PARTS):
            part = await reader.next()
            if part is None:
                break
            is_file = part.name == "file" and part.filename is not None
            cap = imports.MAX_UPLOAD if is_file else MAX_FIELD
            buf = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                buf += chunk
                if len(buf) > cap:
                    raise web.HTTPRequestEntityTooLarge(max_size=cap, actual_size=len(buf))
            if is_file:
                name, data = part.filename, bytes(buf)
            elif part.name:
                fields[part.name] = buf.decode("utf-8", "replace")
        else:
            raise web.HTTPBadRequest(text="malformed form: too many parts")
    except (ValueError, AssertionError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="malformed form")
    check_csrf(request, fields.get("csrf", ""))
    return fields, name, data


def _refused(request: web.Request, name: str, message: str, status: int = 422) -> web.Response:
    return render(request, "files_preview.html", {"name": name, "refused": message, "parsed": None,
                                                  "outcome": None, "token": "", "show": imports.SHOW_ITEMS},
                  status=status)


@require("lead")
async def preview(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    fields, name, data = await _read_upload_form(request)
    source = fields.get("source", "")
    try:
        parsed = await app.storage.arun(imports.read_upload, name, data, source)
        outcome = await app.storage.aread(imports.preview, parsed, _actor(request), app.settings.photos_path)
    except imports.Refused as exc:
        return _refused(request, imports.clean_filename(name), str(exc))
    token = ""
    if outcome.added or outcome.changed:
        token = await app.storage.awrite(imports.keep_upload, request[SESSION].person.user_id, parsed, outcome,
                                         source)
    return render(request, "files_preview.html", {"name": parsed.name, "refused": "", "parsed": parsed,
                                                  "outcome": outcome, "token": token, "show": imports.SHOW_ITEMS})


@require("lead")
async def commit(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    data = await form(request)
    person_id = request[SESSION].person.user_id
    token = data.get("token", "")
    upload = await app.storage.aread(imports.get_upload, token, person_id)
    if upload is None:
        return error_page(request, 410, "This file was imported or dropped already, or its hour has passed. Upload it again.")
    try:
        parsed = await app.storage.arun(imports.reread, upload)
        outcome = await app.storage.awrite(imports.commit, token, person_id, parsed, _actor(request),
                                           app.settings.photos_path)
    except imports.Changed:
        return error_page(request, 409, "The data changed since the preview, so nothing was imported. Upload the file again to see what it would do now.")
    except imports.Refused as exc:
        return _refused(request, upload.name, str(exc))
    if parsed.kind == "glossary":
        # As the CLI's import: new terms may be in old fixes.
        await asyncio.to_thread(reindex_concepts, app.storage.write, app.storage.read)
    return render(request, "files_done.html", {"name": parsed.name, "outcome": outcome, "show": imports.SHOW_ITEMS})


@require("lead")
async def discard(request: web.Request):
    app: App = request.app[APP]
    data = await form(request)
    await app.storage.awrite(imports.discard_upload, data.get("token", ""), request[SESSION].person.user_id)
    raise web.HTTPSeeOther("/files")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/files", files_page)
    router.add_get("/files/download/{name}", download)
    router.add_post("/files/preview", preview)
    router.add_post("/files/commit", commit)
    router.add_post("/files/discard", discard)
