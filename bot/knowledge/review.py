"""Read queries the Telegram side needs around fixes and suggestions: the
review queue, a trainer's own fixes, and who knows a piece of equipment.
Plain functions on a ``sqlite_utils.Database`` (run them through
``Storage.aread``)."""

from __future__ import annotations

from dataclasses import dataclass

from . import suggestions


@dataclass(frozen=True)
class QueueItem:
    kind: str  # "fix" | "suggestion"
    id: int


def next_pending(db, after: QueueItem | None = None) -> QueueItem | None:
    """The oldest pending fix, then the oldest pending suggestion, past ``after``."""
    fix_after = after.id if after and after.kind == "fix" else 0
    if after is None or after.kind == "fix":
        row = db.execute("SELECT id FROM fix WHERE status = 'pending' AND id > ? ORDER BY id LIMIT 1",
                         [fix_after]).fetchone()
        if row:
            return QueueItem("fix", row[0])
    sug_after = after.id if after and after.kind == "suggestion" else 0
    row = db.execute("SELECT id FROM suggestion WHERE status = 'pending' AND id > ? ORDER BY id LIMIT 1",
                     [sug_after]).fetchone()
    return QueueItem("suggestion", row[0]) if row else None


def pending_counts(db) -> dict[str, int]:
    return {"fix": db.execute("SELECT count(*) FROM fix WHERE status = 'pending'").fetchone()[0],
            "suggestion": len(suggestions.list_pending(db, 10_000))}


def my_fixes(db, author: int, limit: int = 20) -> list[tuple[int, str, str]]:
    """(id, slug, status) of a person's fixes, newest first."""
    return [tuple(r) for r in db.execute(
        "SELECT id, slug, status FROM fix WHERE author = ? ORDER BY id DESC LIMIT ?", [str(author), limit])]


def equipment_authors(db, concepts: list[str]) -> set[int]:
    """Telegram ids of the people who wrote fixes about these concepts."""
    if not concepts:
        return set()
    marks = ",".join("?" * len(concepts))
    return {int(r[0]) for r in db.execute(
        f"SELECT DISTINCT author FROM fix WHERE equipment IN ({marks})", concepts) if r[0].isdigit()}
