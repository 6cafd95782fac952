"""The web front end: aiohttp.web + aiohttp-jinja2 (``server``: app, sign-in, sessions, CSRF, health; ``pages``: the ask page, fixes, conversation), templates/ and static/ here.
May import: aiohttp, jinja2, the services (``bot.app``), the domain wings and ``bot.telegram.texts`` (the shared catalogue); never aiogram, ``handlers`` or the wiring."""
