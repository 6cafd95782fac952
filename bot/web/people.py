"""The console's people page (``/people``, leads and admins): everyone and
their role, promote or demote, end someone's sessions, make an invite shown
as a QR code, and the registered groups.

Thin views over ``bot.people.manage``, which applies the bot's own rules
(``directory.GRANTS``, the last admin, invites); a refusal there is a
refusal here, whatever the form says.
"""

from __future__ import annotations

import segno
from aiohttp import web
from markupsafe import Markup

from bot.app import App
from bot.people import directory, manage
from bot.people.directory import LastAdmin, NotAllowed, NotFound, PeopleError
from bot.storage import bot_username

from .server import APP, COOKIE, SESSION, STATUS, error_page, form, parse_id, render, require


def qr_svg(text: str) -> Markup:
    """``text`` as a QR code, inline SVG (black on white, a 4-module quiet
    zone: what phone cameras need). Markup: segno writes only path data."""
    code = segno.make(text, error="m")
    return Markup(code.svg_inline(scale=6, border=4, dark="#000", light="#fff", omitsize=True))


@require("lead")
async def people_page(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    session = request[SESSION]
    rows = await app.storage.aread(manage.overview, session.person)
    groups = await app.storage.aread(directory.list_groups)
    return render(request, "people.html", {
        "rows": rows, "groups": groups, "invite_roles": manage.grantable(session.person.role),
        "done": request.query.get("done", ""),  # the template knows "role" and "sessions" only
    })


def _refused(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, LastAdmin):
        return error_page(request, 409, "This is the last admin: make someone else admin first.")
    if isinstance(exc, NotAllowed):
        return error_page(request, 403, "Your role cannot do this for this person.")
    if isinstance(exc, NotFound):
        return error_page(request, 404, "This person is not known.")
    return error_page(request, 400, "This request could not be read.")


async def _on_person(request: web.Request, service, with_role: bool = False) -> int | web.Response:
    """Run ``service(db, person_id, [role,] actor)`` for the form's person;
    the person's id, or the page that says why not."""
    app: App = request.app[APP]
    data = await form(request)
    person_id = parse_id(data.get("person_id"))
    role = data.get("role", "")
    if person_id is None or with_role and role not in directory.ROLES:
        return error_page(request, 400, "This request could not be read.")
    try:
        await app.storage.awrite(service, person_id, *([role] if with_role else []), request[SESSION].person)
    except PeopleError as exc:
        return _refused(request, exc)
    return person_id


@require("lead")
async def change_role(request: web.Request):
    done = await _on_person(request, manage.set_role, with_role=True)
    if isinstance(done, web.Response):
        return done
    raise web.HTTPSeeOther("/people?done=role")


@require("lead")
async def end_sessions(request: web.Request):
    done = await _on_person(request, manage.end_sessions)
    if isinstance(done, web.Response):
        return done
    if done == request[SESSION].person.user_id:  # this session ended too
        response = web.HTTPSeeOther("/signin")
        response.del_cookie(COOKIE, path="/")
        raise response
    raise web.HTTPSeeOther("/people?done=sessions")


@require("lead")
async def make_invite(request: web.Request) -> web.Response:
    """A new invite, shown once (its code is not stored): the bot's deep link
    as /invite gives it, and the web invite, each with its QR code."""
    app: App = request.app[APP]
    data = await form(request)
    session = request[SESSION]
    role = data.get("role", "")
    if role not in directory.ROLES:
        return error_page(request, 400, "This request could not be read.")
    try:
        invite = await app.storage.awrite(manage.create_invite, role, session.person)
    except PeopleError as exc:
        return _refused(request, exc)
    status = request.app[STATUS]
    # The bot in this process knows its name; else (the bot's own process
    # beside this one, or `shopbot web`) the name its last start wrote down.
    username = status.bot_username or await app.storage.aread(bot_username)
    deep_link = invite.link(username) if username else ""
    base = app.settings.web_url or status.url or f"{request.scheme}://{request.host}"
    web_url = manage.web_invite_url(invite, base)
    return render(request, "invite_made.html", {
        "invite": invite, "deep_link": deep_link, "web_url": web_url,
        "deep_qr": qr_svg(deep_link) if deep_link else "", "web_qr": qr_svg(web_url),
    })


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/people", people_page)
    router.add_post("/people/role", change_role)
    router.add_post("/people/sessions", end_sessions)
    router.add_post("/people/invite", make_invite)
