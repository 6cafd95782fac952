"""The review queue, for every front end: what waits (pending fixes, then
glossary suggestions), the decisions (``approve``, ``reject``: the bot's
/review and the web's /review call these), a trainer's own fixes, the
fixes list with its filters, and who knows a piece of equipment.

The queries are plain functions on a ``sqlite_utils.Database`` (run them
through ``Storage.aread``); the decisions are coroutines on a ``FixBase``
(approving a fix also machine-translates it, off the event loop)."""

from __future__ import annotations

from dataclasses import dataclass, field

from glossary.model import LANGS

from bot.people.directory import can

from . import fixes, suggestions
from .search import FixBase


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
    """(id, slug, status) of a person's fixes, newest first. (Every list here
    clamps ``limit`` at 0: SQLite reads a negative LIMIT as no limit.)"""
    return [tuple(r) for r in db.execute(
        "SELECT id, slug, status FROM fix WHERE author = ? ORDER BY id DESC LIMIT ?", [str(author), max(0, limit)])]


def equipment_authors(db, concepts: list[str]) -> set[int]:
    """Telegram ids of the people who wrote fixes about these concepts."""
    if not concepts:
        return set()
    marks = ",".join("?" * len(concepts))
    return {int(r[0]) for r in db.execute(
        f"SELECT DISTINCT author FROM fix WHERE equipment IN ({marks})", concepts) if r[0].isdigit()}


# -- decisions ---------------------------------------------------------------------

KINDS = ("fix", "suggestion")


def _kind(kind: str) -> str:
    # One rule for every entry point: the front ends check the kind already,
    # but a third caller must not have a typo read as a fix here and as a
    # suggestion in status_of.
    if kind not in KINDS:
        raise fixes.FixError(f"unknown kind of item {fixes.clip_repr(kind)}")
    return kind


@dataclass(frozen=True)
class Decision:
    kind: str  # "fix" | "suggestion"
    id: int
    changed: bool  # False: it had been decided this way already (nothing written)
    author: int | None  # the person to tell; None for an author tag (sample, import...)
    title: str  # the fix's symptom or the suggestion's term
    translated: list[str] = field(default_factory=list)  # fix languages machine-translated now


def author_id(author: str | int) -> int | None:
    """The person behind a fix's or a suggestion's author, if it is one."""
    text = str(author)
    # Telegram ids are positive: "0" or "00" is a tag, not person 0.
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 and int(text) > 0 else None


async def approve(kb: FixBase, kind: str, item_id: int, actor: fixes.Actor) -> Decision:
    """A lead approves a queued item. Idempotent: approving an approved item
    again writes nothing and says ``changed=False``; an item decided the
    other way (rejected, withdrawn) raises FixError or SuggestionError."""
    if _kind(kind) == "suggestion":
        changed = await kb.storage.awrite(suggestions.decide, item_id, actor, True)
        s = await kb.storage.aread(suggestions.get, item_id)
        return Decision(kind, item_id, changed, s.author, s.term)
    report = await kb.aapprove(item_id, actor)
    card = await kb.aget(item_id)
    return Decision(kind, item_id, report.changed, author_id(card.author), card.symptom, report.translated)


async def reject(kb: FixBase, kind: str, item_id: int, actor: fixes.Actor, reason: str) -> Decision:
    """A lead rejects a queued item with a reason for its author; idempotent as ``approve``."""
    if _kind(kind) == "suggestion":
        changed = await kb.storage.awrite(suggestions.decide, item_id, actor, False, reason)
        s = await kb.storage.aread(suggestions.get, item_id)
        return Decision(kind, item_id, changed, s.author, s.term)
    changed = await kb.storage.awrite(fixes.reject, item_id, actor, reason)
    card = await kb.aget(item_id)
    return Decision(kind, item_id, changed, author_id(card.author), card.symptom)


def status_of(db, kind: str, item_id: int) -> str | None:
    """An item's status now (None: there is no such item, or it was withdrawn)."""
    if kind not in KINDS:
        return None
    table = "fix" if kind == "fix" else "suggestion"
    row = db.execute(f"SELECT status FROM {table} WHERE id = ?", [item_id]).fetchone()
    return row[0] if row else None


def pending_list(db, limit: int = 100) -> list[tuple[str, int, str, str, str]]:
    """The whole queue, oldest first: (kind, id, title, author, language or "")."""
    rows = [("fix", r[0], r[1], r[2], r[3]) for r in db.execute(
        "SELECT f.id, t.symptom, f.author, f.original_lang FROM fix f JOIN fix_text t "
        "ON t.snippet_id = f.id AND t.lang = f.original_lang WHERE f.status = 'pending' "
        "ORDER BY f.id LIMIT ?", [max(0, limit)])]
    rows += [("suggestion", s.id, f"{s.term} = {s.proposal}", str(s.author), "")
             for s in suggestions.list_pending(db, max(0, limit - len(rows)))]
    return rows


# -- the fixes list ------------------------------------------------------------------

SAMPLE_FILTERS = ("", "yes", "no")


@dataclass(frozen=True)
class FixFilter:
    equipment: str = ""
    status: str = ""
    author: str = ""  # a person's id or an author tag
    lang: str = ""  # the original language
    sample: str = ""  # "", "yes", "no"

    def clean(self) -> "FixFilter":
        """Unknown values are dropped (a forged URL lists as if unfiltered)."""
        return FixFilter(equipment=self.equipment[:200], status=self.status if self.status in fixes.STATUSES else "",
                         author=self.author[:fixes.MAX_AUTHOR], lang=self.lang if self.lang in LANGS else "",
                         sample=self.sample if self.sample in SAMPLE_FILTERS else "")


@dataclass(frozen=True)
class FixRow:
    id: int
    slug: str
    equipment: str
    status: str
    author: str
    original_lang: str
    sample: bool
    symptom: str
    updated_at: str


def list_fixes(db, viewer: fixes.Actor, role: str | None, flt: FixFilter,
               limit: int = 50, offset: int = 0) -> tuple[list[FixRow], int]:
    """The fixes this person may read (``fixes.can_read``: approved ones,
    their own, or all for leads), filtered, newest change first; and how
    many match in all."""
    flt = flt.clean()
    where, args = [], []
    if not can(role, "lead"):
        if role is None:
            return [], 0
        where.append("(f.status = 'approved' OR f.author = ?)")
        args.append(str(viewer))
    for column, value in (("f.equipment", flt.equipment), ("f.status", flt.status),
                          ("f.author", flt.author), ("f.original_lang", flt.lang)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if flt.sample:
        where.append("f.sample = ?")
        args.append(1 if flt.sample == "yes" else 0)
    sql = " WHERE " + " AND ".join(where) if where else ""
    total = db.execute(f"SELECT count(*) FROM fix f{sql}", args).fetchone()[0]
    rows = [FixRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8]) for r in db.execute(
        "SELECT f.id, f.slug, f.equipment, f.status, f.author, f.original_lang, f.sample, t.symptom, "
        "f.updated_at FROM fix f JOIN fix_text t ON t.snippet_id = f.id AND t.lang = f.original_lang"
        f"{sql} ORDER BY f.updated_at DESC, f.id DESC LIMIT ? OFFSET ?", [*args, max(0, limit), max(0, offset)])]
    return rows, total


def fix_equipment(db) -> list[str]:
    """The concepts that fixes are about (the equipment filter's choices)."""
    return [r[0] for r in db.execute("SELECT DISTINCT equipment FROM fix ORDER BY equipment")]
