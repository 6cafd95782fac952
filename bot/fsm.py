"""aiogram FSM state in the shopbot database, and redelivered updates dropped.

``SQLiteStorage`` keeps each conversation's FSM state and data in the table
``fsm_state``, so a dialogue survives a restart of the bot. ``UpdateDeduplicator``
remembers the update ids already handled (table ``processed_update``) so that an
update Telegram delivers twice is answered once. Wiring::

    storage = Storage(path)
    dp = Dispatcher(storage=SQLiteStorage(storage))
    dp.update.outer_middleware(UpdateDeduplicator(storage))

Both go through ``Storage``: writes on its writer thread (``awrite``, inside
``BEGIN IMMEDIATE``), reads on its reader threads (``aread``); the event loop
never waits on SQLite.

FSM data is stored as JSON. ``set_data``/``update_data`` refuse anything JSON
would not give back as it was (a ``PhotoSize``, a ``datetime``, an int dict key,
NaN) with ``FSMDataError``, naming the offending item; tuples come back as lists.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlite_utils
from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.types import TelegramObject, Update

from glossary.store import utcnow

if TYPE_CHECKING:  # bot.storage imports this module for its migration
    from .storage import Storage

log = logging.getLogger(__name__)

#: processed_update keeps the ids above the newest minus this many...
KEEP_UPDATE_IDS = 100_000
#: ...and younger than this. Telegram keeps an unconfirmed update for 24 hours,
#: so no redelivery comes later; after a week without updates it may restart
#: update ids at a random value, which must not collide with an old record.
KEEP_UPDATES_FOR = timedelta(hours=48)
#: Seconds between two prunings (the first update after a start prunes).
PRUNE_INTERVAL = 600.0


# --------------------------------------------------------------------------
# FSM rows


class FSMDataError(TypeError):
    """FSM data that JSON cannot store faithfully."""


def key_text(key: StorageKey) -> str:
    """The row key of a StorageKey: all its fields, as a JSON array. (A
    colon-joined string could make two keys one: business_connection_id and
    destiny are free text.)"""
    return json.dumps([key.bot_id, key.chat_id, key.user_id, key.thread_id,
                       key.business_connection_id, key.destiny], separators=(",", ":"))


def check_json(value: Any, where: str = "data") -> None:
    """Raise FSMDataError unless ``value`` comes back from JSON unchanged
    (tuples excepted: they come back as lists)."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FSMDataError(f"FSM {where} is {value}: JSON has no NaN or infinity")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str):
                raise FSMDataError(
                    f"FSM {where} has the key {name!r}: JSON keys are strings, it would "
                    f"come back as {json.dumps(name)}")
            check_json(item, f"{where}[{name!r}]")
        return
    raise FSMDataError(
        f"FSM {where} has type {type(value).__name__}: FSM data must be JSON (dict, list, "
        "str, int, float, bool, None); store an id or plain values instead")


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _as_dict(data: Mapping[str, Any]) -> dict:
    if not isinstance(data, Mapping):
        raise DataNotDictLikeError(
            f"Data must be a dict or dict-like object, got {type(data).__name__}")
    data = dict(data)
    check_json(data)
    return data


def _read_state(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT state FROM fsm_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def _read_data(db: sqlite_utils.Database, key: str) -> dict:
    row = db.execute("SELECT data FROM fsm_state WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else {}


def _write(db: sqlite_utils.Database, key: str, column: str, value: str | None) -> None:
    """Upsert one column (``state`` or ``data``) of a conversation's row."""
    if column not in ("state", "data"):  # the column name is formatted into SQL
        raise ValueError(f"no FSM column {column!r}")
    db.execute(
        f"INSERT INTO fsm_state (key, {column}, updated_at) VALUES (?, ?, ?) "
        f"ON CONFLICT (key) DO UPDATE SET {column} = excluded.{column}, updated_at = excluded.updated_at",
        [key, value, utcnow()],
    )
    _drop_if_blank(db, key)


def _write_state(db: sqlite_utils.Database, key: str, state: str | None) -> None:
    _write(db, key, "state", state)


def _write_data(db: sqlite_utils.Database, key: str, data_json: str) -> None:
    _write(db, key, "data", data_json)


def _merge_data(db: sqlite_utils.Database, key: str, patch_json: str) -> dict:
    """Read, update, write back: one transaction, so no concurrent update is lost."""
    data = _read_data(db, key)
    data.update(json.loads(patch_json))
    _write_data(db, key, _dumps(data))
    return data


def _drop_if_blank(db: sqlite_utils.Database, key: str) -> None:
    """No state and no data is what a missing row means: keep the table to the
    conversations in progress, not every user who ever wrote (``state.clear()``
    ends here)."""
    db.execute("DELETE FROM fsm_state WHERE key = ? AND state IS NULL AND data = '{}'", [key])


class SQLiteStorage(BaseStorage):
    """aiogram FSM storage in the shopbot database.

    ``close()`` leaves the shared ``Storage`` open (the Dispatcher calls it at
    every polling shutdown, and the App owns the database) unless
    ``close_storage=True``.
    """

    def __init__(self, storage: Storage, *, close_storage: bool = False):
        self.storage = storage
        self.close_storage = close_storage

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self.storage.awrite(_write_state, key_text(key), value)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self.storage.aread(_read_state, key_text(key))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self.storage.awrite(_write_data, key_text(key), _dumps(_as_dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self.storage.aread(_read_data, key_text(key))

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        return await self.storage.awrite(_merge_data, key_text(key), _dumps(_as_dict(data)))

    async def close(self) -> None:
        if self.close_storage:  # Storage.close joins threads: not on the event loop
            await asyncio.to_thread(self.storage.close)


# --------------------------------------------------------------------------
# Redelivered updates


def record_update(db: sqlite_utils.Database, update_id: int, prune: bool = False) -> bool:
    """Record ``update_id`` as processed; False if it was already."""
    if prune:  # before the insert: an id reused after a silent week is stale
        prune_updates(db)
    cursor = db.execute("INSERT OR IGNORE INTO processed_update (update_id, at) VALUES (?, ?)",
                        [update_id, utcnow()])
    return cursor.rowcount == 1


def prune_updates(db: sqlite_utils.Database, now: datetime | None = None) -> int:
    """Forget the ids too old to be redelivered. Returns how many went."""
    now = now or datetime.now(timezone.utc)
    cutoff = (now - KEEP_UPDATES_FOR).isoformat(timespec="seconds")
    gone = db.execute("DELETE FROM processed_update WHERE at < ?", [cutoff]).rowcount
    gone += db.execute(
        "DELETE FROM processed_update "
        "WHERE update_id < (SELECT MAX(update_id) FROM processed_update) - ?",
        [KEEP_UPDATE_IDS],
    ).rowcount
    return gone


class UpdateDeduplicator(BaseMiddleware):
    """Outer middleware for ``dp.update``: an update id is handled once.

    Telegram delivers at least once: updates handed to a bot stay unconfirmed
    until its next getUpdates, so a bot that stops or dies before that call
    gets them again when it starts. The id is recorded BEFORE the handler runs,
    in its own committed write; an update whose id is already there is dropped.

    The trade-off: a crash between that commit and the end of the handler loses
    the update (at most once) instead of handling it twice (at least once). For
    a chat bot that is the better failure. A lost answer is visible to the one
    person waiting for it, who asks again, as people do when a colleague does
    not answer; a second answer is noise in a group chat, and a second run of a
    command that writes (a glossary term, a translation memory entry, a report)
    is a duplicate that somebody has to find and clean up. And the window is
    small: it takes a crash, not an exception (a failing handler is recorded
    and not retried either way, since polling confirms it regardless).
    """

    def __init__(self, storage: Storage, *, prune_interval: float = PRUNE_INTERVAL):
        self.storage = storage
        self.prune_interval = prune_interval
        self._last_prune = -math.inf

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        if not await self.storage.awrite(record_update, event.update_id, self._prune_due()):
            log.info("update %d was delivered again: dropped", event.update_id)
            return UNHANDLED
        return await handler(event, data)

    def _prune_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_prune < self.prune_interval:
            return False
        self._last_prune = now
        return True
