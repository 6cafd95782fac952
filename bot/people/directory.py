"""People, roles, invites and registered groups.

A plain service: no Telegram types. Handlers pass Telegram ids and strings;
errors are ``PeopleError`` subclasses whose message can be shown as is, and
``InviteError.reason`` tells the bot which invite problem to explain.

    storage.write(create_invite, "operator", created_by=42)   # Invite(code=...)
    people = People(storage)                                 # the async facade
    await people.redeem(code, user_id, name, language_code)  # Person(role="operator")

Rules (the issue left some open; decided here):

* Roles, lowest first: operator, trainer, lead, admin. They are keyed on the
  Telegram user id, never on a name; names are for lists only.
* Who manages which role (``GRANTS``): an admin invites, promotes, demotes and
  removes anyone; a lead does so only for operators and trainers (to them and
  from them). Operators and trainers manage nobody. The last admin can be
  neither demoted nor removed, so the bot can never be left without one.
* An invite is one-time and expiring. Its code (16 characters of base64url, 96
  random bits: a valid ``/start`` deep-link payload) is shown once; the
  database keeps only its SHA-256, so a leaked backup holds no usable code.
  An invite dies with its creator's right to grant its role: a lead demoted or
  removed leaves no live invites behind (reason ``revoked``).
* Redeeming an invite or joining from a registered group never lowers a role:
  an admin who opens an operator invite stays admin (the invite is used up).
* ``SHOPBOT_ADMINS`` only ever adds admins (``ensure_admins``); removing an id
  from it later demotes no one: do that in the bot.
* UI language from Telegram's ``language_code``: its primary subtag when it is
  one of ours (all zh-* variants give zh), Indonesian (``id``, and ``in``, its
  withdrawn code some phones still send) gives Malay: the two are largely
  mutually intelligible and Indonesian workers on a Malaysian line read Malay
  far better than English. Anything else gives English. The target language
  of translations follows the UI language until the person chooses one.
* Registering groups needs a lead or an admin; a registered group makes its
  members operators (``join_from_group``), its languages are 1-5 of ours
  (table ``tg_group_lang``, one checked row per language).

Storage follows ``glossary.store``: functions on a ``sqlite_utils.Database``
that never open transactions; the caller runs writes through ``Storage.write``
(one ``BEGIN IMMEDIATE`` transaction each, which is what makes a redemption
atomic). Every change is audited, actor ``tg:<user id>`` or ``system``;
``last_seen`` updates are not (they are not changes anyone reviews).
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, TypeVar, Union

import sqlite_utils

from glossary.model import LANGS
from glossary.store import audit, execute_script

T = TypeVar("T")

#: Roles, lowest first.
ROLES: tuple[str, ...] = ("operator", "trainer", "lead", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}

#: The roles each role may hand out and take away.
GRANTS: dict[str, tuple[str, ...]] = {"admin": ROLES, "lead": ("operator", "trainer")}

#: The actor of what the bot does by itself (start-up, automatic joins) and of
#: the command line: it has an admin's rights.
SYSTEM = "system"
Actor = Union[int, str]  # a person's id (Telegram's, or a person of the web only), or SYSTEM

#: Telegram user and chat ids have at most 52 significant bits.
MAX_ID = 2**53
#: People of the web only (bot.people.signin) have ids above MAX_ID, up to this.
MAX_WEB_ID = 2**62
MAX_NAME_CHARS = 64  # Telegram's own limit for a first name
MAX_TITLE_CHARS = 128  # ... and for a group title
DEFAULT_INVITE_TTL = 7 * 24 * 3600
MIN_INVITE_TTL = 60
MAX_INVITE_TTL = 30 * 24 * 3600
_CODE_BYTES = 12  # token_urlsafe: 16 characters, no padding
# A Telegram deep-link payload: at most 64 of these characters.
_CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PeopleError(Exception):
    """A refused request; the message can be shown to the person who asked."""


class InvalidInput(PeopleError, ValueError):
    """A bad id, role, language, name..."""


class NotFound(PeopleError, LookupError):
    """No such person or group."""


class NotAllowed(PeopleError, PermissionError):
    """The actor's role does not allow this."""


class LastAdmin(NotAllowed):
    """Taking away the last admin."""


class InviteError(PeopleError):
    """An invite code that cannot be redeemed; ``reason`` says why."""

    MESSAGES = {
        "unknown": "this invite code does not exist",
        "expired": "this invite code has expired",
        "used": "this invite code has been used already",
        "revoked": "this invite code is no longer valid",
    }

    def __init__(self, reason: str):
        super().__init__(self.MESSAGES[reason])
        self.reason = reason


@dataclass(frozen=True)
class Person:
    user_id: int
    role: str
    name: str  # for lists only, never for authorisation
    lang: str  # of the interface
    chosen_target: str | None  # None: translate into the UI language
    created_at: datetime
    last_seen: datetime | None  # None: made from SHOPBOT_ADMINS, not seen yet

    @property
    def target(self) -> str:
        return self.chosen_target or self.lang

    @property
    def label(self) -> str:
        """What a list shows (raw text: escape it for HTML messages)."""
        return self.name or f"#{self.user_id}"

    def can(self, needed: str) -> bool:
        return can(self.role, needed)


@dataclass(frozen=True)
class Invite:
    id: int
    code: str  # only known when the invite is created
    role: str
    created_by: int | None  # None: SYSTEM
    created_at: datetime
    expires_at: datetime

    def link(self, bot_username: str) -> str:
        return f"https://t.me/{bot_username}?start={self.code}"


@dataclass(frozen=True)
class Group:
    chat_id: int
    title: str
    langs: tuple[str, ...]
    auto_translate: bool
    registered_by: int | None  # None: SYSTEM
    created_at: datetime


# --------------------------------------------------------------------------
# Schema


def migrate_v3(db: sqlite_utils.Database) -> None:
    """People and their roles, invites, registered Telegram groups."""
    roles = ", ".join(f"'{r}'" for r in ROLES)
    langs = ", ".join(f"'{lang}'" for lang in LANGS)
    execute_script(db,
        f"""
        CREATE TABLE person (
            user_id INTEGER PRIMARY KEY CHECK (user_id > 0),
            role TEXT NOT NULL CHECK (role IN ({roles})),
            name TEXT NOT NULL DEFAULT '',
            ui_lang TEXT NOT NULL CHECK (ui_lang IN ({langs})),
            target_lang TEXT CHECK (target_lang IN ({langs})),  -- NULL: ui_lang
            created_at TEXT NOT NULL,
            last_seen TEXT
        );

        -- code_hash: SHA-256 of the code; the code itself is never stored.
        -- created_by and used_by are not foreign keys: an invite is history
        -- and outlives the people named in it. NULL created_by: 'system'.
        CREATE TABLE invite (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            code_hash TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ({roles})),
            created_by INTEGER,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_by INTEGER,
            used_at TEXT,
            CHECK ((used_by IS NULL) = (used_at IS NULL))
        );

        -- Telegram group and supergroup ids are negative.
        CREATE TABLE tg_group (
            chat_id INTEGER PRIMARY KEY CHECK (chat_id < 0),
            title TEXT NOT NULL DEFAULT '',
            auto_translate INTEGER NOT NULL DEFAULT 0 CHECK (auto_translate IN (0, 1)),
            registered_by INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        -- A group's languages in its order, one row each: so the schema
        -- checks every language and that none appears twice.
        CREATE TABLE tg_group_lang (
            chat_id INTEGER NOT NULL REFERENCES tg_group(chat_id) ON DELETE CASCADE,
            lang TEXT NOT NULL CHECK (lang IN ({langs})),
            position INTEGER NOT NULL,
            PRIMARY KEY (chat_id, lang)
        ) WITHOUT ROWID;
        """
    )


# --------------------------------------------------------------------------
# Roles, languages, names: pure helpers


def can(role: str | None, needed: str) -> bool:
    """Whether ``role`` (None: a stranger) is ``needed`` or above."""
    if needed not in ROLES:
        raise ValueError(f"unknown role {needed!r}")
    return role in ROLES and _RANK[role] >= _RANK[needed]


def can_grant(actor_role: str | None, role: str) -> bool:
    """Whether someone with ``actor_role`` may give or take away ``role``."""
    return role in GRANTS.get(actor_role, ())


# Primary language subtags we map onto another of our languages.
_LANG_ALIASES = {"id": "ms", "in": "ms"}


def language_from_telegram(language_code: str | None) -> str:
    """Our UI language for Telegram's ``language_code`` (an IETF tag or None)."""
    if not isinstance(language_code, str):
        return "en"
    primary = language_code.strip().replace("_", "-").split("-", 1)[0].lower()
    primary = _LANG_ALIASES.get(primary, primary)
    return primary if primary in LANGS else "en"


# Control, format (zero-width, bidi overrides, soft hyphen), surrogate,
# private-use and unassigned characters: invisible or spoofing in a list.
# Format includes the zero-width joiner, so emoji sequences fall apart into
# their pieces: acceptable for a name in a list.
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}


def clean_name(text: str | None, limit: int = MAX_NAME_CHARS) -> str:
    """A display name fit for a list: without invisible characters, spaces
    collapsed, at most ``limit`` characters. Never raises on text; does not
    escape HTML (whoever renders it does)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidInput(f"a name must be text, not {type(text).__name__}")
    text = text[: limit * 8]  # bound the work a hostile megabyte costs
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    return " ".join(kept.split())[:limit].rstrip()


# --------------------------------------------------------------------------
# Validation and conversion


def _user_id(value: Any) -> int:
    # bool is an int: True must not become user 1.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < MAX_ID:
        raise InvalidInput(f"not a Telegram user id: {value!r:.40}")
    return value


def _person_id(value: Any) -> int:
    """A person's id: a Telegram user id, or the id of a person of the web
    only (above MAX_ID: the web console manages them with the same rules)."""
    if isinstance(value, bool) or not isinstance(value, int) \
            or not (0 < value < MAX_ID or MAX_ID < value < MAX_WEB_ID):
        raise InvalidInput(f"not a person's id: {value!r:.40}")
    return value


def _chat_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_ID < value < 0:
        raise InvalidInput(f"not a Telegram group id (those are negative): {value!r:.40}")
    return value


def _role(value: Any) -> str:
    if value not in ROLES:
        raise InvalidInput(f"unknown role {value!r:.40} (one of: {', '.join(ROLES)})")
    return value


def _lang(value: Any) -> str:
    if value not in LANGS:
        raise InvalidInput(f"unknown language {value!r:.40} (one of: {', '.join(LANGS)})")
    return value


def _group_langs(langs: Any) -> tuple[str, ...]:
    if isinstance(langs, str) or not isinstance(langs, (list, tuple)):
        raise InvalidInput("a group's languages must be a list of language codes")
    langs = tuple(_lang(lang) for lang in langs)
    if not 1 <= len(langs) <= len(LANGS):
        raise InvalidInput(f"a group needs 1 to {len(LANGS)} languages, got {len(langs)}")
    if len(set(langs)) != len(langs):
        raise InvalidInput("a group's languages must not repeat")
    return langs


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be true or false")
    return value


def _ttl(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) \
            or not MIN_INVITE_TTL <= value <= MAX_INVITE_TTL:
        raise InvalidInput(
            f"an invite lasts {MIN_INVITE_TTL} s to {MAX_INVITE_TTL // 86400} days, not {value!r:.40}"
        )
    return value


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _code_hash(code: str) -> str:
    # The codes are 96 random bits: a plain hash is enough, no salt or slow KDF.
    return hashlib.sha256(code.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------
# Actors and permissions


def _actor_tag(actor: Actor) -> str:
    if actor == SYSTEM:
        return SYSTEM
    # People of the web only are "web:ID" in the audit, as sign-in writes them.
    return f"tg:{actor}" if _person_id(actor) < MAX_ID else f"web:{actor}"


def _creator_id(actor: Actor) -> int | None:
    return None if actor == SYSTEM else _person_id(actor)


def _actor_role(db: sqlite_utils.Database, actor: Actor) -> str | None:
    if actor == SYSTEM:
        return "admin"
    person = get_person(db, actor)
    return person.role if person else None


def _require(db: sqlite_utils.Database, actor: Actor, needed: str, doing: str) -> None:
    if not can(_actor_role(db, actor), needed):
        raise NotAllowed(f"only a {needed} or above can {doing}")


def _require_grant(db: sqlite_utils.Database, actor: Actor, *roles: str) -> None:
    """The actor may hand out and take away every one of ``roles``."""
    actor_role = _actor_role(db, actor)
    if actor_role not in GRANTS:
        raise NotAllowed("only a lead or an admin can manage people")
    for role in roles:
        if not can_grant(actor_role, role):
            allowed = " and ".join(f"{r}s" for r in GRANTS[actor_role])
            raise NotAllowed(f"a {actor_role} can only manage {allowed}, not {role}s")


def _keep_an_admin(db: sqlite_utils.Database) -> None:
    """Refuse to take away the last admin (called when taking one away)."""
    admins = db.execute("SELECT count(*) FROM person WHERE role = 'admin'").fetchone()[0]
    if admins <= 1:
        raise LastAdmin("this is the last admin: make someone else admin first")


# --------------------------------------------------------------------------
# People: reading

_PERSON_COLUMNS = "user_id, role, name, ui_lang, target_lang, created_at, last_seen"


def _person(row: tuple) -> Person:
    user_id, role, name, lang, target, created_at, last_seen = row
    return Person(user_id, role, name, lang, target, _dt(created_at), _dt(last_seen))


def get_person(db: sqlite_utils.Database, user_id: int) -> Person | None:
    """The person with this id (a Telegram user id, or a person of the web
    only); None for a stranger."""
    row = db.execute(
        f"SELECT {_PERSON_COLUMNS} FROM person WHERE user_id = ?", [_person_id(user_id)]
    ).fetchone()
    return _person(row) if row else None


def is_known(db: sqlite_utils.Database, user_id: int) -> bool:
    return get_person(db, user_id) is not None


def list_people(db: sqlite_utils.Database) -> list[Person]:
    """Everyone, admins first, then by name."""
    people = [_person(row) for row in db.execute(f"SELECT {_PERSON_COLUMNS} FROM person")]
    return sorted(people, key=lambda p: (-_RANK[p.role], p.name.casefold(), p.user_id))


def _require_person(db: sqlite_utils.Database, user_id: int) -> Person:
    person = get_person(db, user_id)
    if person is None:
        raise NotFound(f"user {user_id} is not known to the bot")
    return person


# --------------------------------------------------------------------------
# People: writing


def _create_person(db: sqlite_utils.Database, user_id: int, role: str, *, now: datetime,
                   seen: bool, name: str | None, language_code: str | None, actor: str,
                   via: str) -> Person:
    db.execute(
        f"INSERT INTO person ({_PERSON_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?, ?)",
        [user_id, role, clean_name(name), language_from_telegram(language_code), _iso(now),
         _iso(now) if seen else None],
    )
    audit(db, actor, "create", "person", str(user_id), {"role": role, "via": via})
    return _require_person(db, user_id)


def _admit(db: sqlite_utils.Database, user_id: int, role: str, *, now: datetime, seen: bool,
           actor: str, via: str, name: str | None = None,
           language_code: str | None = None) -> Person:
    """The person, created with ``role`` or raised to it; never lowered."""
    person = get_person(db, user_id)
    if person is None:
        return _create_person(db, user_id, role, now=now, seen=seen, name=name,
                              language_code=language_code, actor=actor, via=via)
    if _RANK[person.role] >= _RANK[role]:
        return person
    db.execute("UPDATE person SET role = ? WHERE user_id = ?", [role, user_id])
    audit(db, actor, "role", "person", str(user_id), {"from": person.role, "to": role, "via": via})
    return replace(person, role=role)


def ensure_admins(db: sqlite_utils.Database, ids: Iterable[int]) -> list[Person]:
    """Make these users admins (bot start, ``SHOPBOT_ADMINS``). Idempotent:
    nothing is written for someone who is an admin already."""
    ids = [_user_id(i) for i in ids]  # all checked before anything is written
    now = _now(None)
    return [_admit(db, user_id, "admin", now=now, seen=False, actor=SYSTEM, via="SHOPBOT_ADMINS")
            for user_id in ids]


def join_from_group(db: sqlite_utils.Database, user_id: int, chat_id: int, *,
                    name: str | None = None, language_code: str | None = None,
                    now: datetime | None = None) -> Person | None:
    """Make a member of a registered group an operator; None if the group is
    not registered. Someone known keeps their role. The caller vouches that
    ``user_id`` is a member of ``chat_id`` (it saw them post or join there)."""
    user_id = _user_id(user_id)
    if get_group(db, chat_id) is None:
        return None
    person = get_person(db, user_id)
    if person is not None:  # operator is the lowest role: nothing to raise
        return person
    return _create_person(db, user_id, "operator", now=_now(now), seen=True, name=name,
                          language_code=language_code, actor=SYSTEM, via=f"group {chat_id}")


def set_role(db: sqlite_utils.Database, user_id: int, role: str, actor: Actor) -> Person:
    """Promote or demote someone (see ``GRANTS``; the last admin stays)."""
    role = _role(role)
    person = _require_person(db, user_id)
    _require_grant(db, actor, person.role, role)
    if person.role == role:
        return person
    if person.role == "admin":
        _keep_an_admin(db)
    db.execute("UPDATE person SET role = ? WHERE user_id = ?", [role, person.user_id])
    audit(db, _actor_tag(actor), "role", "person", str(person.user_id),
          {"from": person.role, "to": role})
    return replace(person, role=role)


def remove_person(db: sqlite_utils.Database, user_id: int, actor: Actor) -> Person:
    """Forget someone; returns who it was. They are strangers again, but a
    registered group they are still in makes them an operator again: remove
    them from the group too."""
    person = _require_person(db, user_id)
    _require_grant(db, actor, person.role)
    if person.role == "admin":
        _keep_an_admin(db)
    db.execute("DELETE FROM person WHERE user_id = ?", [person.user_id])
    # The audit row keeps who it was: the person row is gone.
    audit(db, _actor_tag(actor), "delete", "person", str(person.user_id),
          {"role": person.role, "name": person.name})
    return person


def set_language(db: sqlite_utils.Database, user_id: int, lang: str) -> Person:
    """A person's own choice of UI language."""
    return _set_own(db, user_id, "ui_lang", _lang(lang))


def set_target(db: sqlite_utils.Database, user_id: int, lang: str | None) -> Person:
    """A person's own choice of translation target; None: their UI language."""
    return _set_own(db, user_id, "target_lang", None if lang is None else _lang(lang))


def _set_own(db: sqlite_utils.Database, user_id: int, column: str, value: str | None) -> Person:
    person = _require_person(db, user_id)
    db.execute(f"UPDATE person SET {column} = ? WHERE user_id = ?", [value, person.user_id])
    audit(db, _actor_tag(person.user_id), "set", "person", str(person.user_id), {column: value})
    return _require_person(db, person.user_id)


def touch(db: sqlite_utils.Database, user_id: int, name: str | None,
          *, now: datetime | None = None) -> Person:
    """Record that a known person was seen, under this display name."""
    person = _require_person(db, user_id)
    name = clean_name(name)
    db.execute("UPDATE person SET name = ?, last_seen = ? WHERE user_id = ?",
               [name, _iso(_now(now)), person.user_id])
    if name != person.name:
        audit(db, _actor_tag(person.user_id), "rename", "person", str(person.user_id),
              {"from": person.name, "to": name})
    return _require_person(db, person.user_id)


# --------------------------------------------------------------------------
# Invites


def create_invite(db: sqlite_utils.Database, role: str, created_by: Actor,
                  ttl_seconds: int = DEFAULT_INVITE_TTL, *, now: datetime | None = None) -> Invite:
    """A one-time code that gives ``role``; the creator must be allowed to grant it."""
    role, ttl = _role(role), _ttl(ttl_seconds)
    _require_grant(db, created_by, role)
    created_at = _now(now).replace(microsecond=0)
    expires_at = created_at + timedelta(seconds=ttl)
    code = secrets.token_urlsafe(_CODE_BYTES)
    invite_id = db.execute(
        "INSERT INTO invite (code_hash, role, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        [_code_hash(code), role, _creator_id(created_by), _iso(created_at), _iso(expires_at)],
    ).lastrowid
    # Never the code: the audit is read by people who must not redeem it.
    audit(db, _actor_tag(created_by), "create", "invite", str(invite_id),
          {"role": role, "expires_at": _iso(expires_at)})
    return Invite(invite_id, code, role, _creator_id(created_by), created_at, expires_at)


def redeem_invite(db: sqlite_utils.Database, code: str, user_id: int, *,
                  name: str | None = None, language_code: str | None = None,
                  now: datetime | None = None) -> Person:
    """Use an invite: the person gets its role (or keeps a higher one).

    Raises InviteError (reason unknown, used, expired or revoked). Run it in a
    write transaction (``Storage.write``); the claim is also a conditional
    UPDATE, so two redemptions can never both succeed.
    """
    user_id, now = _user_id(user_id), _now(now)
    invite_id, role = _usable_invite(db, code, now)
    claimed = db.execute(
        "UPDATE invite SET used_by = ?, used_at = ? WHERE id = ? AND used_by IS NULL",
        [user_id, _iso(now), invite_id],
    ).rowcount
    if not claimed:
        raise InviteError("used")
    actor = _actor_tag(user_id)
    audit(db, actor, "redeem", "invite", str(invite_id), {"role": role})
    return _admit(db, user_id, role, now=now, seen=True, actor=actor, via=f"invite {invite_id}",
                  name=name, language_code=language_code)


def _usable_invite(db: sqlite_utils.Database, code: Any, now: datetime) -> tuple[int, str]:
    """(id, role) of the invite with this code, or the InviteError that says why not."""
    # A malformed code cannot exist: the same answer as for an unknown one.
    code = code.strip() if isinstance(code, str) else ""
    if not _CODE_RE.fullmatch(code):
        raise InviteError("unknown")
    row = db.execute(
        "SELECT id, role, created_by, expires_at, used_by FROM invite WHERE code_hash = ?",
        [_code_hash(code)],
    ).fetchone()
    if row is None:
        raise InviteError("unknown")
    invite_id, role, created_by, expires_at, used_by = row
    if used_by is not None:
        raise InviteError("used")
    if now >= _dt(expires_at):
        raise InviteError("expired")
    creator = SYSTEM if created_by is None else created_by
    if not can_grant(_actor_role(db, creator), role):
        raise InviteError("revoked")
    return invite_id, role


# --------------------------------------------------------------------------
# Groups


def _group(db: sqlite_utils.Database, row: tuple) -> Group:
    chat_id, title, auto_translate, registered_by, created_at = row
    langs = tuple(r[0] for r in db.execute(
        "SELECT lang FROM tg_group_lang WHERE chat_id = ? ORDER BY position", [chat_id]))
    return Group(chat_id, title, langs, bool(auto_translate), registered_by, _dt(created_at))


_GROUP_COLUMNS = "chat_id, title, auto_translate, registered_by, created_at"


def get_group(db: sqlite_utils.Database, chat_id: int) -> Group | None:
    row = db.execute(f"SELECT {_GROUP_COLUMNS} FROM tg_group WHERE chat_id = ?",
                     [_chat_id(chat_id)]).fetchone()
    return _group(db, row) if row else None


def list_groups(db: sqlite_utils.Database) -> list[Group]:
    return [_group(db, row) for row in
            db.execute(f"SELECT {_GROUP_COLUMNS} FROM tg_group ORDER BY title, chat_id").fetchall()]


def register_group(db: sqlite_utils.Database, chat_id: int, title: str, langs: list[str],
                   auto_translate: bool, actor: Actor) -> Group:
    """Register a group, or change a registered one (title, languages, auto-translate)."""
    chat_id, langs = _chat_id(chat_id), _group_langs(langs)
    auto_translate = _bool(auto_translate, "auto-translate")
    _require(db, actor, "lead", "register groups")
    existed = get_group(db, chat_id) is not None
    now = _iso(_now(None))
    db.execute(
        "INSERT INTO tg_group (chat_id, title, auto_translate, registered_by, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id) DO UPDATE SET title = excluded.title, "
        "auto_translate = excluded.auto_translate, updated_at = excluded.updated_at",
        [chat_id, clean_name(title, MAX_TITLE_CHARS), int(auto_translate), _creator_id(actor), now, now],
    )
    db.execute("DELETE FROM tg_group_lang WHERE chat_id = ?", [chat_id])
    db.conn.executemany("INSERT INTO tg_group_lang (chat_id, lang, position) VALUES (?, ?, ?)",
                        [(chat_id, lang, i) for i, lang in enumerate(langs)])
    audit(db, _actor_tag(actor), "update" if existed else "create", "tg_group", str(chat_id),
          {"langs": list(langs), "auto_translate": auto_translate})
    return get_group(db, chat_id)


def unregister_group(db: sqlite_utils.Database, chat_id: int, actor: Actor) -> bool:
    """Forget a group (its members keep their roles); False if it was not registered."""
    chat_id = _chat_id(chat_id)
    _require(db, actor, "lead", "unregister groups")
    gone = db.execute("DELETE FROM tg_group WHERE chat_id = ?", [chat_id]).rowcount > 0
    if gone:
        audit(db, _actor_tag(actor), "delete", "tg_group", str(chat_id))
    return gone


def set_auto_translate(db: sqlite_utils.Database, chat_id: int, on: bool, actor: Actor) -> Group:
    on = _bool(on, "auto-translate")
    _require(db, actor, "lead", "change group settings")
    if get_group(db, chat_id) is None:
        raise NotFound(f"group {chat_id} is not registered")
    db.execute("UPDATE tg_group SET auto_translate = ?, updated_at = ? WHERE chat_id = ?",
               [int(on), _iso(_now(None)), chat_id])
    audit(db, _actor_tag(actor), "set", "tg_group", str(chat_id), {"auto_translate": on})
    return get_group(db, chat_id)


# --------------------------------------------------------------------------
# The async facade for handlers

#: How long ``People.get`` and ``People.get_group`` trust what they read.
#: Writes through the facade invalidate at once; this bounds how stale a
#: change made elsewhere (the CLI, another process) can look.
CACHE_SECONDS = 30.0
#: A bound on the cache, so that many strangers cannot grow it without end.
CACHE_MAX_ENTRIES = 10_000
#: ``People.touch`` writes last_seen at most this often per person.
TOUCH_EVERY = timedelta(minutes=5)


class People:
    """The people service for asyncio code: reads on reader threads, writes on
    the writer thread, and a small cache in front of ``get`` and ``get_group``,
    the lookups the bot makes on every update."""

    def __init__(self, storage, *, cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._storage = storage
        self._cache_seconds = cache_seconds
        self._clock = clock
        # (reader function, id) -> (expiry, its result: None is cached too)
        self._cache: dict[tuple[Callable, int], tuple[float, Any]] = {}
        self._generation = 0  # bumped by every write through this facade

    # -- the cache ----------------------------------------------------------
    async def get(self, user_id: int) -> Person | None:
        """The person, or None for a stranger."""
        return await self._cached(get_person, user_id)

    async def get_group(self, chat_id: int) -> Group | None:
        """The registered group, or None."""
        return await self._cached(get_group, chat_id)

    async def _cached(self, fn: Callable[[sqlite_utils.Database, int], T], key: int) -> T:
        hit = self._cache.get((fn, key))
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        generation = self._generation
        value = await self._storage.aread(fn, key)
        # A write that committed while we read may have made the value stale:
        # then serve it this once, but do not cache it.
        if generation == self._generation:
            if len(self._cache) >= CACHE_MAX_ENTRIES:
                self._cache.clear()
            self._cache[(fn, key)] = (self._clock() + self._cache_seconds, value)
        return value

    def invalidate(self) -> None:
        """Forget everything cached (called after each write)."""
        self._generation += 1
        self._cache.clear()

    async def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # Shielded: a write asked for is carried out even if the handler that
        # asked is cancelled, and the cache is dropped once it has committed
        # (dropping it at the cancellation could let a read cache the row
        # between then and the commit).
        task = asyncio.ensure_future(self._storage.awrite(fn, *args, **kwargs))
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self.invalidate()
            else:
                task.add_done_callback(lambda _: self.invalidate())

    # -- people -------------------------------------------------------------
    async def is_known(self, user_id: int) -> bool:
        return await self.get(user_id) is not None

    # Named for the handlers (``people.list()``); builtins.list below, because
    # inside this class ``list`` is this method.
    async def list(self) -> builtins.list[Person]:
        """Everyone, admins first."""
        return await self._storage.aread(list_people)

    async def touch(self, user_id: int, name: str | None) -> Person | None:
        """Note that a known person was seen; None for a stranger. Writes only
        when the name changed or last_seen is older than TOUCH_EVERY."""
        person = await self.get(user_id)
        if person is None:
            return None
        recent = person.last_seen and datetime.now(timezone.utc) - person.last_seen < TOUCH_EVERY
        if recent and person.name == clean_name(name):
            return person
        try:
            return await self._write(touch, user_id, name)
        except NotFound:  # removed since the cache read it
            return None

    async def ensure_admins(self, ids: Iterable[int]) -> builtins.list[Person]:
        return await self._write(ensure_admins, builtins.list(ids))

    async def join_from_group(self, user_id: int, chat_id: int, name: str | None = None,
                              language_code: str | None = None) -> Person | None:
        # Known people and unregistered groups need no trip to the writer.
        person = await self.get(user_id)
        if person is not None or await self.get_group(chat_id) is None:
            return person
        return await self._write(join_from_group, user_id, chat_id, name=name,
                                 language_code=language_code)

    async def set_role(self, user_id: int, role: str, actor: Actor) -> Person:
        return await self._write(set_role, user_id, role, actor)

    async def remove(self, user_id: int, actor: Actor) -> Person:
        return await self._write(remove_person, user_id, actor)

    async def set_language(self, user_id: int, lang: str) -> Person:
        return await self._write(set_language, user_id, lang)

    async def set_target(self, user_id: int, lang: str | None) -> Person:
        return await self._write(set_target, user_id, lang)

    # -- invites ------------------------------------------------------------
    async def create_invite(self, role: str, created_by: Actor,
                            ttl_seconds: int = DEFAULT_INVITE_TTL) -> Invite:
        return await self._write(create_invite, role, created_by, ttl_seconds)

    async def redeem(self, code: str, user_id: int, name: str | None = None,
                     language_code: str | None = None) -> Person:
        return await self._write(redeem_invite, code, user_id, name=name,
                                 language_code=language_code)

    # -- groups -------------------------------------------------------------
    async def list_groups(self) -> builtins.list[Group]:
        return await self._storage.aread(list_groups)

    async def register_group(self, chat_id: int, title: str, langs: builtins.list[str],
                             auto_translate: bool, actor: Actor) -> Group:
        return await self._write(register_group, chat_id, title, langs, auto_translate, actor)

    async def unregister_group(self, chat_id: int, actor: Actor) -> bool:
        return await self._write(unregister_group, chat_id, actor)

    async def set_auto_translate(self, chat_id: int, on: bool, actor: Actor) -> Group:
        return await self._write(set_auto_translate, chat_id, on, actor)
