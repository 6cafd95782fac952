"""The application's services, built once from the settings.

The CLI and the bot both go through ``App``, so a command line and a chat
message reach the same storage, glossary, memory and translation engine.
Heavy parts (model store, engine) are built on first use: starting the bot
loads no translation model.
"""

from __future__ import annotations

from functools import cached_property

from glossary import Glossary

from .config import Settings
from .insight.usage import Usage
from .storage import Storage
from .translation.engine import TranslationEngine
from .translation.memory import TranslationMemory
from .translation.models import ModelStore


class App:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.storage = Storage(settings.db)
        self.glossary = Glossary(self.storage.conn)
        self.memory = TranslationMemory(self.storage.conn, threshold=settings.tm_threshold)
        #: Set by the Telegram bot while it runs (``handlers.fixes.Announcer``):
        #: how another front end (the web) tells people in the bot what it did.
        self.announce = None
        # Lookups and translations people ask for, counted for the dashboard
        # (queued on the writer: never waited for).
        self.usage = Usage(self.storage)

    @cached_property
    def models(self) -> ModelStore:
        return ModelStore(self.settings.models_path)

    @cached_property
    def vision(self):
        """Photo reading (bot.vision): the OCR thread starts with the first photo."""
        from .vision.service import PhotoService

        return PhotoService(self.storage, self.glossary, lambda: self.engine,
                            tessdata=self.settings.tessdata_dir)

    @cached_property
    def engine(self) -> TranslationEngine:
        s = self.settings
        return TranslationEngine(
            self.models, self.glossary, self.memory,
            max_chars=s.max_message_chars, max_loaded=s.max_loaded_models,
            beam_size=s.beam_size, threads=s.translate_threads, executor=self.storage.executor,
        )

    def close(self) -> None:
        self.usage.close()  # its last counts, while the storage still writes
        if "vision" in self.__dict__:
            self.vision.close()
        if "engine" in self.__dict__:
            self.engine.close()
        self.storage.close()

    def __enter__(self) -> "App":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
