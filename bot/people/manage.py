"""Managing people from the web console (``/people``): the same rules as the
bot's /users, /promote, /demote and /invite, on the same functions
(``directory.set_role``, ``directory.create_invite``), plus what only the web
has: people without Telegram, the kiosk, and ending someone's sessions.

Rules added here (README, "The console: people and files"):

* who may do what to whom is ``directory.GRANTS``: an admin manages anyone,
  a lead operators and trainers only; the last admin stays (``set_role``);
* the kiosk is a shared account on a tablet anyone can touch: its role stays
  ``operator`` whoever asks;
* ending a person's sessions needs the right to manage their role (a lead
  ends an operator's or a trainer's sessions, not an admin's); one's own
  sessions are ended on ``/sessions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils

from glossary.store import audit

from . import directory, signin
from .directory import GRANTS, Invite, NotAllowed, NotFound, Person


@dataclass(frozen=True)
class Row:
    """One line of the people list."""

    person: Person
    kind: str  # telegram | person (web only) | kiosk
    sessions: int  # live web sessions
    roles: tuple[str, ...]  # the roles the viewer may give this person ((): none, hands off)
    can_end: bool  # the viewer may end this person's sessions


def grantable(actor_role: str | None) -> tuple[str, ...]:
    """The roles someone with ``actor_role`` may hand out (and invite to)."""
    return GRANTS.get(actor_role, ())


def manages(actor: Person, target_role: str) -> bool:
    """Whether ``actor`` may change or end anything of a person with ``target_role``."""
    return directory.can_grant(actor.role, target_role)


def overview(db: sqlite_utils.Database, viewer: Person, *, now: datetime | None = None) -> list[Row]:
    """Everyone (admins first, as /users), with what ``viewer`` may do to each."""
    kinds = dict(db.execute("SELECT user_id, kind FROM web_person").fetchall())
    live = {}
    for session in signin.list_sessions(db, now=now):
        live[session.person.user_id] = live.get(session.person.user_id, 0) + 1
    rows = []
    for person in directory.list_people(db):
        kind = kinds.get(person.user_id, "telegram")
        allowed = manages(viewer, person.role)
        roles = () if not allowed or kind == signin.KIOSK else grantable(viewer.role)
        rows.append(Row(person, kind, live.get(person.user_id, 0), roles, allowed))
    return rows


def set_role(db: sqlite_utils.Database, person_id: int, role: str, actor: Person) -> Person:
    """Promote or demote, as /promote and /demote do (``directory.set_role``:
    GRANTS, the last admin), and the kiosk stays an operator."""
    if signin.person_kind(db, person_id) == signin.KIOSK and role != "operator":
        raise NotAllowed("the kiosk is a shared account: it stays an operator")
    return directory.set_role(db, person_id, role, actor.user_id)


def end_sessions(db: sqlite_utils.Database, person_id: int, actor: Person) -> int:
    """End every web session of a person the actor may manage; how many ended."""
    person = signin.person_by_id(db, person_id)
    if person is None:
        raise NotFound(f"person {person_id} is not known")
    current = signin.person_by_id(db, actor.user_id)  # the actor's role now, in this transaction
    if current is None or not manages(current, person.role):
        raise NotAllowed(f"{actor.role}s cannot end the sessions of {person.role}s")
    ended = db.execute("DELETE FROM web_session WHERE person_id = ?", [person.user_id]).rowcount
    if ended:
        audit(db, f"web:{actor.user_id}", "end", "web_session", f"person:{person.user_id}",
              {"person": person.user_id, "sessions": ended})
    return ended


def create_invite(db: sqlite_utils.Database, role: str, actor: Person) -> Invite:
    """An invite, as /invite makes it (``directory.create_invite``: GRANTS, 7 days)."""
    return directory.create_invite(db, role, actor.user_id)


def web_invite_url(invite: Invite, base: str) -> str:
    """The invite opened in a browser (``/invite/CODE``: a person without Telegram)."""
    return f"{base.rstrip('/')}/invite/{invite.code}"
