"""Glossary suggestions from trainers: a new term, or a correction of one.

They wait in the same review queue as fixes (``/review``); a lead approves or
rejects. Approving records the decision only: the glossary itself is changed
by whoever maintains it (CSV/TBX import), so a suggestion can never slip an
unreviewed term into translations.

    sid = storage.write(add, "coater", "enduiseuse = coucheuse", 42)
    storage.write(decide, sid, 7, approve=True)      # True: it changed
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from glossary.normalize import normalize
from glossary.store import audit, execute_script, utcnow

from bot.people import directory as people
from bot.people.signin import person_by_id

MAX_TERM, MAX_PROPOSAL, MAX_REASON = 200, 1000, 2000
STATUSES = ("pending", "approved", "rejected")


class SuggestionError(ValueError):
    """Bad input or a refused request; the message can be shown as is."""


@dataclass(frozen=True)
class Suggestion:
    id: int
    term: str
    proposal: str
    author: int
    status: str
    reason: str | None
    created_at: str


def migrate_suggestions(db: sqlite_utils.Database) -> None:
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    execute_script(db, f"""
        CREATE TABLE suggestion (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            term TEXT NOT NULL,
            proposal TEXT NOT NULL,
            author INTEGER NOT NULL,          -- Telegram user id
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ({statuses})),
            reason TEXT,
            decided_by TEXT,
            created_at TEXT NOT NULL,
            decided_at TEXT
        );
        CREATE INDEX suggestion_pending ON suggestion(id) WHERE status = 'pending';
    """)


def _require(db, user_id: int, needed: str, doing: str) -> None:
    # person_by_id: people of the web only (ids from 2**53) suggest and decide too.
    person = person_by_id(db, user_id)
    if person is None or not people.can(person.role, needed):
        raise SuggestionError(f"only a {needed} or above can {doing}")


def _clean(value: str, what: str, limit: int) -> str:
    value = (value or "").strip()
    if not normalize(value).strip():  # zero-width characters alone are empty
        raise SuggestionError(f"{what} is empty")
    if len(value) > limit:
        raise SuggestionError(f"{what} is longer than {limit} characters")
    return value


def _suggestion(row) -> Suggestion:
    return Suggestion(*row)


_COLUMNS = "id, term, proposal, author, status, reason, created_at"


def add(db, term: str, proposal: str, author: int) -> int:
    """A trainer's (or above) suggestion; returns its id."""
    _require(db, author, "trainer", "suggest glossary terms")
    term, proposal = _clean(term, "term", MAX_TERM), _clean(proposal, "proposal", MAX_PROPOSAL)
    sid = db.execute("INSERT INTO suggestion (term, proposal, author, created_at) VALUES (?, ?, ?, ?)",
                     [term, proposal, author, utcnow()]).lastrowid
    audit(db, f"tg:{author}", "suggest", "suggestion", str(sid), {"term": term, "proposal": proposal})
    return sid


def get(db, sid: int) -> Suggestion | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM suggestion WHERE id = ?", [sid]).fetchone()
    return _suggestion(row) if row else None


def list_pending(db, limit: int = 20) -> list[Suggestion]:
    return [_suggestion(r) for r in db.execute(
        f"SELECT {_COLUMNS} FROM suggestion WHERE status = 'pending' ORDER BY id LIMIT ?", [limit])]


def decide(db, sid: int, actor: int, approve: bool, reason: str | None = None) -> bool:
    """A lead's decision. False (nothing written) when it was already decided
    the same way: a double tap or a redelivered update decides once."""
    _require(db, actor, "lead", "review suggestions")
    current = get(db, sid)
    if current is None:
        raise SuggestionError(f"no suggestion #{sid}")
    target = "approved" if approve else "rejected"
    if current.status == target:
        return False
    if current.status != "pending":
        raise SuggestionError(f"suggestion #{sid} is already {current.status}")
    if not approve:
        reason = _clean(reason or "", "reason", MAX_REASON)
    db.execute("UPDATE suggestion SET status = ?, reason = ?, decided_by = ?, decided_at = ? WHERE id = ?",
               [target, reason if not approve else None, f"tg:{actor}", utcnow(), sid])
    audit(db, f"tg:{actor}", "approve" if approve else "reject", "suggestion", str(sid),
          {"reason": reason} if reason and not approve else None)
    return True
