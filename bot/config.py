"""Settings, read from the environment (prefix ``SHOPBOT_``) and an optional ``.env``.

One settings object for the whole application; later features add their fields
here rather than reading ``os.environ`` themselves.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHOPBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    #: SQLite database file. Created and seeded on first use.
    db: Path = Path("./shopbot.db")

    @field_validator("db")
    @classmethod
    def _db_not_empty(cls, value: Path) -> Path:
        if not str(value).strip():
            raise ValueError("SHOPBOT_DB must name a file")
        return value


def get_settings(**overrides) -> Settings:
    """Build the settings; keyword overrides win over the environment (CLI options)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
