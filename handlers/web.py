"""/web: a known person's own one-time sign-in link to the web app."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import LinkPreviewOptions, Message
from aiogram.utils.i18n import gettext as _

from bot.people import signin

from .filters import known, private
from .render import q

log = logging.getLogger(__name__)


async def web_link(message: Message, app, person, web=None):
    # SHOPBOT_WEB_URL: the address people reach the app at; else the one it
    # serves on (this machine only: the start-up log says so).
    base = app.settings.web_url or (web.url if web is not None else "")
    if not base:
        await message.answer(_("The web app is not running."))
        return
    link = await app.storage.awrite(signin.create_link, person.user_id, f"tg:{person.user_id}")
    # No preview: Telegram's preview fetch would open the link before the person does.
    await message.answer(
        _("Your sign-in link for the web app (it works once, within 10 minutes):") + "\n" + q(link.url(base)),
        link_preview_options=LinkPreviewOptions(is_disabled=True))


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="web")
    router.message.filter(private, known)
    router.message(Command("web"))(web_link)
    return router
