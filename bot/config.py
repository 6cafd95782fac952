"""Settings, read from the environment (prefix ``SHOPBOT_``) and an optional ``.env``.

One settings object for the whole application; features add their fields
here rather than reading ``os.environ`` themselves.
"""

from __future__ import annotations

from pathlib import Path

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHOPBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    #: SQLite database file. Created and seeded on first use.
    db: Path = Path("./shopbot.db")
    #: The bot's token from @BotFather. Never logged.
    token: SecretStr | None = None
    #: A Bot API server base URL (self-hosted server, or the tests' fake one).
    api_url: str | None = None
    #: Telegram user ids who are admins from the start: "123,456".
    admins: Annotated[list[int], NoDecode] = []
    #: Installed Argos packages; default: a ``models/`` folder beside the database.
    models_dir: Path | None = None
    #: Fix photos the bot downloaded; default: a ``photos/`` folder beside the
    #: database. A fix may name local photo files only inside it.
    photos_dir: Path | None = None
    #: Tesseract models for reading photos; default: the virtualenv's
    #: share/tessdata, where ``make`` installs them.
    tessdata_dir: Path | None = None
    #: Fuzzy translation-memory matches at or above this score (0-100) are served.
    tm_threshold: float = Field(85.0, ge=50, le=100)
    #: Longest message translated, in characters.
    max_message_chars: int = Field(2000, ge=10, le=100_000)
    #: Beam size of the translation models (1 = greedy, fastest).
    beam_size: int = Field(2, ge=1, le=8)
    #: CPU threads per translation (0 = all cores).
    translate_threads: int = Field(0, ge=0, le=64)
    #: How many translation models stay loaded at once (each costs 100s of MB).
    max_loaded_models: int = Field(4, ge=1, le=20)
    #: The web app's address and port (0: any free port, logged).
    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0, le=65535)
    #: The address people reach the web app at (behind a proxy, another
    #: machine's name): sign-in links sent from Telegram start with it.
    web_url: str | None = None
    #: With a token and long polling, serve the web app from a process of its
    #: own (bot/web/process.py): the bot's event loop then never waits behind
    #: a web page, and the two use two cores. Off (0): one process and one
    #: event loop for both, which loads each translation model once instead
    #: of once per process (README: The web app, Processes).
    web_process: bool = True
    #: Set: Telegram delivers updates to this URL (webhook mode, on the web
    #: app's server); unset: long polling.
    webhook_url: str | None = None
    #: The secret Telegram sends back in X-Telegram-Bot-Api-Secret-Token;
    #: default: derived from the token.
    webhook_secret: SecretStr | None = None

    @field_validator("db")
    @classmethod
    def _db_not_empty(cls, value: Path) -> Path:
        if not str(value).strip():
            raise ValueError("SHOPBOT_DB must name a file")
        return value

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value):
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            if not all(p.isdigit() and int(p) > 0 for p in parts):
                raise ValueError("SHOPBOT_ADMINS must be Telegram user ids separated by commas")
            return [int(p) for p in parts]
        return value

    @field_validator("web_url", "webhook_url")
    @classmethod
    def _check_web_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("SHOPBOT_WEB_URL and SHOPBOT_WEBHOOK_URL must start with http:// or https://")
        return value.rstrip("/") if value else None

    @field_validator("api_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("SHOPBOT_API_URL must start with http:// or https://")
        return value.rstrip("/") if value else None

    @property
    def models_path(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.db.parent / "models"

    @property
    def photos_path(self) -> Path:
        return self.photos_dir if self.photos_dir is not None else self.db.parent / "photos"


#: Strings that must never leave the process: the bot token (part of every
#: Bot API URL, so it turns up in network errors and their tracebacks).
#: The CLI's error line and the log handlers both pass through ``redact``.
SECRETS: set[str] = set()


def redact(text: str) -> str:
    for secret in SECRETS:
        text = text.replace(secret, "<token>")
    return text


def get_settings(**overrides) -> Settings:
    """Build the settings; keyword overrides win over the environment (CLI options)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
