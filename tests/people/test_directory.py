"""bot/people/directory.py in detail: the messages people read (a
PeopleError's message is shown as is), what each change writes to the audit,
and the facade's shortcuts (no write when nothing needs one)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.people import directory as pp
from bot.people.directory import SYSTEM, InvalidInput, NotAllowed, NotFound, People
from tests.people.test_people import (ADMIN, GROUP, LEAD, OPERATOR, STRANGER, T0, TRAINER, Counting,  # noqa: F401
                                      SlowRead, audits, crew)


def message(exc_info) -> str:
    return str(exc_info.value)


def test_messages_of_refused_input(crew):
    with pytest.raises(ValueError) as err:
        pp.can("admin", "boss")
    assert message(err) == "unknown role 'boss'"
    with pytest.raises(InvalidInput) as err:
        crew.read(pp.get_group, 5)
    assert message(err) == "not a Telegram group id (those are negative): 5"
    cases = [
        ("zh", "a group's languages must be a list of language codes"),
        ([], "a group needs 1 to 5 languages, got 0"),
        (["zh", "ko", "ms", "fr", "en", "zh"], "a group needs 1 to 5 languages, got 6"),
        (["zh", "zh"], "a group's languages must not repeat"),
        (["de"], "unknown language 'de' (one of: zh, ko, ms, fr, en)"),
    ]
    for langs, text in cases:
        with pytest.raises(InvalidInput) as err:
            crew.write(pp.register_group, GROUP, "x", langs, False, ADMIN)
        assert message(err) == text
    with pytest.raises(InvalidInput) as err:
        crew.write(pp.register_group, GROUP, "x", ["en"], "yes", ADMIN)
    assert message(err) == "auto-translate must be true or false"
    with pytest.raises(InvalidInput) as err:
        crew.write(pp.set_auto_translate, GROUP, 1, ADMIN)
    assert message(err) == "auto-translate must be true or false"
    with pytest.raises(InvalidInput) as err:
        crew.write(pp.set_role, OPERATOR, "boss", ADMIN)
    assert message(err) == "unknown role 'boss' (one of: operator, trainer, lead, admin)"
    with pytest.raises(InvalidInput) as err:
        crew.write(pp.create_invite, "operator", ADMIN, 5)
    assert message(err) == "an invite lasts 60 s to 30 days, not 5"
    with pytest.raises(InvalidInput) as err:
        crew.read(pp.get_person, -3)
    assert message(err) == "not a person's id: -3"


def test_a_group_of_every_language(crew):
    group = crew.write(pp.register_group, GROUP, "All", ["en", "fr", "ms", "ko", "zh"], True, ADMIN)
    assert group.langs == ("en", "fr", "ms", "ko", "zh")
    assert group.created_at.tzinfo is not None


def test_messages_of_refused_actions(crew):
    crew.write(pp.register_group, GROUP, "x", ["en"], False, LEAD)
    with pytest.raises(NotAllowed) as err:
        crew.write(pp.unregister_group, GROUP, TRAINER)
    assert message(err) == "only a lead or above can unregister groups"
    with pytest.raises(NotAllowed) as err:
        crew.write(pp.set_auto_translate, GROUP, True, OPERATOR)
    assert message(err) == "only a lead or above can change group settings"
    with pytest.raises(NotAllowed) as err:
        crew.write(pp.register_group, GROUP, "x", ["en"], False, STRANGER)
    assert message(err) == "only a lead or above can register groups"
    with pytest.raises(NotFound) as err:
        crew.write(pp.set_auto_translate, -42, True, LEAD)
    assert message(err) == "group -42 is not registered"
    with pytest.raises(NotAllowed) as err:
        crew.write(pp.set_role, ADMIN, "lead", ADMIN)
    assert message(err) == "this is the last admin: make someone else admin first"
    with pytest.raises(NotAllowed) as err:
        crew.write(pp.set_role, OPERATOR, "lead", LEAD)
    assert message(err) == "a lead can only manage operators and trainers, not leads"
    with pytest.raises(NotAllowed) as err:
        crew.write(pp.remove_person, OPERATOR, TRAINER)
    assert message(err) == "only a lead or an admin can manage people"
    with pytest.raises(NotFound) as err:
        crew.write(pp.set_language, STRANGER, "zh")
    assert message(err) == f"user {STRANGER} is not known to the bot"


def test_group_changes_are_audited_with_their_detail(crew):
    crew.write(pp.register_group, GROUP, "Line", ["ko", "en"], True, LEAD)
    crew.write(pp.set_auto_translate, GROUP, False, ADMIN)
    crew.write(pp.unregister_group, GROUP, SYSTEM)
    assert audits(crew, "tg_group") == [
        (f"tg:{LEAD}", "create", str(GROUP), {"langs": ["ko", "en"], "auto_translate": True}),
        (f"tg:{ADMIN}", "set", str(GROUP), {"auto_translate": False}),
        ("system", "delete", str(GROUP), None),
    ]
    assert crew.write(pp.unregister_group, GROUP, SYSTEM) is False
    assert len(audits(crew, "tg_group")) == 3  # nothing gone: nothing audited


def test_own_settings_are_audited_with_their_detail(crew):
    crew.write(pp.set_language, OPERATOR, "zh")
    crew.write(pp.set_target, OPERATOR, "ko")
    crew.write(pp.set_target, OPERATOR, None)
    sets = [a for a in audits(crew, "person") if a[1] == "set"]
    assert sets == [(f"tg:{OPERATOR}", "set", str(OPERATOR), {"ui_lang": "zh"}),
                    (f"tg:{OPERATOR}", "set", str(OPERATOR), {"target_lang": "ko"}),
                    (f"tg:{OPERATOR}", "set", str(OPERATOR), {"target_lang": None})]


def test_a_rename_is_audited_with_both_names(crew):
    crew.write(pp.touch, OPERATOR, "Operator", now=T0)  # the same name: no audit
    assert [a for a in audits(crew, "person") if a[1] == "rename"] == []
    person = crew.write(pp.touch, OPERATOR, "Op\u200b 2", now=T0 + timedelta(minutes=1))
    assert (person.name, person.last_seen) == ("Op 2", T0 + timedelta(minutes=1))
    assert [a for a in audits(crew, "person") if a[1] == "rename"] == [
        (f"tg:{OPERATOR}", "rename", str(OPERATOR), {"from": "Operator", "to": "Op 2"})]


def test_joining_from_a_group_is_being_seen_now(crew):
    crew.write(pp.register_group, GROUP, "Line", ["en"], False, LEAD)
    person = crew.write(pp.join_from_group, 60, GROUP, name="Ali", now=T0)
    assert (person.created_at, person.last_seen) == (T0, T0)
    admins = crew.write(pp.ensure_admins, [61])
    assert admins[0].last_seen is None  # made from SHOPBOT_ADMINS: not seen


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="^now must be timezone-aware$"):
        pp._now(datetime(2025, 1, 1))
    assert pp._now(datetime(2025, 1, 1, 9, tzinfo=timezone(timedelta(hours=8)))) == \
        datetime(2025, 1, 1, 1, tzinfo=timezone.utc)


# -- the facade --------------------------------------------------------------------

async def test_facade_touch_of_someone_never_seen_writes(crew):
    crew.write(pp.ensure_admins, [70])  # last_seen is None
    counting = Counting(crew)
    people = People(counting)
    person = await people.touch(70, "")
    assert person.last_seen is not None and counting.writes == 1


async def test_facade_join_writes_only_for_a_stranger_in_a_registered_group(crew):
    counting = Counting(crew)
    people = People(counting)
    assert await people.join_from_group(80, GROUP, "A") is None  # not registered
    assert (await people.join_from_group(TRAINER, GROUP, "A")).role == "trainer"
    assert counting.writes == 0
    await people.register_group(GROUP, "Line 7", ["en"], False, LEAD)
    assert (await people.get_group(GROUP)).title == "Line 7"
    assert (await people.join_from_group(TRAINER, GROUP, "A")).role == "trainer"
    assert counting.writes == 1  # the registration only
    joined = await people.join_from_group(80, GROUP, "Ali", "ko")
    assert (joined.name, joined.lang, counting.writes) == ("Ali", "ko", 2)


async def test_facade_invites_keep_their_ttl_and_names(crew):
    people = People(crew)
    invite = await people.create_invite("operator", ADMIN, 3600)
    assert invite.expires_at - invite.created_at == timedelta(hours=1)
    person = await people.redeem(invite.code, 90, "Siti", "ms")
    assert (person.name, person.lang) == ("Siti", "ms")
    assert json.dumps(audits(crew, "invite")[-1][3]) == '{"role": "operator"}'


def test_a_group_title_keeps_128_characters(crew):
    group = crew.write(pp.register_group, GROUP, "T" * 100 + " " + "x" * 100, ["en"], False, LEAD)
    assert group.title == "T" * 100 + " " + "x" * 27 and len(group.title) == pp.MAX_TITLE_CHARS


def test_person_can():
    lead = pp.Person(7, "lead", "Li", "zh", None, T0, None)
    assert lead.can("lead") and lead.can("operator") and not lead.can("admin")
    with pytest.raises(ValueError):
        lead.can("boss")


def test_a_removal_is_audited_with_who_it_was(crew):
    crew.write(pp.remove_person, TRAINER, LEAD)
    assert audits(crew, "person")[-1] == (f"tg:{LEAD}", "delete", str(TRAINER), {"role": "trainer", "name": "Trainer"})


async def test_the_cache_expires_at_its_time_exactly(crew):
    now = [0.0]
    people = People(crew, cache_seconds=30, clock=lambda: now[0])
    await people.get(OPERATOR)
    crew.write(pp.set_role, OPERATOR, "trainer", ADMIN)  # behind the facade's back
    now[0] = 29.9
    assert (await people.get(OPERATOR)).role == "operator"
    now[0] = 30
    assert (await people.get(OPERATOR)).role == "trainer"


async def test_the_cache_is_bounded(crew, monkeypatch):
    monkeypatch.setattr(pp, "CACHE_MAX_ENTRIES", 2)
    counting = Counting(crew)
    people = People(counting)
    await people.get(ADMIN)
    await people.get(LEAD)
    await people.get(ADMIN)
    assert counting.reads == 2
    await people.get(TRAINER)  # full: everything cached goes, then the new entry
    await people.get(TRAINER)
    assert counting.reads == 3
    await people.get(ADMIN)
    assert counting.reads == 4


async def test_every_write_makes_a_racing_read_stale(crew):
    """Not only the first write: a read that began after one write and
    overlaps a second is not cached either."""
    import asyncio

    storage = SlowRead(crew)
    people = People(storage)
    await people.set_language(OPERATOR, "fr")  # a first write
    slow = asyncio.create_task(people.get(OPERATOR))
    # Wait for the SELECT itself, not merely the call: a write before it
    # would make it read "trainer" (seen once under load).
    await asyncio.wait_for(storage.read.wait(), 30)
    await people.set_role(OPERATOR, "trainer", ADMIN)  # a second one, before the read returns
    storage.release.set()
    assert (await slow).role == "operator"
    assert (await people.get(OPERATOR)).role == "trainer"


def test_clean_name_details():
    assert pp.clean_name("a" * 63 + " bc") == "a" * 63  # cut at 64, the trailing space goes
    with pytest.raises(InvalidInput) as err:
        pp.clean_name(b"x")
    assert message(err) == "a name must be text, not bytes"


def test_invite_lifetimes_at_their_bounds(crew):
    assert crew.write(pp.create_invite, "operator", ADMIN, pp.MIN_INVITE_TTL).role == "operator"
    assert crew.write(pp.create_invite, "operator", ADMIN, pp.MAX_INVITE_TTL).role == "operator"


def test_an_invite_is_audited_and_its_times_are_whole_seconds(crew):
    invite = crew.write(pp.create_invite, "trainer", LEAD, 3600, now=T0.replace(microsecond=5))
    assert (invite.created_at, invite.expires_at) == (T0, T0 + timedelta(hours=1))
    assert audits(crew, "invite")[-1] == (f"tg:{LEAD}", "create", str(invite.id),
                                          {"role": "trainer", "expires_at": "2025-03-01T09:00:00+00:00"})
    assert isinstance(invite.id, int)


def test_admissions_are_audited_with_where_from(crew):
    invite = crew.write(pp.create_invite, "operator", ADMIN)
    crew.write(pp.redeem_invite, invite.code, 50)
    assert audits(crew, "person")[-1] == ("tg:50", "create", "50", {"role": "operator", "via": f"invite {invite.id}"})
    assert audits(crew, "invite")[-1] == ("tg:50", "redeem", str(invite.id), {"role": "operator"})
    raise_it = crew.write(pp.create_invite, "lead", ADMIN)
    crew.write(pp.redeem_invite, raise_it.code, 50)
    assert audits(crew, "person")[-1] == (
        "tg:50", "role", "50", {"from": "operator", "to": "lead", "via": f"invite {raise_it.id}"})
    crew.write(pp.ensure_admins, [50, 51])
    assert audits(crew, "person")[-2:] == [
        ("system", "role", "50", {"from": "lead", "to": "admin", "via": "SHOPBOT_ADMINS"}),
        ("system", "create", "51", {"role": "admin", "via": "SHOPBOT_ADMINS"})]


@pytest.mark.parametrize("bad", [0, -1, pp.MAX_ID, True, "5", 5.0, None])
def test_a_telegram_user_id_out_of_range_or_not_a_number_is_refused(crew, bad):
    """SHOPBOT_ADMINS and group members come as Telegram user ids: positive
    integers under 2**53 (a bool is no id, though Python counts it as 1)."""
    before = crew.read(pp.list_people)
    with pytest.raises(InvalidInput) as err:
        crew.write(pp.ensure_admins, [STRANGER, bad])
    assert message(err) == f"not a Telegram user id: {bad!r}"
    assert crew.read(pp.list_people) == before  # all checked before anything is written


def test_the_largest_ids(crew):
    # A person of the web only has an id between 2**53 and 2**62 (both excluded).
    for bad in (pp.MAX_ID, pp.MAX_WEB_ID):
        with pytest.raises(InvalidInput) as err:
            crew.read(pp.get_person, bad)
        assert message(err) == f"not a person's id: {bad}"
    assert crew.read(pp.get_person, pp.MAX_WEB_ID - 1) is None


@pytest.mark.parametrize("code, lang", [("zh-Hant-TW", "zh"), ("ms_MY", "ms"), ("id", "ms"), ("fr-CA", "fr"),
                                        (" KO ", "ko"), ("de", "en"), ("", "en"), (None, "en")])
def test_telegram_language_codes(code, lang):
    assert pp.language_from_telegram(code) == lang


def test_a_name_is_cut_before_it_is_cleaned():
    """A hostile megabyte costs a bounded amount of work: only the first
    8 × limit characters are read, invisible ones included."""
    assert pp.clean_name("\u200b" * 80 + "Bob", limit=10) == ""
    assert pp.clean_name("\u200b" * 79 + "Bob", limit=10) == "B"


def test_times_are_stored_in_utc_whatever_the_machine_s_zone(crew, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        crew.write(pp.create_invite, "operator", ADMIN, now=T0)
        stored = crew.read(lambda db: db.execute(
            "SELECT created_at FROM invite ORDER BY id DESC LIMIT 1").fetchone()[0])
    finally:
        monkeypatch.undo()
        time.tzset()
    assert stored == T0.astimezone(timezone.utc).isoformat(timespec="seconds")
