"""Conversation mode (``/talk``): not built yet."""

from aiohttp import web


def add_routes(router: web.UrlDispatcher) -> None:
    return None
