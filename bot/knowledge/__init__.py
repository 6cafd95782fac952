"""Knowledge: troubleshooting fixes (states, rights, writes), their search (``FixBase``), YAML/JSON files, glossary suggestions and the review queue.
May import: ``glossary``, ``bot.translation``, ``bot.people``; never aiogram, aiohttp's web, ``handlers`` or a front end."""
