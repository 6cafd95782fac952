"""Password-less sign-in for the web app: people without Telegram, one-time
links, server-side sessions, and the count of failed links per address.

A plain service on a ``sqlite_utils.Database`` like ``directory``: no web
framework here, so the CLI (``shopbot web link``) and the bot's ``/web``
command make links with the same code the web app redeems them with.

Rules:

* A person's id (``person.user_id``) is their own. For everyone who came
  from Telegram it is, as before, their Telegram user id (so the fixes,
  invites and audit rows that name them stay right). People without
  Telegram (a lead at a desk, the shared kiosk) get ids from
  ``WEB_ID_BASE`` = 2**53 up, above any Telegram id, and a ``web_person``
  row; the view ``person_telegram`` gives everyone's Telegram id, NULL for
  them: the bot can never be reached as them. The person table and the
  directory's code are unchanged.
* The kiosk is one account, role ``operator``, ``kind = 'kiosk'``: pages
  show no name for it.
* A link is 32 random bytes (base64url), stored only as its SHA-256, valid
  once within ``LINK_TTL``. A session is 32 random bytes too, hashed in the
  database, with its own CSRF token; it ends after ``SESSION_IDLE`` without
  a request, at sign-out, or when an admin ends it.
* Failed or expired links are counted per address (``signin_failure``);
  past ``MAX_FAILURES`` in ``FAILURE_WINDOW`` the address is refused until
  the window passes, even with a good link.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlite_utils

from glossary.store import audit, execute_script

from .directory import (ROLES, SYSTEM, InvalidInput, InviteError, NotAllowed, NotFound, Person,
                        _PERSON_COLUMNS, _person, _usable_invite, can, clean_name,
                        language_from_telegram)

WEB_ID_BASE = 2**53
LINK_TTL = timedelta(minutes=10)
SESSION_IDLE = timedelta(hours=12)
#: last_seen is written at most this often per session (not one write per page).
TOUCH_EVERY = timedelta(minutes=1)
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)
KIOSK = "kiosk"


class SignInError(Exception):
    """A link that cannot be used; ``reason``: unknown, used, expired, limited."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Link:
    token: str  # only known when created
    person: Person
    kind: str  # person | kiosk
    expires_at: datetime

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/signin/{self.token}"

    def to_json(self, base: str) -> dict:
        return {"url": self.url(base), "person_id": self.person.user_id, "role": self.person.role,
                "kind": self.kind, "expires_at": _iso(self.expires_at)}


@dataclass(frozen=True)
class Session:
    id: int
    person: Person
    kind: str  # person | kiosk
    csrf: str
    created_at: datetime
    last_seen: datetime
    address: str


def migrate_web_signin(db: sqlite_utils.Database) -> None:
    """People without a Telegram account, web sign-in links and sessions."""
    execute_script(db, """
        -- People without a Telegram account: their ids are from 2**53 up
        -- (WEB_ID_BASE), where no Telegram id can be; everyone else's id is
        -- their Telegram id (the person table itself is unchanged).
        CREATE TABLE web_person (
            user_id INTEGER PRIMARY KEY REFERENCES person(user_id) ON DELETE CASCADE
                CHECK (user_id >= 9007199254740992),
            kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'kiosk'))
        );
        CREATE UNIQUE INDEX web_person_one_kiosk ON web_person(kind) WHERE kind = 'kiosk';
        -- A person's Telegram id: NULL for the people of the web only.
        CREATE VIEW person_telegram AS
            SELECT p.user_id AS person_id, CASE WHEN w.user_id IS NULL THEN p.user_id END AS telegram_id
            FROM person p LEFT JOIN web_person w ON w.user_id = p.user_id;

        CREATE TABLE signin_link (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            token_hash TEXT NOT NULL UNIQUE,
            person_id INTEGER NOT NULL REFERENCES person(user_id) ON DELETE CASCADE,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            used_from TEXT
        );

        CREATE TABLE web_session (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            token_hash TEXT NOT NULL UNIQUE,
            person_id INTEGER NOT NULL REFERENCES person(user_id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT ''
        );

        CREATE TABLE signin_failure (
            address TEXT PRIMARY KEY,
            window_start TEXT NOT NULL,
            failures INTEGER NOT NULL,
            total INTEGER NOT NULL
        ) WITHOUT ROWID;
        """)


# -- helpers -------------------------------------------------------------------

def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _token_ok(token: Any) -> bool:
    # token_urlsafe(32): 43 characters; anything else cannot exist.
    return isinstance(token, str) and 20 <= len(token) <= 64 and token.isascii() and \
        all(c.isalnum() or c in "-_" for c in token)


def person_by_id(db: sqlite_utils.Database, person_id: int) -> Person | None:
    if not isinstance(person_id, int) or isinstance(person_id, bool) or not 0 < person_id < 2**62:
        return None
    row = db.execute(f"SELECT {_PERSON_COLUMNS} FROM person WHERE user_id = ?", [person_id]).fetchone()
    return _person(row) if row else None


def set_web_language(db: sqlite_utils.Database, person_id: int, lang: str) -> Person | None:
    """A person's interface language, chosen on the web (any kind of person)."""
    from glossary.model import LANGS

    if lang not in LANGS:
        raise InvalidInput(f"unknown language {lang!r}")
    db.execute("UPDATE person SET ui_lang = ? WHERE user_id = ?", [lang, person_id])
    return person_by_id(db, person_id)


def person_kind(db: sqlite_utils.Database, person_id: int) -> str:
    row = db.execute("SELECT kind FROM web_person WHERE user_id = ?", [person_id]).fetchone()
    return row[0] if row else "person"


def create_web_person(db: sqlite_utils.Database, role: str, *, name: str = "",
                      lang: str = "en", kind: str = "person", actor: str = SYSTEM) -> Person:
    """A person without a Telegram account (id from 2**53 up)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    next_id = max(WEB_ID_BASE, db.execute("SELECT coalesce(max(user_id), 0) FROM person").fetchone()[0]) + 1
    now = _iso(_now(None))
    db.execute(f"INSERT INTO person ({_PERSON_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?, NULL)",
               [next_id, role, clean_name(name), language_from_telegram(lang), now])
    db.execute("INSERT INTO web_person (user_id, kind) VALUES (?, ?)", [next_id, kind])
    audit(db, actor, "create", "person", str(next_id), {"role": role, "via": "web", "kind": kind})
    return person_by_id(db, next_id)


def kiosk(db: sqlite_utils.Database) -> Person:
    """The shared kiosk account, made on first use."""
    row = db.execute("SELECT user_id FROM web_person WHERE kind = 'kiosk'").fetchone()
    if row:
        return person_by_id(db, row[0])
    return create_web_person(db, "operator", name="Kiosk", kind="kiosk")


def first_admin(db: sqlite_utils.Database) -> Person:
    """The admin a first start's link is for: an existing admin (the
    longest-standing), else a new web admin."""
    row = db.execute("SELECT user_id FROM person WHERE role = 'admin' ORDER BY created_at, user_id LIMIT 1"
                     ).fetchone()
    if row:
        return person_by_id(db, row[0])
    return create_web_person(db, "admin", name="Admin")


def admin_ever_signed_in(db: sqlite_utils.Database) -> bool:
    return db.execute(
        "SELECT 1 FROM signin_link l JOIN person p ON p.user_id = l.person_id "
        "WHERE l.used_at IS NOT NULL AND p.role = 'admin' LIMIT 1").fetchone() is not None


# -- links -------------------------------------------------------------------

def create_link(db: sqlite_utils.Database, person_id: int, created_by: str = SYSTEM,
                *, now: datetime | None = None) -> Link:
    person = person_by_id(db, person_id)
    if person is None:
        raise NotFound(f"person {person_id} is not known")
    now = _now(now).replace(microsecond=0)
    token = secrets.token_urlsafe(32)
    expires = now + LINK_TTL
    link_id = db.execute(
        "INSERT INTO signin_link (token_hash, person_id, created_by, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)", [_hash(token), person.user_id, created_by, _iso(now), _iso(expires)]
    ).lastrowid
    audit(db, created_by, "create", "signin_link", str(link_id), {"person": person.user_id})
    return Link(token, person, person_kind(db, person.user_id), expires)


def check_link(db: sqlite_utils.Database, token: Any, *, now: datetime | None = None) -> Person:
    """The person a usable link is for (the link stays usable), or SignInError."""
    return _usable(db, token, _now(now))[1]


def _usable(db, token: Any, now: datetime) -> tuple[int, Person]:
    if not _token_ok(token):
        raise SignInError("unknown")
    row = db.execute("SELECT id, person_id, expires_at, used_at FROM signin_link WHERE token_hash = ?",
                     [_hash(token)]).fetchone()
    if row is None:
        raise SignInError("unknown")
    link_id, person_id, expires_at, used_at = row
    if used_at is not None:
        raise SignInError("used")
    if now >= _dt(expires_at):
        raise SignInError("expired")
    person = person_by_id(db, person_id)
    if person is None:
        raise SignInError("unknown")
    return link_id, person


def redeem_link(db: sqlite_utils.Database, token: Any, address: str, *,
                now: datetime | None = None) -> tuple[Session, str]:
    """Use a link once: a new session and its secret cookie value."""
    now = _now(now)
    if limited(db, address, now=now):
        raise SignInError("limited")
    link_id, person = _usable(db, token, now)
    claimed = db.execute("UPDATE signin_link SET used_at = ?, used_from = ? WHERE id = ? AND used_at IS NULL",
                         [_iso(now), address[:64], link_id]).rowcount
    if not claimed:
        raise SignInError("used")
    audit(db, f"web:{person.user_id}", "signin", "signin_link", str(link_id), {"from": address[:64]})
    return _new_session(db, person, address, now)


def redeem_invite_on_web(db: sqlite_utils.Database, code: Any, address: str, *,
                         lang: str = "en", now: datetime | None = None) -> tuple[Session, str]:
    """An invite redeemed in a browser: a new person without Telegram gets
    its role and a session. The same checks as in Telegram (InviteError)."""
    now = _now(now)
    if limited(db, address, now=now):
        raise SignInError("limited")
    invite_id, role = _usable_invite(db, code, now)
    person = create_web_person(db, role, lang=lang, actor="web")
    claimed = db.execute("UPDATE invite SET used_by = ?, used_at = ? WHERE id = ? AND used_by IS NULL",
                         [person.user_id, _iso(now), invite_id]).rowcount
    if not claimed:  # raised inside the write transaction: the new person goes too
        raise InviteError("used")
    audit(db, f"web:{person.user_id}", "redeem", "invite", str(invite_id), {"role": role, "via": "web"})
    return _new_session(db, person, address, now)


def _new_session(db, person: Person, address: str, now: datetime) -> tuple[Session, str]:
    # Sign-ins are rare: each sweeps the expired sessions and links, so the
    # tables stay small without a timer of their own.
    purge_expired(db, now=now)
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    sid = db.execute(
        "INSERT INTO web_session (token_hash, person_id, csrf, created_at, last_seen, address) "
        "VALUES (?, ?, ?, ?, ?, ?)", [_hash(secret), person.user_id, csrf, _iso(now), _iso(now), address[:64]]
    ).lastrowid
    return Session(sid, person, person_kind(db, person.user_id), csrf, now, now, address[:64]), secret


# -- failures ------------------------------------------------------------------

def record_failure(db: sqlite_utils.Database, address: str, *, now: datetime | None = None) -> int:
    """Count a failed or expired link from ``address``; returns the count in the window."""
    now = _now(now)
    address = address[:64]
    row = db.execute("SELECT window_start, failures, total FROM signin_failure WHERE address = ?",
                     [address]).fetchone()
    if row is None or now - _dt(row[0]) >= FAILURE_WINDOW:
        failures, total = 1, (row[2] + 1 if row else 1)
        db.execute("INSERT OR REPLACE INTO signin_failure VALUES (?, ?, ?, ?)",
                   [address, _iso(now), failures, total])
        return failures
    db.execute("UPDATE signin_failure SET failures = failures + 1, total = total + 1 WHERE address = ?",
               [address])
    return row[1] + 1


def limited(db: sqlite_utils.Database, address: str, *, now: datetime | None = None) -> bool:
    row = db.execute("SELECT window_start, failures FROM signin_failure WHERE address = ?",
                     [address[:64]]).fetchone()
    return bool(row) and _now(now) - _dt(row[0]) < FAILURE_WINDOW and row[1] >= MAX_FAILURES


def failure_count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT coalesce(sum(total), 0) FROM signin_failure").fetchone()[0]


# -- sessions ------------------------------------------------------------------

_SESSION_SQL = ("SELECT s.id, s.person_id, s.csrf, s.created_at, s.last_seen, s.address, "
                "coalesce(w.kind, 'person') FROM web_session s LEFT JOIN web_person w ON w.user_id = s.person_id ")


def session_for(db: sqlite_utils.Database, secret: Any, *, now: datetime | None = None) -> Session | None:
    """The live session behind a cookie value, else None (expired ones too)."""
    if not _token_ok(secret):
        return None
    row = db.execute(_SESSION_SQL + "WHERE s.token_hash = ?", [_hash(secret)]).fetchone()
    if row is None:
        return None
    session = _session(db, row)
    if _now(now) - session.last_seen >= SESSION_IDLE:
        return None
    return session


def _session(db, row) -> Session:
    sid, person_id, csrf, created_at, last_seen, address, kind = row
    return Session(sid, person_by_id(db, person_id), kind, csrf, _dt(created_at), _dt(last_seen), address)


def touch_session(db: sqlite_utils.Database, session_id: int, *, now: datetime | None = None) -> None:
    db.execute("UPDATE web_session SET last_seen = ? WHERE id = ?", [_iso(_now(now)), session_id])


def needs_touch(session: Session, now: datetime | None = None) -> bool:
    return _now(now) - session.last_seen >= TOUCH_EVERY


def list_sessions(db: sqlite_utils.Database, person_id: int | None = None, *,
                  now: datetime | None = None) -> list[Session]:
    """Live sessions, newest first: one person's, or everyone's (None)."""
    where, args = ("WHERE s.person_id = ? ", [person_id]) if person_id is not None else ("", [])
    cutoff = _now(now) - SESSION_IDLE
    return [s for s in (_session(db, r) for r in db.execute(
        _SESSION_SQL + where + "ORDER BY s.last_seen DESC, s.id DESC", args)) if s.last_seen > cutoff]


def end_session(db: sqlite_utils.Database, session_id: int, actor: Person) -> bool:
    """End a session: one's own, or anyone's for an admin. False if there is none."""
    row = db.execute("SELECT person_id FROM web_session WHERE id = ?", [session_id]).fetchone()
    if row is None:
        return False
    if row[0] != actor.user_id and not can(actor.role, "admin"):
        raise NotAllowed("only an admin can end another person's session")
    db.execute("DELETE FROM web_session WHERE id = ?", [session_id])
    if row[0] != actor.user_id:
        audit(db, f"web:{actor.user_id}", "end", "web_session", str(session_id), {"person": row[0]})
    return True


def purge_expired(db: sqlite_utils.Database, *, now: datetime | None = None) -> int:
    """Delete sessions idle past their expiry and links unused a day after
    theirs (kept that day so a late click still says "expired")."""
    now = _now(now)
    n = db.execute("DELETE FROM web_session WHERE last_seen < ?", [_iso(now - SESSION_IDLE)]).rowcount
    n += db.execute("DELETE FROM signin_link WHERE used_at IS NULL AND expires_at < ?",
                    [_iso(now - timedelta(days=1))]).rowcount
    return n
