"""The web app assembled: routes, the server on the running event loop, the
first start's sign-in link, and the slot for the bot's webhook handler.
``bot.cli`` (the entry point) starts it; the tests build it with ``build``."""

from __future__ import annotations

from collections import OrderedDict
from typing import Awaitable, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from bot.app import App
from bot.people import signin
from bot.telegram.texts import ensure_catalogs

from . import dashboard, files, fixes, glossary, pages, people, review, talk
from .server import (APP, HERE, MAX_BODY, MAX_URL, STATUS, WEBHOOK, WEBHOOK_PATH, Status, end_session,
                     headers_middleware, healthz, index, invite_page, invite_use, link_page, link_use,
                     session_middleware, sessions_page, set_language, signin_page, signout)


def build(app: App, status: Status | None = None) -> web.Application:
    ensure_catalogs()
    web_app = web.Application(middlewares=[headers_middleware, session_middleware], client_max_size=MAX_BODY)
    web_app[APP] = app
    web_app[STATUS] = status or Status()
    web_app[WEBHOOK] = {"handler": None}
    aiohttp_jinja2.setup(web_app, loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                         autoescape=True, undefined=jinja2.StrictUndefined, default_helpers=False,
                         # templates are read once: no stat() of each file per page
                         auto_reload=False)
    aiohttp_jinja2.get_env(web_app).globals["Markup"] = Markup
    r = web_app.router
    r.add_get("/", index)
    r.add_get("/signin", signin_page)
    r.add_get("/signin/{token}", link_page)
    r.add_post("/signin/{token}", link_use)
    r.add_get("/invite/{code}", invite_page)
    r.add_post("/invite/{code}", invite_use)
    r.add_post("/signout", signout)
    r.add_get("/sessions", sessions_page)
    r.add_post("/sessions/end", end_session)
    r.add_post("/lang", set_language)
    r.add_get("/healthz", healthz)
    r.add_post(WEBHOOK_PATH, webhook)
    pages.add_routes(r)
    talk.add_routes(r)
    glossary.add_routes(r)
    review.add_routes(r)
    fixes.add_routes(r)
    people.add_routes(r)
    files.add_routes(r)
    dashboard.add_routes(r)
    web_app[talk.TALKS] = OrderedDict()
    r.add_static("/static/", HERE / "static", name="static", append_version=False)
    return web_app


async def webhook(request: web.Request):
    """Telegram's updates in webhook mode, handed to aiogram's handler (set by
    the entry point once the bot is ready; 503 before, so Telegram retries)."""
    hook = request.app[WEBHOOK]
    if hook["handler"] is None:
        raise web.HTTPServiceUnavailable()
    return await hook["handler"](request)


def base_url(settings, site_url: str) -> str:
    """Where people reach the app: SHOPBOT_WEB_URL, else the address served."""
    return settings.web_url or site_url


async def start(app: App, status: Status, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start serving on the running loop; returns the runner and the URL
    actually served (port 0: the port the system chose)."""
    web_app = build(app, status)
    runner = web.AppRunner(web_app, access_log=None, handle_signals=False, shutdown_timeout=10,
                           max_line_size=MAX_URL)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"
    status.url = url
    return runner, url


async def first_link(app: App, url: str) -> str | None:
    """The notebook-style link of a first start: for the first admin, as
    long as no admin has signed in on the web yet."""
    if await app.storage.aread(signin.admin_ever_signed_in):
        return None

    def make(db):
        admin = signin.first_admin(db)
        return signin.create_link(db, admin.user_id, "system:first-start")

    link = await app.storage.awrite(make)
    return link.url(url)


def set_webhook_handler(runner: web.AppRunner,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None) -> None:
    runner.app[WEBHOOK]["handler"] = handler
