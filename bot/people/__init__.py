"""People: persons, roles and rights, invites, registered groups (``directory``); the chat tables the front end keeps (``chats``: FSM rows, group replies).
May import: ``glossary`` and third-party libraries; never aiogram, aiohttp's web, ``handlers`` or another wing of ``bot``."""
