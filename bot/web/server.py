"""The web app: the aiohttp application, sign-in by one-time link, sessions,
CSRF, the interface language, health, and starting/stopping the server.

Beside a bot that polls, ``shopbot run`` serves it from a process of its own
(``process.py``) with its own ``App`` over the same database; without a token,
for ``shopbot web`` and in webhook mode it runs on the one event loop and uses
the one ``App``. The pages themselves are in ``pages.py`` and ``talk.py``;
``site.py`` assembles them.

Security, in one place:

* strangers get the sign-in page and nothing else (``require``: every page
  but sign-in, static files and ``/healthz`` needs a live session);
* the session cookie is HttpOnly, SameSite=Strict, Secure over https; the
  server keeps the session (``bot.people.signin``), the cookie holds a
  random secret whose hash is the row's key;
* every POST carries a CSRF token: the session's, or before sign-in a
  double-submit cookie (SameSite=Strict, so another site cannot send it);
* every page checks the role with ``can()``, as the bot does;
* a sign-in link is never consumed by a GET (link previews, prefetchers):
  the GET shows a button, the POST signs in; ``Referrer-Policy: no-referrer``
  keeps the link out of other sites' logs;
* a Content-Security-Policy allows only this server's scripts and styles.
"""

from __future__ import annotations

import asyncio
import gettext as gettext_module
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import aiohttp_jinja2
from aiohttp import web

from bot.app import App
from bot.people import signin
from bot.people.directory import InviteError, can
from bot.storage import bot_state
from bot.telegram.texts import DOMAIN, LOCALES
from glossary import LANGS
from glossary.model import LANG_NAMES

log = logging.getLogger("shopbot.web")

HERE = Path(__file__).resolve().parent
COOKIE = "shopbot_session"
PRE_COOKIE = "shopbot_pre"  # the CSRF token of forms shown before sign-in
MAX_BODY = 64 * 1024  # forms; /files streams its uploads under a cap of its own
WEBHOOK_PATH = "/telegram/webhook"
#: Longest request line: a 10,000-character query gets the page that says it
#: is too long, rather than aiohttp's bare 400 at 8 KB.
MAX_URL = 128 * 1024


@dataclass
class Status:
    """What ``/healthz`` reports about the parts outside the web app."""

    telegram: str = "off"  # off | starting | polling | webhook | stopped | failed
    url: str = ""  # the address the server listens on
    bot_username: str = ""  # the bot's @username once it started: invites' deep links
    #: The bot runs in another process (``shopbot run`` with long polling,
    #: bot/web/process.py): its state is the one that process last wrote to
    #: the database (``bot_state``), not ``telegram``.
    elsewhere: bool = False


APP = web.AppKey("app", App)
STATUS = web.AppKey("status", Status)
WEBHOOK = web.AppKey("webhook", dict)  # {"handler": callable or None}
SESSION = web.RequestKey("session", object)  # signin.Session or None
PRE_CSRF = web.RequestKey("pre_csrf", str)


# -- the interface language --------------------------------------------------

@lru_cache(maxsize=None)
def translations(lang: str) -> gettext_module.NullTranslations:
    return gettext_module.translation(DOMAIN, str(LOCALES), languages=[lang], fallback=True)


def gettext_for(lang: str) -> Callable[[str], str]:
    return translations(lang if lang in LANGS else "en").gettext


def browser_language(request: web.Request) -> str:
    """The first of our languages in Accept-Language (zh-TW gives zh, id gives ms)."""
    header = request.headers.get("Accept-Language", "")[:200]
    for part in header.split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        code = {"id": "ms", "in": "ms"}.get(code, code)
        if code in LANGS:
            return code
    return "en"


def request_lang(request: web.Request) -> str:
    session = request.get(SESSION)
    if session is not None:
        return session.person.lang
    lang = request.cookies.get("shopbot_lang", "")
    return lang if lang in LANGS else browser_language(request)


# -- helpers for the pages ---------------------------------------------------

def address(request: web.Request) -> str:
    """The client's address, for the failure count. Behind a reverse proxy
    this is the proxy: the count is then per proxy (README, Known limits)."""
    peer = request.remote or ""
    try:
        return str(ipaddress.ip_address(peer))
    except ValueError:
        return peer[:64] or "unknown"


def render(request: web.Request, template: str, context: dict | None = None, *,
           status: int = 200) -> web.Response:
    lang = request_lang(request)
    session = request.get(SESSION)
    ctx = {
        "_": gettext_for(lang),
        "lang": lang,
        "langs": LANGS,
        "lang_names": LANG_NAMES,
        "session": session,
        "person": session.person if session else None,
        "kiosk": bool(session and session.kind == signin.KIOSK),
        "csrf": session.csrf if session else request.get(PRE_CSRF, ""),
        "can": lambda role: bool(session and can(session.person.role, role)),
        "path": request.path_qs,
    }
    ctx.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, ctx, status=status)
    return response


def error_page(request: web.Request, status: int, message: str, **values: Any) -> web.Response:
    """A page with one clear sentence (``message`` is an msgid, translated here)."""
    _ = gettext_for(request_lang(request))
    return render(request, "error.html", {"message": _(message).format(**values), "status": status},
                  status=status)


def safe_next(value: str | None) -> str:
    """A local path to go back to; anything else (another site, //host) gives /ask."""
    value = (value or "").strip()
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 2000 \
            and value.isprintable():
        return value
    return "/ask"


async def form(request: web.Request) -> dict[str, str]:
    """The POSTed form; a wrong CSRF token is refused here, before any change."""
    try:
        data = await request.post()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="malformed form")
    check_csrf(request, data.get("csrf", ""))
    return {k: v for k, v in data.items() if isinstance(v, str)}


def check_csrf(request: web.Request, sent: Any) -> None:
    """CsrfError unless ``sent`` is this session's token (or the pre-sign-in cookie's)."""
    session = request.get(SESSION)
    expected = session.csrf if session else request.cookies.get(PRE_COOKIE, "")
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(
            sent.encode("utf-8", "replace"), expected.encode()):
        raise CsrfError()


class CsrfError(Exception):
    pass


def require(role: str = "operator"):
    """The page needs a session whose person has ``role`` (or above)."""

    def wrap(handler):
        async def checked(request: web.Request):
            session = request.get(SESSION)
            if session is None:
                # Strangers: the sign-in page and nothing else, whatever they asked for.
                return render(request, "signin.html", {"next": request.path_qs}, status=401)
            if not can(session.person.role, role):
                return error_page(request, 403, "Your role cannot open this page.")
            return await handler(request)

        checked.__name__ = handler.__name__
        checked.__doc__ = handler.__doc__
        return checked

    return wrap


# -- middlewares ---------------------------------------------------------------

@web.middleware
async def headers_middleware(request: web.Request, handler):
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status in (404, 405) and not request.path.startswith("/static/"):
            response = error_page(request, exc.status, "This page does not exist.")
        elif exc.status == 413:
            response = error_page(request, 413, "This request is too large.")
        elif exc.status == 400 and exc.text and "malformed" in exc.text:
            response = error_page(request, 400, "This request could not be read.")
        else:  # redirects and the like: raised on, with the same headers
            secure_headers(request, exc)
            raise
    except CsrfError:
        response = error_page(request, 403, "This form has expired. Go back, reload the page and try again.")
    except Exception:  # noqa: BLE001 - one page for every unexpected error, logged with its traceback
        log.exception("web: %s %s failed", request.method, request.path[:200])
        response = error_page(request, 500, "Something went wrong. Try again, or ask a lead.")
    secure_headers(request, response)
    return response


def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                 "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Frame-Options", "DENY")
    if not request.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")


def parse_id(text: str | None, default: int | None = None, high: int = 2**62) -> int | None:
    """A number from a URL or a form: ASCII digits only (int() also takes
    "１２" and "٣"), within ``high``; else ``default``."""
    text = (text or "").strip()
    if not text or len(text) > 19 or not (text.isascii() and text.isdigit()):
        return default
    value = int(text)
    return value if value <= high else default


@web.middleware
async def session_middleware(request: web.Request, handler):
    app: App = request.app[APP]
    secret = request.cookies.get(COOKIE)
    session = None
    if secret:
        session = await app.storage.aread(signin.session_for, secret)
        if session is not None and signin.needs_touch(session):
            # Queued, not awaited: a page never waits for an fsync.
            app.storage.defer(signin.touch_session, session.id)
    request[SESSION] = session
    response = await handler(request)
    if secret and session is None and not getattr(response, "prepared", False):
        response.del_cookie(COOKIE, path="/")  # expired or ended: forget it
    return response


def set_session_cookie(request: web.Request, response: web.StreamResponse, secret: str) -> None:
    response.set_cookie(COOKIE, secret, path="/", httponly=True, samesite="Strict",
                        secure=request.secure, max_age=int(signin.SESSION_IDLE.total_seconds()))


def pre_csrf(request: web.Request, response_hook: list) -> str:
    """The double-submit CSRF token of a form shown to someone not signed in."""
    token = request.cookies.get(PRE_COOKIE, "")
    if not (20 <= len(token) <= 64 and token.isascii() and token.replace("-", "").replace("_", "").isalnum()):
        token = secrets.token_urlsafe(24)
        response_hook.append(token)
    request[PRE_CSRF] = token
    return token


def with_pre_cookie(request: web.Request, response: web.StreamResponse, new: list) -> web.StreamResponse:
    if new:
        response.set_cookie(PRE_COOKIE, new[0], path="/", httponly=True, samesite="Strict",
                            secure=request.secure)
    return response


# -- sign-in, sign-out, sessions, language -------------------------------------

async def index(request: web.Request):
    raise web.HTTPSeeOther("/ask" if request.get(SESSION) else "/signin")


async def signin_page(request: web.Request):
    if request.get(SESSION):
        raise web.HTTPSeeOther("/ask")
    return render(request, "signin.html", {"next": safe_next(request.query.get("next"))})


_LINK_ERRORS = {
    "unknown": "This sign-in link is not valid.",
    "used": "This sign-in link has already been used. Ask for a new one.",
    "expired": "This sign-in link has expired. Ask for a new one.",
    "limited": "Too many failed sign-ins from this address. Wait a quarter of an hour.",
}


async def _link_failed(request: web.Request, reason: str) -> web.Response:
    app: App = request.app[APP]
    if reason != "limited":
        count = await app.storage.awrite(signin.record_failure, address(request))
        log.warning("web: sign-in link refused (%s) from %s, %d in this window", reason, address(request), count)
    status = {"unknown": 404, "used": 410, "expired": 410, "limited": 429}[reason]
    return error_page(request, status, _LINK_ERRORS[reason])


async def link_page(request: web.Request):
    """GET: check the link without using it, and show the button that does."""
    app: App = request.app[APP]
    token = request.match_info["token"]
    if await app.storage.aread(signin.limited, address(request)):
        return await _link_failed(request, "limited")
    try:
        person = await app.storage.aread(signin.check_link, token)
    except signin.SignInError as exc:
        return await _link_failed(request, exc.reason)
    new: list = []
    pre_csrf(request, new)
    kind = await app.storage.aread(signin.person_kind, person.user_id)
    response = render(request, "signin_link.html", {"token": token, "who": person, "who_kiosk": kind == "kiosk"})
    return with_pre_cookie(request, response, new)


async def link_use(request: web.Request):
    app: App = request.app[APP]
    await form(request)
    try:
        session, secret = await app.storage.awrite(signin.redeem_link, request.match_info["token"],
                                                   address(request))
    except signin.SignInError as exc:
        return await _link_failed(request, exc.reason)
    log.info("web: person %s signed in (%s)", session.person.user_id, session.kind)
    response = web.HTTPSeeOther("/ask")
    set_session_cookie(request, response, secret)
    response.del_cookie(PRE_COOKIE, path="/")
    raise response


_INVITE_ERRORS = {
    "unknown": "This invite code is not valid.",
    "expired": "This invite code has expired. Ask for a new one.",
    "used": "This invite code has already been used. Ask for a new one.",
    "revoked": "This invite code was withdrawn. Ask for a new one.",
}


async def invite_page(request: web.Request):
    app: App = request.app[APP]
    if await app.storage.aread(signin.limited, address(request)):
        return await _link_failed(request, "limited")
    new: list = []
    pre_csrf(request, new)
    response = render(request, "invite.html", {"code": request.match_info["code"][:64]})
    return with_pre_cookie(request, response, new)


async def invite_use(request: web.Request):
    app: App = request.app[APP]
    await form(request)
    try:
        session, secret = await app.storage.awrite(
            signin.redeem_invite_on_web, request.match_info["code"], address(request),
            lang=request_lang(request))
    except signin.SignInError as exc:
        return await _link_failed(request, exc.reason)
    except InviteError as exc:
        await app.storage.awrite(signin.record_failure, address(request))
        return error_page(request, 400 if exc.reason == "unknown" else 410, _INVITE_ERRORS[exc.reason])
    response = web.HTTPSeeOther("/ask")
    set_session_cookie(request, response, secret)
    raise response


@require("operator")
async def signout(request: web.Request):
    app: App = request.app[APP]
    await form(request)
    session = request[SESSION]
    await app.storage.awrite(signin.end_session, session.id, session.person)
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(COOKIE, path="/")
    raise response


@require("operator")
async def sessions_page(request: web.Request):
    app: App = request.app[APP]
    session = request[SESSION]
    everyone = can(session.person.role, "admin")
    rows = await app.storage.aread(signin.list_sessions, None if everyone else session.person.user_id)
    return render(request, "sessions.html", {"rows": rows, "everyone": everyone})


@require("operator")
async def end_session(request: web.Request):
    app: App = request.app[APP]
    data = await form(request)
    session = request[SESSION]
    target = parse_id(data.get("session_id"))
    if target is None:
        return error_page(request, 400, "This request could not be read.")
    try:
        await app.storage.awrite(signin.end_session, target, session.person)
    except signin.NotAllowed:
        return error_page(request, 403, "Your role cannot open this page.")
    if target == session.id:
        response = web.HTTPSeeOther("/signin")
        response.del_cookie(COOKIE, path="/")
        raise response
    raise web.HTTPSeeOther("/sessions")


async def set_language(request: web.Request):
    """The interface language: the person's (as /lang in the bot), or a
    cookie before sign-in."""
    app: App = request.app[APP]
    data = await form(request)
    code = data.get("lang", "")
    if code not in LANGS:
        return error_page(request, 400, "This request could not be read.")
    session = request.get(SESSION)
    if session is not None:
        await app.storage.awrite(signin.set_web_language, session.person.user_id, code)
    response = web.HTTPSeeOther(safe_next(data.get("next")))
    response.set_cookie("shopbot_lang", code, path="/", samesite="Strict", httponly=True,
                        secure=request.secure, max_age=365 * 24 * 3600)
    raise response


# -- health --------------------------------------------------------------------

async def healthz(request: web.Request) -> web.Response:
    """Ready (200) when storage is writable and the glossary loaded; the
    models and the bot are reported (a site may run without either)."""
    app: App = request.app[APP]
    status = request.app[STATUS]
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(app.storage.awrite(lambda db: db.execute("SELECT 1").fetchone()), 5)
        checks["storage"] = "writable"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["storage"] = f"error: {type(exc).__name__}"
    try:
        concepts = await app.storage.aread(lambda db: db.execute("SELECT count(*) FROM concept").fetchone()[0])
        checks["glossary"] = {"concepts": concepts}
    except Exception as exc:  # noqa: BLE001
        checks["glossary"] = f"error: {type(exc).__name__}"
        concepts = 0
    try:
        pairs = await asyncio.to_thread(lambda: [p.pair for p in app.models.list()])
        checks["models"] = pairs
    except Exception as exc:  # noqa: BLE001
        checks["models"] = f"error: {type(exc).__name__}"
    telegram = status.telegram
    if status.elsewhere:
        try:
            telegram = await app.storage.aread(bot_state)
        except Exception as exc:  # noqa: BLE001
            telegram = f"error: {type(exc).__name__}"
    checks["telegram"] = telegram
    ready = checks["storage"] == "writable" and concepts > 0 and telegram != "failed"
    checks["ready"] = ready
    return web.json_response(checks, status=200 if ready else 503)
