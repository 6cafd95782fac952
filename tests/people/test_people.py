"""People, roles, invites and registered groups (bot/people/directory.py)."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import unicodedata
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.people import directory as pp
from bot.people.directory import (
    SYSTEM,
    InvalidInput,
    InviteError,
    NotAllowed,
    NotFound,
    People,
    can,
    can_grant,
    clean_name,
    create_invite,
    ensure_admins,
    get_group,
    get_person,
    is_known,
    join_from_group,
    list_people,
    redeem_invite,
    register_group,
    remove_person,
    set_auto_translate,
    set_language,
    set_role,
    set_target,
    touch,
    language_from_telegram,
    unregister_group,
)
from bot.storage import MIGRATIONS

ADMIN, LEAD, TRAINER, OPERATOR, STRANGER = 1, 2, 3, 4, 99
GROUP = -1001234567890
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)


def add(storage, user_id, role, **kw):
    """A person with ``role``, let in through an invite the system made."""
    code = storage.write(create_invite, role, SYSTEM).code
    return storage.write(redeem_invite, code, user_id, **kw)


@pytest.fixture
def crew(empty_storage):
    """One admin, lead, trainer and operator."""
    empty_storage.write(ensure_admins, [ADMIN])
    for user_id, role in ((LEAD, "lead"), (TRAINER, "trainer"), (OPERATOR, "operator")):
        add(empty_storage, user_id, role, name=role.title())
    return empty_storage


def role_of(storage, user_id):
    person = storage.read(get_person, user_id)
    return person.role if person else None


def audits(storage, entity):
    rows = storage.read(lambda db: db.execute(
        "SELECT actor, action, entity_id, detail FROM audit WHERE entity = ? ORDER BY id",
        [entity]).fetchall())
    return [(actor, action, eid, json.loads(detail) if detail else None)
            for actor, action, eid, detail in rows]


# --------------------------------------------------------------------------
# Schema


def test_migration_is_appended_and_named_after_its_position():
    assert pp.migrate_v3 in MIGRATIONS
    assert MIGRATIONS.index(pp.migrate_v3) == 2


@pytest.mark.parametrize("sql", [
    "INSERT INTO person VALUES (5, 'boss', '', 'en', NULL, 'x', NULL)",
    "INSERT INTO person VALUES (5, 'operator', '', 'de', NULL, 'x', NULL)",
    "INSERT INTO person VALUES (5, 'operator', '', 'en', 'xx', 'x', NULL)",
    "INSERT INTO person VALUES (-5, 'operator', '', 'en', NULL, 'x', NULL)",
    "INSERT INTO invite (code_hash, role, created_at, expires_at) VALUES ('h', 'god', 'x', 'y')",
    "INSERT INTO tg_group (chat_id, created_at, updated_at) VALUES (5, 'x', 'y')",
    "INSERT INTO tg_group (chat_id, auto_translate, created_at, updated_at) VALUES (-5, 2, 'x', 'y')",
])
def test_schema_checks(empty_storage, sql):
    with pytest.raises(sqlite3.IntegrityError):
        empty_storage.write(lambda db: db.execute(sql))


# --------------------------------------------------------------------------
# Pure helpers


def test_roles_are_ordered():
    assert can("admin", "lead") and can("lead", "lead") and can("trainer", "operator")
    assert not can("operator", "trainer") and not can(None, "operator") and not can("boss", "operator")
    with pytest.raises(ValueError):
        can("admin", "boss")


def test_grants():
    assert all(can_grant("admin", role) for role in pp.ROLES)
    assert [r for r in pp.ROLES if can_grant("lead", r)] == ["operator", "trainer"]
    assert not any(can_grant(role, "operator") for role in ("trainer", "operator", None))


@pytest.mark.parametrize("code, lang", [
    ("zh-hans", "zh"), ("zh-CN", "zh"), ("zh-tw", "zh"), ("zh_HK", "zh"), ("zh", "zh"),
    ("ko", "ko"), ("ko-KR", "ko"), ("ms", "ms"), ("ms-MY", "ms"), ("id", "ms"), ("in", "ms"),
    ("fr", "fr"), ("fr-CA", "fr"), ("FR-be", "fr"), ("en", "en"), ("en-GB", "en"),
    ("de", "en"), ("pt-br", "en"), ("", "en"), (None, "en"), (42, "en"), ("zhx", "en"),
    (" ko ", "ko"), ("-", "en"),
])
def test_ui_language(code, lang):
    assert language_from_telegram(code) == lang


@given(st.text())
def test_ui_language_is_always_ours(code):
    assert language_from_telegram(code) in pp.LANGS


def test_clean_name_hostile():
    assert clean_name("<b>Ana</b> & co") == "<b>Ana</b> & co"  # escaping is the renderer's job
    assert clean_name("A\u200bn\u200da\ufeff") == "Ana"  # zero-width
    assert clean_name("evil\u202egnp.exe") == "evilgnp.exe"  # bidi override
    assert clean_name("a\x00b\x1b[31mc") == "ab[31mc"
    assert clean_name("  Li \n\t Wei  ") == "Li Wei"
    assert clean_name("名" * 10_000) == "名" * pp.MAX_NAME_CHARS
    assert clean_name("\u200b" * 1_000_000) == ""
    assert clean_name(None) == ""
    with pytest.raises(InvalidInput):
        clean_name(b"bytes")


@given(st.text())
def test_clean_name_properties(text):
    name = clean_name(text)
    assert len(name) <= pp.MAX_NAME_CHARS
    assert name == name.strip() and "  " not in name
    assert not any(unicodedata.category(ch) in pp._DROPPED_CATEGORIES for ch in name)
    assert clean_name(name) == name


# --------------------------------------------------------------------------
# Invites


def test_invite_lifecycle(crew):
    invite = crew.write(create_invite, "trainer", ADMIN)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", invite.code)
    assert invite.expires_at - invite.created_at == timedelta(days=7)
    assert invite.link("shopbot") == f"https://t.me/shopbot?start={invite.code}"

    person = crew.write(redeem_invite, invite.code, 50, name="Siti", language_code="ms-MY")
    assert (person.role, person.name, person.lang, person.target) == ("trainer", "Siti", "ms", "ms")
    assert person.last_seen is not None and crew.read(is_known, 50)

    with pytest.raises(InviteError) as err:
        crew.write(redeem_invite, invite.code, 51)
    assert err.value.reason == "used" and not crew.read(is_known, 51)
    with pytest.raises(InviteError) as err:  # not even by the same person
        crew.write(redeem_invite, invite.code, 50)
    assert err.value.reason == "used"


def test_codes_are_random_and_not_stored(crew):
    codes = {crew.write(create_invite, "operator", ADMIN).code for _ in range(20)}
    assert len(codes) == 20
    dump = "\n".join(crew.read(lambda db: list(db.conn.iterdump())))
    assert not any(code in dump for code in codes)  # the audit included


def test_invite_expiry(crew):
    invite = crew.write(create_invite, "operator", ADMIN, 3600, now=T0)
    with pytest.raises(InviteError) as err:
        crew.write(redeem_invite, invite.code, 50, now=T0 + timedelta(hours=1))
    assert err.value.reason == "expired"
    person = crew.write(redeem_invite, invite.code, 50, now=T0 + timedelta(minutes=59))
    assert person.role == "operator"


@pytest.mark.parametrize("ttl", [0, -1, 59, 31 * 86400, 3600.0, True, "3600", None])
def test_invite_ttl_is_checked(crew, ttl):
    with pytest.raises(InvalidInput):
        crew.write(create_invite, "operator", ADMIN, ttl)


@pytest.mark.parametrize("code", [
    "nope", "A" * 16, "", "   ", None, 12345, "a b", "abc/def", "abc+def=", "ab\x00cd",
    "é" * 16, "ＡＢＣ", "a" * 65, "a" * 100_000, "<script>", "'; DROP TABLE person; --",
])
def test_unknown_and_malformed_codes(crew, code):
    with pytest.raises(InviteError) as err:
        crew.write(redeem_invite, code, 50)
    assert err.value.reason == "unknown"
    assert str(err.value) == "this invite code does not exist"


def test_code_around_spaces_is_accepted(crew):
    code = crew.write(create_invite, "operator", ADMIN).code
    assert crew.write(redeem_invite, f"  {code}\n", 50).role == "operator"


@given(st.text(max_size=80))
def test_any_text_as_a_code_is_a_clean_refusal(empty_storage, code):
    with pytest.raises(InviteError):
        empty_storage.write(redeem_invite, code, 50)


def test_who_may_invite_whom(crew):
    for role in pp.ROLES:
        assert crew.write(create_invite, role, ADMIN).role == role
        assert crew.write(create_invite, role, SYSTEM).created_by is None
    for role in ("operator", "trainer"):
        assert crew.write(create_invite, role, LEAD).created_by == LEAD
    for role in ("lead", "admin"):
        with pytest.raises(NotAllowed, match="lead can only manage operators and trainers"):
            crew.write(create_invite, role, LEAD)
    for actor in (TRAINER, OPERATOR, STRANGER):
        with pytest.raises(NotAllowed):
            crew.write(create_invite, "operator", actor)
    for bad_actor in ("admin", "tg:1", None, -1, True):
        with pytest.raises(InvalidInput):
            crew.write(create_invite, "operator", bad_actor)
    with pytest.raises(InvalidInput):
        crew.write(create_invite, "superuser", ADMIN)


def test_invites_die_with_their_creators_rights(crew):
    by_lead = crew.write(create_invite, "trainer", LEAD)
    crew.write(set_role, LEAD, "trainer", ADMIN)
    with pytest.raises(InviteError) as err:
        crew.write(redeem_invite, by_lead.code, 50)
    assert err.value.reason == "revoked"
    crew.write(set_role, LEAD, "lead", ADMIN)  # rights back: the invite lives again
    assert crew.write(redeem_invite, by_lead.code, 50).role == "trainer"

    by_lead = crew.write(create_invite, "operator", LEAD)
    crew.write(remove_person, LEAD, ADMIN)
    with pytest.raises(InviteError) as err:
        crew.write(redeem_invite, by_lead.code, 51)
    assert err.value.reason == "revoked"


def test_redeeming_never_lowers_but_raises(crew):
    code = crew.write(create_invite, "operator", SYSTEM).code
    assert crew.write(redeem_invite, code, ADMIN).role == "admin"
    code = crew.write(create_invite, "lead", SYSTEM).code
    assert crew.write(redeem_invite, code, OPERATOR).role == "lead"
    assert role_of(crew, OPERATOR) == "lead"


def test_failed_redemption_leaves_the_invite_unused(crew):
    code = crew.write(create_invite, "operator", ADMIN).code
    with pytest.raises(InvalidInput):  # the name is checked after the claim: rolled back
        crew.write(redeem_invite, code, 50, name=b"\xff")
    assert crew.write(redeem_invite, code, 50).role == "operator"


def test_concurrent_redemption_threads(crew):
    code = crew.write(create_invite, "trainer", ADMIN).code
    start = threading.Barrier(8)
    results = {}

    def redeem(user_id):
        start.wait()
        try:
            results[user_id] = crew.write(redeem_invite, code, user_id).role
        except InviteError as exc:
            results[user_id] = exc.reason

    threads = [threading.Thread(target=redeem, args=(100 + i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["trainer"] + ["used"] * 7
    assert len(crew.read(list_people)) == 5


async def test_concurrent_redemption_through_the_facade(crew):
    people = People(crew)
    code = (await people.create_invite("operator", ADMIN)).code
    results = await asyncio.gather(*(people.redeem(code, 100 + i, f"p{i}", "ko") for i in range(10)),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, pp.Person)]
    assert len(winners) == 1 and winners[0].lang == "ko"
    assert all(isinstance(r, InviteError) and r.reason == "used" for r in results if r not in winners)


# --------------------------------------------------------------------------
# Admins, groups, strangers


def test_ensure_admins_is_idempotent(empty_storage):
    add(empty_storage, 7, "trainer", name="Min", language_code="ko")
    people = empty_storage.write(ensure_admins, [5, 7])
    assert [(p.user_id, p.role) for p in people] == [(5, "admin"), (7, "admin")]
    assert people[0].last_seen is None and people[0].lang == "en"
    assert people[1].name == "Min"  # promoted, not recreated
    rows = len(audits(empty_storage, "person"))
    empty_storage.write(ensure_admins, [5, 7])
    assert len(audits(empty_storage, "person")) == rows
    with pytest.raises(InvalidInput):
        empty_storage.write(ensure_admins, [8, -3])
    assert not empty_storage.read(is_known, 8)  # all checked before any write


def test_strangers(crew):
    assert crew.read(get_person, STRANGER) is None and not crew.read(is_known, STRANGER)
    with pytest.raises(NotFound):
        crew.write(set_language, STRANGER, "zh")
    with pytest.raises(NotFound):
        crew.write(touch, STRANGER, "x")


@pytest.mark.parametrize("bad", [0, -5, 2**53, 2**63, True, "1", 1.0, None])
def test_hostile_user_ids(crew, bad):
    with pytest.raises(InvalidInput):
        crew.read(get_person, bad)
    with pytest.raises(InvalidInput):
        crew.write(set_role, bad, "operator", ADMIN)


def test_join_from_group(crew):
    assert crew.write(join_from_group, 60, GROUP, name="Ali") is None  # not registered
    assert not crew.read(is_known, 60)
    crew.write(register_group, GROUP, "Line 3", ["ms", "zh"], True, LEAD)
    person = crew.write(join_from_group, 60, GROUP, name="Ali", language_code="id")
    assert (person.role, person.lang, person.name) == ("operator", "ms", "Ali")
    assert crew.write(join_from_group, TRAINER, GROUP).role == "trainer"  # never lowered
    assert crew.write(join_from_group, ADMIN, GROUP).role == "admin"
    assert audits(crew, "person")[-1] == (
        "system", "create", "60", {"role": "operator", "via": f"group {GROUP}"})


# --------------------------------------------------------------------------
# Role management


def test_admin_manages_everyone(crew):
    assert crew.write(set_role, OPERATOR, "lead", ADMIN).role == "lead"
    assert crew.write(set_role, LEAD, "admin", ADMIN).role == "admin"
    assert crew.write(set_role, LEAD, "operator", ADMIN).role == "operator"
    assert crew.write(remove_person, TRAINER, ADMIN).name == "Trainer"
    with pytest.raises(NotFound):
        crew.write(remove_person, TRAINER, ADMIN)
    assert role_of(crew, TRAINER) is None


def test_last_admin_stays(crew):
    with pytest.raises(NotAllowed, match="last admin"):
        crew.write(set_role, ADMIN, "lead", ADMIN)
    with pytest.raises(NotAllowed, match="last admin"):
        crew.write(remove_person, ADMIN, SYSTEM)
    crew.write(set_role, LEAD, "admin", ADMIN)
    assert crew.write(set_role, ADMIN, "operator", ADMIN).role == "operator"  # one admin left
    with pytest.raises(NotAllowed, match="last admin"):
        crew.write(remove_person, LEAD, SYSTEM)
    assert role_of(crew, LEAD) == "admin"


def test_lead_limits(crew):
    assert crew.write(set_role, OPERATOR, "trainer", LEAD).role == "trainer"
    assert crew.write(set_role, OPERATOR, "operator", LEAD).role == "operator"
    for target, role in ((OPERATOR, "lead"), (OPERATOR, "admin"), (LEAD, "operator"),
                         (ADMIN, "operator"), (ADMIN, "admin")):
        with pytest.raises(NotAllowed):
            crew.write(set_role, target, role, LEAD)
    for target in (ADMIN, LEAD):
        with pytest.raises(NotAllowed):
            crew.write(remove_person, target, LEAD)
    assert crew.write(remove_person, OPERATOR, LEAD).role == "operator"
    assert (role_of(crew, ADMIN), role_of(crew, LEAD)) == ("admin", "lead")


@pytest.mark.parametrize("actor", [TRAINER, OPERATOR, STRANGER])
def test_others_manage_nobody(crew, actor):
    with pytest.raises(NotAllowed):
        crew.write(set_role, OPERATOR, "operator", actor)
    with pytest.raises(NotAllowed):
        crew.write(remove_person, OPERATOR, actor)
    with pytest.raises(NotAllowed):
        crew.write(set_role, actor if actor != STRANGER else OPERATOR, "admin", actor)


def test_set_role_errors(crew):
    with pytest.raises(NotFound):
        crew.write(set_role, STRANGER, "operator", ADMIN)
    with pytest.raises(InvalidInput):
        crew.write(set_role, OPERATOR, "Admin", ADMIN)


def test_list_people(crew):
    assert [p.role for p in crew.read(list_people)] == ["admin", "lead", "trainer", "operator"]
    assert crew.read(get_person, ADMIN).label == f"#{ADMIN}"  # made from SHOPBOT_ADMINS: no name


# --------------------------------------------------------------------------
# Languages and names


def test_languages(crew):
    person = crew.read(get_person, OPERATOR)
    assert (person.lang, person.target, person.chosen_target) == ("en", "en", None)
    person = crew.write(set_language, OPERATOR, "zh")
    assert (person.lang, person.target) == ("zh", "zh")  # the target follows
    person = crew.write(set_target, OPERATOR, "ko")
    person = crew.write(set_language, OPERATOR, "fr")
    assert (person.lang, person.target) == ("fr", "ko")  # a chosen target stays
    assert crew.write(set_target, OPERATOR, None).target == "fr"
    for bad in ("de", "ZH", "", None, ["zh"]):
        with pytest.raises(InvalidInput):
            crew.write(set_language, OPERATOR, bad)
    with pytest.raises(InvalidInput):
        crew.write(set_target, OPERATOR, "xx")


def test_touch(crew):
    person = crew.write(touch, OPERATOR, "<i>Op</i>\u200b " + "x" * 500, now=T0)
    assert person.last_seen == T0
    assert person.name.startswith("<i>Op</i> x") and len(person.name) == pp.MAX_NAME_CHARS
    crew.write(touch, OPERATOR, person.name, now=T0 + timedelta(hours=1))
    renames = [a for a in audits(crew, "person") if a[1] == "rename"]
    assert len(renames) == 1  # last_seen alone is not audited


# --------------------------------------------------------------------------
# Groups


def test_register_group(crew):
    group = crew.write(register_group, GROUP, "Coating \u202eline", ["zh", "ko", "en"], False, LEAD)
    assert (group.title, group.langs, group.auto_translate, group.registered_by) == \
        ("Coating line", ("zh", "ko", "en"), False, LEAD)
    group = crew.write(register_group, GROUP, "Coating", ["en"], True, ADMIN)  # an update
    assert (group.title, group.langs, group.auto_translate, group.registered_by) == \
        ("Coating", ("en",), True, LEAD)
    assert crew.write(set_auto_translate, GROUP, False, LEAD).auto_translate is False
    assert crew.write(unregister_group, GROUP, ADMIN) is True
    assert crew.read(get_group, GROUP) is None
    assert crew.write(unregister_group, GROUP, ADMIN) is False
    assert crew.read(lambda db: db.execute("SELECT count(*) FROM tg_group_lang").fetchone()[0]) == 0
    assert [a[1] for a in audits(crew, "tg_group")] == ["create", "update", "set", "delete"]
    assert {a[0] for a in audits(crew, "tg_group")} == {f"tg:{LEAD}", f"tg:{ADMIN}"}


@pytest.mark.parametrize("langs", [
    [], ["zh"] * 2, ["zh", "ko", "ms", "fr", "en", "zh"], ["de"], "zh", "zh,ko", None, ["ZH"], [None],
])
def test_group_languages_are_checked(crew, langs):
    with pytest.raises(InvalidInput):
        crew.write(register_group, GROUP, "x", langs, False, ADMIN)


@pytest.mark.parametrize("chat_id", [0, 5, ADMIN, -(2**53), 2**70, "-100", True, None])
def test_group_ids_are_checked(crew, chat_id):
    with pytest.raises(InvalidInput):
        crew.write(register_group, chat_id, "x", ["en"], False, ADMIN)


def test_group_permissions(crew):
    for actor in (TRAINER, OPERATOR, STRANGER):
        with pytest.raises(NotAllowed, match="lead or above"):
            crew.write(register_group, GROUP, "x", ["en"], False, actor)
    crew.write(register_group, GROUP, "x", ["en"], False, SYSTEM)
    with pytest.raises(NotAllowed):
        crew.write(set_auto_translate, GROUP, True, OPERATOR)
    with pytest.raises(NotAllowed):
        crew.write(unregister_group, GROUP, TRAINER)
    with pytest.raises(InvalidInput):
        crew.write(set_auto_translate, GROUP, "yes", LEAD)
    with pytest.raises(NotFound):
        crew.write(set_auto_translate, -42, True, LEAD)


# --------------------------------------------------------------------------
# Audit


def test_changes_are_audited(crew):
    code = crew.write(create_invite, "trainer", LEAD).code
    crew.write(redeem_invite, code, 70)
    crew.write(set_role, 70, "operator", ADMIN)
    crew.write(set_language, 70, "fr")
    crew.write(remove_person, 70, LEAD)
    invites = audits(crew, "invite")
    assert invites[-2][:2] == (f"tg:{LEAD}", "create") and invites[-2][3]["role"] == "trainer"
    assert invites[-1][:2] == ("tg:70", "redeem")
    person = [a for a in audits(crew, "person") if a[2] == "70"]
    assert [(a[0], a[1]) for a in person] == [
        ("tg:70", "create"), (f"tg:{ADMIN}", "role"), ("tg:70", "set"), (f"tg:{LEAD}", "delete")]
    assert person[1][3] == {"from": "trainer", "to": "operator"}
    startup = audits(crew, "person")[0]
    assert startup[:3] == ("system", "create", str(ADMIN))


# --------------------------------------------------------------------------
# The facade and its cache


class Counting:
    """Counts the reads and writes a People facade makes."""

    def __init__(self, storage):
        self.storage, self.reads, self.writes = storage, 0, 0

    async def aread(self, fn, *args):
        self.reads += 1
        return await self.storage.aread(fn, *args)

    async def awrite(self, fn, *args, **kwargs):
        self.writes += 1
        return await self.storage.awrite(fn, *args, **kwargs)


async def test_get_is_cached_and_writes_invalidate(crew):
    counting = Counting(crew)
    people = People(counting)
    for _ in range(300):
        assert (await people.get(OPERATOR)).role == "operator"
        assert await people.get(STRANGER) is None
        assert await people.is_known(TRAINER)
    assert counting.reads == 3
    await people.set_role(OPERATOR, "trainer", ADMIN)
    assert (await people.get(OPERATOR)).role == "trainer"
    await people.set_language(OPERATOR, "ko")
    assert (await people.get(OPERATOR)).lang == "ko"
    code = (await people.create_invite("lead", ADMIN)).code
    await people.redeem(code, STRANGER, "New")
    assert (await people.get(STRANGER)).role == "lead"
    await people.remove(STRANGER, ADMIN)
    assert await people.get(STRANGER) is None


async def test_failed_writes_invalidate_too(crew):
    people = People(crew)
    await people.get(OPERATOR)
    crew.write(set_role, OPERATOR, "trainer", ADMIN)  # behind the facade's back
    with pytest.raises(NotAllowed):
        await people.set_role(ADMIN, "operator", ADMIN)
    assert (await people.get(OPERATOR)).role == "trainer"


async def test_cache_expires(crew):
    now = [0.0]
    people = People(crew, cache_seconds=30, clock=lambda: now[0])
    await people.get(OPERATOR)
    crew.write(set_role, OPERATOR, "trainer", ADMIN)  # behind the facade's back
    assert (await people.get(OPERATOR)).role == "operator"
    now[0] = 31
    assert (await people.get(OPERATOR)).role == "trainer"


class SlowRead(Counting):
    """The first read's SELECT runs, then the read waits for ``release``
    before returning: a write meanwhile makes the row it read stale.
    ``read`` is set once the SELECT has run (an event, not a sleep)."""

    def __init__(self, storage):
        super().__init__(storage)
        self.read, self.release = asyncio.Event(), asyncio.Event()

    async def aread(self, fn, *args):
        result = await super().aread(fn, *args)
        if self.reads == 1:
            self.read.set()
            await self.release.wait()
        return result


async def test_a_read_racing_a_write_is_not_cached(crew):
    storage = SlowRead(crew)
    people = People(storage)
    slow = asyncio.create_task(people.get(OPERATOR))
    await asyncio.wait_for(storage.read.wait(), 30)
    await people.set_role(OPERATOR, "trainer", ADMIN)
    storage.release.set()
    assert (await slow).role == "operator"  # served once...
    assert (await people.get(OPERATOR)).role == "trainer"  # ...never cached


async def test_a_cancelled_write_is_done_and_then_invalidates(crew):
    class GatedWrite(Counting):
        gate = asyncio.Event()

        async def awrite(self, fn, *args, **kwargs):
            await self.gate.wait()
            return await super().awrite(fn, *args, **kwargs)

    storage = GatedWrite(crew)
    people = People(storage)
    task = asyncio.create_task(people.set_role(OPERATOR, "trainer", ADMIN))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await people.get(OPERATOR)).role == "operator"  # cached before the commit
    GatedWrite.gate.set()
    for _ in range(200):
        if storage.writes and role_of(crew, OPERATOR) == "trainer":
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)  # the done-callback runs on the loop
    assert (await people.get(OPERATOR)).role == "trainer"


async def test_groups_are_cached_too(crew):
    counting = Counting(crew)
    people = People(counting)
    for _ in range(100):
        assert await people.get_group(GROUP) is None
    assert counting.reads == 1
    await people.register_group(GROUP, "Line", ["ko"], False, LEAD)
    for _ in range(100):
        assert (await people.get_group(GROUP)).langs == ("ko",)
    assert counting.reads == 2


async def test_touch_is_throttled(crew):
    counting = Counting(crew)
    people = People(counting)
    assert await people.touch(STRANGER, "x") is None
    first = await people.touch(OPERATOR, "Op")
    assert first.last_seen is not None and counting.writes == 1
    for _ in range(50):  # seen just now, same name: no write
        assert await people.touch(OPERATOR, "Op") == first
    assert counting.writes == 1
    renamed = await people.touch(OPERATOR, "Op 2")
    assert renamed.name == "Op 2" and counting.writes == 2


async def test_facade_groups_and_joins(crew):
    people = People(crew)
    assert await people.join_from_group(80, GROUP, "A") is None
    await people.register_group(GROUP, "Line", ["zh", "en"], True, LEAD)
    assert [g.chat_id for g in await people.list_groups()] == [GROUP]
    assert await people.get(80) is None  # cached as a stranger...
    joined = await people.join_from_group(80, GROUP, "A", "zh-hans")
    assert (joined.role, joined.lang) == ("operator", "zh")
    assert (await people.get(80)).role == "operator"  # ...and no longer
    assert (await people.set_auto_translate(GROUP, False, ADMIN)).auto_translate is False
    assert await people.unregister_group(GROUP, ADMIN) is True
    assert await people.get_group(GROUP) is None
    admins = await people.ensure_admins([81])
    assert admins[0].role == "admin" and (await people.get(81)).role == "admin"
    assert len(await people.list()) == 6
    assert (await people.set_target(80, "ms")).target == "ms"
