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
never waits on SQLite. Both are also built for a bot answering hundreds of
updates a second: the FSM rows are cached (write-through), and the ids of the
updates that start together are recorded in one write.

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
from collections import OrderedDict
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
    from bot.storage import Storage

log = logging.getLogger(__name__)

#: processed_update keeps the ids above the newest minus this many...
KEEP_UPDATE_IDS = 100_000
#: ...and younger than this. Telegram keeps an unconfirmed update for 24 hours,
#: so no redelivery comes later; after a week without updates it may restart
#: update ids at a random value, which must not collide with an old record.
KEEP_UPDATES_FOR = timedelta(hours=48)
#: Seconds between two prunings (the first update after a start prunes).
PRUNE_INTERVAL = 600.0
#: Conversations whose FSM row SQLiteStorage keeps in memory.
CACHE_ROWS = 10_000


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


Row = tuple  # (state or None, data as JSON text): what a key holds
NO_ROW: Row = (None, "{}")


def _read_row(db: sqlite_utils.Database, key: str) -> Row:
    row = db.execute("SELECT state, data FROM fsm_state WHERE key = ?", [key]).fetchone()
    return (row[0], row[1]) if row else NO_ROW


def _write(db: sqlite_utils.Database, key: str, column: str, value: str | None) -> Row:
    """Upsert one column (``state`` or ``data``) of a conversation's row; the
    row as it now is."""
    if column not in ("state", "data"):  # the column name is formatted into SQL
        raise ValueError(f"no FSM column {column!r}")
    db.execute(
        f"INSERT INTO fsm_state (key, {column}, updated_at) VALUES (?, ?, ?) "
        f"ON CONFLICT (key) DO UPDATE SET {column} = excluded.{column}, updated_at = excluded.updated_at",
        [key, value, utcnow()],
    )
    _drop_if_blank(db, key)
    return _read_row(db, key)


def _write_state(db: sqlite_utils.Database, key: str, state: str | None) -> Row:
    return _write(db, key, "state", state)


def _write_data(db: sqlite_utils.Database, key: str, data_json: str) -> Row:
    return _write(db, key, "data", data_json)


def _merge_data(db: sqlite_utils.Database, key: str, patch_json: str) -> Row:
    """Read, update, write back: one transaction, so no concurrent update is lost."""
    data = json.loads(_read_row(db, key)[1])
    data.update(json.loads(patch_json))
    return _write_data(db, key, _dumps(data))


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
        # Every update asks for its conversation's state, and nearly all the
        # answers are "none": a write-through cache of the rows saves a trip
        # to a reader thread per update. This process is the only writer of
        # fsm_state (one bot polls a token), so the cache cannot go stale.
        self._rows: OrderedDict[str, Row] = OrderedDict()
        self._generation = 0  # bumped by every write

    async def _row(self, key: StorageKey) -> Row:
        text = key_text(key)
        row = self._rows.get(text)
        if row is not None:
            self._rows.move_to_end(text)
            return row
        generation = self._generation
        row = await self.storage.aread(_read_row, text)
        if generation == self._generation:  # no write raced the read
            self._remember(text, row)
        return row

    def _remember(self, text: str, row: Row) -> None:
        self._rows[text] = row
        self._rows.move_to_end(text)
        while len(self._rows) > CACHE_ROWS:
            self._rows.popitem(last=False)

    async def _write(self, fn: Callable[..., Row], text: str, value: str | None) -> Row:
        # The row is forgotten before the write and remembered from what the
        # committed transaction read back. Shielded, like People's writes: a
        # cancelled handler does not cancel a write already submitted, and
        # the cache learns its outcome either way.
        self._generation += 1
        self._rows.pop(text, None)
        task = asyncio.ensure_future(self.storage.awrite(fn, text, value))
        task.add_done_callback(lambda t: self._settled(t, text))
        return await asyncio.shield(task)

    def _settled(self, task: asyncio.Future, text: str) -> None:
        self._generation += 1
        if task.cancelled() or task.exception() is not None:
            self._rows.pop(text, None)
        else:
            self._remember(text, task.result())

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._write(_write_state, key_text(key), value)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._row(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(_write_data, key_text(key), _dumps(_as_dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return json.loads((await self._row(key))[1])  # a new dict: callers change it

    async def update_data(self, key: StorageKey, data: Mapping[str, Any]) -> dict[str, Any]:
        row = await self._write(_merge_data, key_text(key), _dumps(_as_dict(data)))
        return json.loads(row[1])

    async def close(self) -> None:
        if self.close_storage:  # Storage.close joins threads: not on the event loop
            await asyncio.to_thread(self.storage.close)


# --------------------------------------------------------------------------
# Redelivered updates


def record_updates(db: sqlite_utils.Database, update_ids: list[int],
                   prune: bool = False) -> list[bool]:
    """Record each id as processed, in order; for each, False if it was already
    (a second copy in the same list included)."""
    if prune:  # before the insert: an id reused after a silent week is stale
        prune_updates(db)
    at = utcnow()
    return [db.execute("INSERT OR IGNORE INTO processed_update (update_id, at) VALUES (?, ?)",
                       [update_id, at]).rowcount == 1 for update_id in update_ids]


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

    def __init__(self, storage: Storage, *, prune_interval: float = PRUNE_INTERVAL,
                 needs_record: Callable[[Update], Awaitable[bool]] | None = None):
        self.storage = storage
        #: None: record every update; else asked first (a stranger's private
        #: message needs no record, bot.telegram.wiring.needs_record).
        self.needs_record = needs_record
        self.prune_interval = prune_interval
        self._last_prune = -math.inf
        self._batch: tuple[list[int], asyncio.Future] | None = None

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        if self.needs_record is not None and not await self.needs_record(event):
            return await handler(event, data)
        if not await self._record(event.update_id):
            log.info("update %d was delivered again: dropped", event.update_id)
            return UNHANDLED
        return await handler(event, data)

    async def _record(self, update_id: int) -> bool:
        """Record the id (committed) and say whether it is new.

        The updates of one getUpdates answer start on the same turn of the
        event loop; the ids that arrive on one turn go to the writer as ONE
        job, and each waits for that commit. Same guarantee as a write per
        update, for a fraction of the thread round trips."""
        if self._batch is None:
            self._batch = ([], asyncio.get_running_loop().create_future())
            asyncio.get_running_loop().call_soon(self._flush)
        ids, done = self._batch
        ids.append(update_id)
        index = len(ids) - 1
        return (await asyncio.shield(done))[index]

    def _flush(self) -> None:
        ids, done = self._batch
        self._batch = None
        write = asyncio.ensure_future(self.storage.awrite(record_updates, ids, self._prune_due()))

        def settle(task: asyncio.Future) -> None:
            if done.cancelled():
                return
            if task.cancelled():
                done.cancel()
            elif task.exception() is not None:
                done.set_exception(task.exception())
            else:
                done.set_result(task.result())

        write.add_done_callback(settle)

    def _prune_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_prune < self.prune_interval:
            return False
        self._last_prune = now
        return True
