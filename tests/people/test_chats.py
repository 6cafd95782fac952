"""The replies that carry group translations (bot/people/chats.py): an edited
message updates its block of the reply; old rows go after 30 days."""

from __future__ import annotations

from bot.people import chats

CHAT, OTHER = -1001, -1002


def test_record_and_update_blocks(empty_storage):
    empty_storage.write(chats.record, CHAT, [(12, "<b>b</b>"), (11, "a")], 500)
    empty_storage.write(chats.record, CHAT, [(13, "c")], 501)
    empty_storage.write(chats.record, OTHER, [(11, "elsewhere")], 500)
    # Every block of the edited message's reply, in message order.
    assert empty_storage.write(chats.update_block, CHAT, 12, "B") == (500, ["a", "B"])
    assert empty_storage.write(chats.update_block, CHAT, 13, "C") == (501, ["C"])
    assert empty_storage.write(chats.update_block, OTHER, 11, "x") == (500, ["x"])
    assert empty_storage.write(chats.update_block, CHAT, 99, "x") is None
    assert empty_storage.write(chats.update_block, -5, 11, "x") is None
    # Recording a message again moves it to its new reply.
    empty_storage.write(chats.record, CHAT, [(12, "again")], 502)
    assert empty_storage.write(chats.update_block, CHAT, 11, "A") == (500, ["A"])
    assert empty_storage.write(chats.update_block, CHAT, 12, "z") == (502, ["z"])


def test_rows_older_than_30_days_go(empty_storage):
    empty_storage.write(lambda db: db.execute(
        "INSERT INTO tg_reply (chat_id, message_id, reply_id, block, at) VALUES "
        "(?, 1, 10, 'old', datetime('now', '-31 days')), (?, 2, 10, 'recent', datetime('now', '-29 days'))",
        [CHAT, CHAT]))
    empty_storage.write(chats.record, CHAT, [(3, "new")], 11)
    left = empty_storage.read(lambda db: db.execute(
        "SELECT message_id FROM tg_reply ORDER BY message_id").fetchall())
    assert left == [(2,), (3,)]


def test_the_fsm_tables(empty_storage):
    empty_storage.write(lambda db: db.execute(
        "INSERT INTO fsm_state (key, state, updated_at) VALUES ('k', 's', 'now')"))
    assert empty_storage.read(lambda db: db.execute("SELECT data FROM fsm_state").fetchall()) == [("{}",)]
    empty_storage.write(lambda db: db.execute("INSERT INTO processed_update VALUES (7, 'now')"))
