"""Tables of the Telegram side that must not need aiogram to be created
(the CLI opens the database without importing aiogram): FSM state, processed
updates, and the reply that carries each group message's translation, so
that an edited message can update it (also after a restart)."""

from __future__ import annotations

import sqlite_utils

from glossary.store import execute_script, utcnow


def migrate_fsm(db: sqlite_utils.Database) -> None:
    """FSM state and data per conversation; the update ids already processed."""
    # One statement per execute(): executescript() would COMMIT the migration's
    # transaction first, and the migration would no longer be atomic.
    db.execute(
        """
        CREATE TABLE fsm_state (
            key TEXT PRIMARY KEY,          -- bot.telegram.fsm.key_text(StorageKey)
            state TEXT,
            data TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE processed_update (
            update_id INTEGER PRIMARY KEY,
            at TEXT NOT NULL
        )
        """
    )


def migrate_replies(db: sqlite_utils.Database) -> None:
    execute_script(db,
        """
        CREATE TABLE tg_reply (
            chat_id INTEGER NOT NULL,
            message_id INTEGER NOT NULL,   -- the person's message
            reply_id INTEGER NOT NULL,     -- the bot's message carrying its translation
            block TEXT NOT NULL,           -- this message's part of that reply (HTML)
            at TEXT NOT NULL,
            PRIMARY KEY (chat_id, message_id)
        );
        CREATE INDEX tg_reply_reply ON tg_reply(chat_id, reply_id);
        """
    )


def record(db: sqlite_utils.Database, chat_id: int, items: list[tuple[int, str]], reply_id: int) -> None:
    db.conn.executemany(
        "INSERT OR REPLACE INTO tg_reply (chat_id, message_id, reply_id, block, at) VALUES (?, ?, ?, ?, ?)",
        [(chat_id, message_id, reply_id, block, utcnow()) for message_id, block in items],
    )
    # Keep a few weeks of a busy group, not forever.
    db.execute("DELETE FROM tg_reply WHERE at < datetime('now', '-30 days')")


def update_block(db: sqlite_utils.Database, chat_id: int, message_id: int,
                 block: str) -> tuple[int, list[str]] | None:
    """Replace one message's block; return (reply id, every block of that reply)."""
    row = db.execute("SELECT reply_id FROM tg_reply WHERE chat_id = ? AND message_id = ?",
                     [chat_id, message_id]).fetchone()
    if row is None:
        return None
    db.execute("UPDATE tg_reply SET block = ? WHERE chat_id = ? AND message_id = ?",
               [block, chat_id, message_id])
    blocks = [r[0] for r in db.execute(
        "SELECT block FROM tg_reply WHERE chat_id = ? AND reply_id = ? ORDER BY message_id",
        [chat_id, row[0]])]
    return row[0], blocks
