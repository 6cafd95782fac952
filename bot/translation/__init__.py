"""Translation: the engine (glossary terms enforced, memory first), Argos model packages, the translation memory, sentence and language handling.
May import: ``glossary`` and third-party libraries; never aiogram, aiohttp's web, ``handlers`` or another wing of ``bot``."""
