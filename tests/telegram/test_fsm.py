"""FSM state in SQLite (bot/telegram/fsm.py) and redelivered updates, end to end over the fake Telegram."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone

import pytest
from aiogram import Dispatcher, F, Router
from aiogram.exceptions import DataNotDictLikeError
from aiogram.filters import CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import Message, Update

from bot.telegram import fsm
from bot.telegram.fsm import FSMDataError, SQLiteStorage, UpdateDeduplicator
from bot.storage import Storage
from tests.fake_telegram import FakeTelegram, polling

KEY = StorageKey(bot_id=123, chat_id=42, user_id=42)


class Form(StatesGroup):
    name = State()


@pytest.fixture
async def tg():
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "shopbot.db"


@pytest.fixture
def store(db_path):
    s = Storage(db_path, seed=False)
    yield s
    s.close()


def fsm_rows(storage: Storage) -> list[tuple]:
    return storage.read(lambda db: db.execute("SELECT key, state, data FROM fsm_state").fetchall())


# --------------------------------------------------------------------------
# SQLiteStorage


async def test_state_and_data_round_trip(store):
    fsm_storage = SQLiteStorage(store)
    assert await fsm_storage.get_state(KEY) is None and await fsm_storage.get_data(KEY) == {}
    await fsm_storage.set_state(KEY, Form.name)
    await fsm_storage.set_data(KEY, {"lang": "zh", "terms": ["涂布机", 3, 2.5, None, True]})
    assert await fsm_storage.get_state(KEY) == "Form:name"
    assert await fsm_storage.update_data(KEY, {"lang": "ko", "step": 2}) == {
        "lang": "ko", "terms": ["涂布机", 3, 2.5, None, True], "step": 2}
    assert await fsm_storage.get_value(KEY, "step") == 2
    # what FSMContext.clear() does: the row goes
    await fsm_storage.set_state(KEY, None)
    await fsm_storage.set_data(KEY, {})
    assert fsm_rows(store) == []


async def test_every_field_of_the_key_counts(store):
    fsm_storage = SQLiteStorage(store)
    keys = [KEY, StorageKey(123, 42, 42, thread_id=5), StorageKey(123, 42, 42, destiny="a:b"),
            StorageKey(123, 42, 42, business_connection_id="a"), StorageKey(124, 42, 42)]
    for number, key in enumerate(keys):
        await fsm_storage.set_state(key, f"s{number}")
    assert [await fsm_storage.get_state(key) for key in keys] == ["s0", "s1", "s2", "s3", "s4"]


@pytest.mark.parametrize("data, where", [
    ({"photo": object()}, r"data\['photo'\] has type object"),
    ({"when": datetime(2024, 1, 1)}, r"data\['when'\] has type datetime"),
    ({"parts": [1, {2: "x"}]}, r"data\['parts'\]\[1\] has the key 2"),
    ({"ratio": math.nan}, r"data\['ratio'\] is nan"),
    ({"seen": {1, 2}}, r"has type set"),
])
async def test_data_that_json_would_change_is_refused(store, data, where):
    fsm_storage = SQLiteStorage(store)
    with pytest.raises(FSMDataError, match=where):
        await fsm_storage.set_data(KEY, data)
    with pytest.raises(FSMDataError, match=where):
        await fsm_storage.update_data(KEY, data)
    with pytest.raises(DataNotDictLikeError):
        await fsm_storage.set_data(KEY, ["not", "a", "dict"])
    assert fsm_rows(store) == []


async def test_state_survives_closing_and_reopening_storage(db_path):
    with Storage(db_path, seed=False) as first:
        await SQLiteStorage(first).set_state(KEY, Form.name)
        await SQLiteStorage(first).update_data(KEY, {"lang": "ms"})
    with Storage(db_path, seed=False) as second:
        assert await SQLiteStorage(second).get_state(KEY) == "Form:name"
        assert await SQLiteStorage(second).get_data(KEY) == {"lang": "ms"}


async def test_update_data_loses_nothing_under_concurrency(store):
    fsm_storage = SQLiteStorage(store)
    await asyncio.gather(*(fsm_storage.update_data(KEY, {f"k{n}": n}) for n in range(20)))
    assert await fsm_storage.get_data(KEY) == {f"k{n}": n for n in range(20)}


class Spy:
    """Counts the calls of one Storage method and passes them on unchanged;
    ``hold`` (an Event) makes them wait for it before they return."""

    def __init__(self, monkeypatch, store: Storage, name: str, hold: asyncio.Event | None = None):
        self.calls = 0
        real = getattr(store, name)

        async def spy(*args, **kwargs):
            self.calls += 1
            result = await real(*args, **kwargs)
            if hold is not None:
                await hold.wait()
            return result

        monkeypatch.setattr(store, name, spy)


async def test_rows_are_cached_write_through(store, monkeypatch):
    fsm_storage = SQLiteStorage(store)
    reads = Spy(monkeypatch, store, "aread")
    other = StorageKey(bot_id=123, chat_id=43, user_id=43)
    assert await fsm_storage.get_state(other) is None and await fsm_storage.get_state(other) is None
    assert reads.calls == 1  # "no state" is remembered too
    await fsm_storage.set_state(KEY, Form.name)
    data = await fsm_storage.update_data(KEY, {"steps": ["one"]})
    data["steps"].append("changed by the caller")
    assert await fsm_storage.get_state(KEY) == "Form:name"
    assert await fsm_storage.get_data(KEY) == {"steps": ["one"]}  # a copy was handed out
    assert reads.calls == 1  # the writes told the cache
    assert fsm_rows(store) == [(fsm.key_text(KEY), "Form:name", '{"steps":["one"]}')]


async def test_a_read_that_raced_a_write_is_not_cached(store, monkeypatch):
    fsm_storage = SQLiteStorage(store)
    hold = asyncio.Event()
    Spy(monkeypatch, store, "aread", hold)
    slow_read = asyncio.create_task(fsm_storage.get_state(KEY))
    await asyncio.sleep(0.01)
    await fsm_storage.set_state(KEY, Form.name)
    hold.set()
    assert await slow_read is None  # what it read before the write...
    assert await fsm_storage.get_state(KEY) == "Form:name"  # ...is not cached


async def test_a_cancelled_write_still_lands_and_is_cached(store):
    fsm_storage = SQLiteStorage(store)
    assert await fsm_storage.get_state(KEY) is None  # cached as empty
    task = asyncio.create_task(fsm_storage.set_state(KEY, Form.name))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # the writer commits on its own time
        if fsm_rows(store):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)  # and the done callback runs on the loop
    assert fsm_rows(store)[0][1] == "Form:name"
    assert await fsm_storage.get_state(KEY) == "Form:name"


async def test_close_leaves_the_shared_storage_open_unless_asked(store, db_path):
    await SQLiteStorage(store).close()  # the Dispatcher does this at every shutdown
    assert await SQLiteStorage(store).get_state(KEY) is None
    own = Storage(db_path, seed=False)
    await SQLiteStorage(own, close_storage=True).close()
    with pytest.raises(Exception, match="closed"):
        own.write(lambda db: None)


# --------------------------------------------------------------------------
# End to end: a real Dispatcher polling the fake Telegram


def form_dispatcher(storage: Storage) -> Dispatcher:
    """/start asks for a name; the next message answers with it."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(Form.name)
        await state.update_data(lang=message.from_user.language_code)
        await message.answer("Your name?")

    @router.message(Form.name)
    async def name(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await state.clear()
        await message.answer(f"Hello {message.text} ({data['lang']})")

    dp = Dispatcher(storage=SQLiteStorage(storage))
    dp.include_router(router)
    return dp


async def test_conversation_survives_a_bot_restart(tg, db_path):
    first = Storage(db_path, seed=False)
    tg.message(42, 42, "/start", language_code="fr")
    async with polling(tg, form_dispatcher(first), tg.bot()):
        await tg.wait_for("sendMessage")
    first.close()  # the process ends

    second = Storage(db_path, seed=False)
    try:
        tg.message(42, 42, "Ana")
        async with polling(tg, form_dispatcher(second), tg.bot()):
            await tg.wait_for("sendMessage", count=2)
        assert [p["text"] for p in tg.sent(42)] == ["Your name?", "Hello Ana (fr)"]
        assert fsm_rows(second) == []  # state.clear() removed the row
    finally:
        second.close()


async def test_concurrent_updates_of_one_user_keep_all_data(tg, store):
    router = Router()

    @router.message(F.text)
    async def remember(message: Message, state: FSMContext) -> None:
        await state.update_data({message.text: message.message_id})
        await message.answer("noted")

    dp = Dispatcher(storage=SQLiteStorage(store))
    dp.include_router(router)
    for n in range(20):
        tg.message(42, 42, f"term{n}")
    async with polling(tg, dp, tg.bot()):  # handle_as_tasks: the 20 handlers overlap
        await tg.wait_for("sendMessage", count=20)
    data = await SQLiteStorage(store).get_data(StorageKey(123, 42, 42))
    assert sorted(data) == sorted(f"term{n}" for n in range(20))


# --------------------------------------------------------------------------
# UpdateDeduplicator


def dedupe_dispatcher(storage: Storage, handled: list[str], seen: list[int]) -> Dispatcher:
    """Answers every text; "report" keeps working after its answer, "crash"
    before it (the test stops the bot meanwhile, as a crash would)."""
    router = Router()

    @router.message(F.text)
    async def work(message: Message) -> None:
        handled.append(message.text)
        if message.text == "crash":
            await asyncio.Event().wait()
        await message.answer(f"got {message.text}")
        if message.text == "report":
            await asyncio.Event().wait()

    async def count(handler, event, data):
        seen.append(event.update_id)
        return await handler(event, data)

    dp = Dispatcher(storage=SQLiteStorage(storage))
    dp.update.outer_middleware(count)
    dp.update.outer_middleware(UpdateDeduplicator(storage))
    dp.include_router(router)
    return dp


async def restart_and_send_marker(tg, storage, handled, seen) -> None:
    """Start a new bot, send "marker", wait for its answer. handle_as_tasks=False:
    updates one after the other, so whatever came before the marker is done."""
    tg.message(42, 42, "marker")
    async with polling(tg, dedupe_dispatcher(storage, handled, seen), tg.bot(),
                       handle_as_tasks=False):
        await tg.wait_for("sendMessage", predicate=lambda c: c.params["text"] == "got marker")


async def test_update_redelivered_after_a_restart_is_not_answered_twice(tg, store):
    handled, seen = [], []
    report = tg.message(42, 42, "report")["update_id"]
    # handle_as_tasks=False: getUpdates waits for the handler, so the update
    # is still unconfirmed when the bot stops, and Telegram delivers it again.
    async with polling(tg, dedupe_dispatcher(store, handled, seen), tg.bot(),
                       handle_as_tasks=False):
        await tg.wait_for("sendMessage")
    await restart_and_send_marker(tg, store, handled, seen)
    assert seen[:2] == [report, report]  # delivered twice...
    assert handled == ["report", "marker"]  # ...handled once
    assert [p["text"] for p in tg.sent(42)] == ["got report", "got marker"]


async def test_a_crash_mid_handler_drops_the_update(tg, store):
    """The trade-off of recording before handling: at most once."""
    handled, seen = [], []
    tg.message(42, 42, "crash")
    async with polling(tg, dedupe_dispatcher(store, handled, seen), tg.bot(),
                       handle_as_tasks=False):
        while not handled:
            await asyncio.sleep(0.01)
    await restart_and_send_marker(tg, store, handled, seen)
    assert handled == ["crash", "marker"]
    assert [p["text"] for p in tg.sent(42)] == ["got marker"]


async def test_an_update_enqueued_again_runs_its_handler_once(tg, store):
    handled, seen = [], []
    update = tg.message(42, 42, "hello")
    async with polling(tg, dedupe_dispatcher(store, handled, seen), tg.bot(),
                       handle_as_tasks=False):
        await tg.wait_for("sendMessage")
        tg.enqueue(update)
        tg.message(42, 42, "marker")
        await tg.wait_for("sendMessage", count=2)
    assert seen == [update["update_id"], update["update_id"], update["update_id"] + 1]
    assert handled == ["hello", "marker"]


def text_update(update_id: int) -> Update:
    return Update.model_validate({"update_id": update_id, "message": {
        "message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}})


def recorder(handled: list):
    """A handler that notes the ids of the updates it is given."""
    async def handler(event, data):
        handled.append(event.update_id)

    return handler


async def test_two_copies_at_once_run_the_handler_once(store):
    calls = []
    dedupe = UpdateDeduplicator(store)
    await asyncio.gather(*(dedupe(recorder(calls), text_update(7), {}) for _ in range(5)))
    assert calls == [7]


async def test_updates_that_start_together_are_recorded_in_one_write(store, monkeypatch):
    handled = []
    handler, update = recorder(handled), text_update
    store.write(fsm.record_updates, [3])  # handled before a restart
    writes = Spy(monkeypatch, store, "awrite")
    dedupe = UpdateDeduplicator(store)
    await asyncio.gather(*(dedupe(handler, update(n), {}) for n in (1, 2, 3, 4, 2, 5)))
    assert sorted(handled) == [1, 2, 4, 5]
    assert writes.calls == 1
    await dedupe(handler, update(6), {})  # a later turn of the loop: its own write
    assert writes.calls == 2 and handled[-1] == 6
    assert store.read(lambda db: [r[0] for r in db.execute(
        "SELECT update_id FROM processed_update ORDER BY update_id")]) == [1, 2, 3, 4, 5, 6]


async def test_a_failed_record_fails_every_update_waiting_on_it(store):
    handled = []
    dedupe = UpdateDeduplicator(store)
    store.close()
    results = await asyncio.gather(*(dedupe(recorder(handled), text_update(9), {}) for _ in range(2)),
                                   return_exceptions=True)
    assert all("closed" in str(r) for r in results) and handled == []


async def test_old_update_ids_are_pruned(store):
    now = datetime.now(timezone.utc)
    old = (now - fsm.KEEP_UPDATES_FOR - timedelta(minutes=1)).isoformat(timespec="seconds")

    def fill(db):
        fsm.record_updates(db, [10, 120_000, 230_000, 240_000])
        db.execute("UPDATE processed_update SET at = ? WHERE update_id = 240000", [old])

    store.write(fill)
    handled = []
    handler, update = recorder(handled), text_update

    # the middleware prunes before its first update, then every prune_interval:
    # 240_000 is too old; then 10 and 120_000 are more than 100,000 below the
    # newest left (230_000)
    dedupe = UpdateDeduplicator(store, prune_interval=3600)
    await dedupe(handler, update(260_000), {})
    await dedupe(handler, update(230_000), {})  # known, and no pruning now: dropped
    ids = store.read(lambda db: [r[0] for r in db.execute(
        "SELECT update_id FROM processed_update ORDER BY update_id")])
    assert ids == [230_000, 260_000]
    assert handled == [260_000]
