"""Web sign-in (bot/people/signin.py): people without Telegram, one-time
links, sessions and the failure count, at the service level (the web tests
go through the pages). Every time is passed in (``now=``): no clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot.people import directory as pp
from bot.people import signin as si
from bot.storage import Storage
from bot.people.directory import SYSTEM, InvalidInput, InviteError, NotAllowed, NotFound

ADMIN, LEAD, OPERATOR = 1, 2, 4
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
ADDRESS = "192.0.2.7"


@pytest.fixture
def db_(empty_storage):
    """An admin (from SHOPBOT_ADMINS), a lead and an operator from Telegram."""
    empty_storage.write(pp.ensure_admins, [ADMIN])
    for user_id, role in ((LEAD, "lead"), (OPERATOR, "operator")):
        code = empty_storage.write(pp.create_invite, role, SYSTEM).code
        empty_storage.write(pp.redeem_invite, code, user_id, name=role.title())
    return empty_storage


def audits(storage, entity):
    return [(actor, action, eid, json.loads(detail) if detail else None)
            for actor, action, eid, detail in storage.read(lambda db: db.execute(
                "SELECT actor, action, entity_id, detail FROM audit WHERE entity = ? ORDER BY id",
                [entity]).fetchall())]


def rows(storage, sql, args=()):
    return storage.read(lambda db: db.execute(sql, list(args)).fetchall())


def read(storage, fn, *args, **kwargs):
    return fn(storage.conn(), *args, **kwargs)


def signed_in(storage, person_id, now=T0, address=ADDRESS):
    token = storage.write(si.create_link, person_id, now=now).token
    return storage.write(si.redeem_link, token, address, now=now)


# --------------------------------------------------------------------------
# Tokens, ids, links


@pytest.mark.parametrize("token, ok", [
    ("a" * 19, False), ("a" * 20, True), ("A-_9" * 16, True), ("a" * 65, False),
    ("é" * 30, False), ("a" * 29 + "+", False), ("a" * 29 + ".", False), ("a" * 29 + " ", False),
    (None, False), (b"a" * 30, False), (12345678901234567890123, False),
])
def test_token_shape(token, ok):
    assert si._token_ok(token) is ok


def test_link_url_and_json():
    person = pp.Person(7, "lead", "Li", "zh", None, T0, None)
    link = si.Link("tok", person, "person", T0 + si.LINK_TTL)
    assert link.url("https://shop.example/") == link.url("https://shop.example") == \
        "https://shop.example/signin/tok"
    assert link.to_json("https://shop.example") == {
        "url": "https://shop.example/signin/tok", "person_id": 7, "role": "lead", "kind": "person",
        "expires_at": "2026-03-01T08:10:00+00:00"}


def test_person_by_id_refuses_what_cannot_be_an_id(db_):
    assert read(db_, si.person_by_id, ADMIN).role == "admin"
    db_.write(lambda db: db.execute(
        "INSERT INTO person (user_id, role, ui_lang, created_at) VALUES (?, 'admin', 'en', 'x')", [2**62]))
    for bad in (2**62, 0, -1, True, "1", 1.0, None):
        assert read(db_, si.person_by_id, bad) is None
    assert read(db_, si.person_by_id, 2**62 - 1) is None  # in range, not known


def test_web_people_get_ids_above_telegram_and_a_kind(db_):
    first = db_.write(si.create_web_person, "trainer", name=" Ana\u200b  Lee ", lang="zh-TW", actor="cli:x")
    second = db_.write(si.create_web_person, "lead")
    assert (first.user_id, second.user_id) == (si.WEB_ID_BASE + 1, si.WEB_ID_BASE + 2)
    assert (first.role, first.name, first.lang, first.last_seen) == ("trainer", "Ana Lee", "zh", None)
    assert (second.name, second.lang) == ("", "en")
    assert first.created_at is not None
    assert read(db_, si.person_kind, first.user_id) == "person"
    assert read(db_, si.person_kind, OPERATOR) == "person"  # from Telegram: no web_person row
    assert rows(db_, "SELECT person_id, telegram_id FROM person_telegram ORDER BY person_id") == [
        (ADMIN, ADMIN), (LEAD, LEAD), (OPERATOR, OPERATOR), (first.user_id, None), (second.user_id, None)]
    assert audits(db_, "person")[-2] == ("cli:x", "create", str(first.user_id),
                                         {"role": "trainer", "via": "web", "kind": "person"})
    assert audits(db_, "person")[-1][0] == SYSTEM
    with pytest.raises(InvalidInput):
        db_.write(si.create_web_person, "boss")


def test_the_kiosk_is_made_once(db_):
    kiosk = db_.write(si.kiosk)
    assert (kiosk.role, kiosk.name) == ("operator", "Kiosk") and kiosk.user_id > si.WEB_ID_BASE
    assert read(db_, si.person_kind, kiosk.user_id) == si.KIOSK
    assert db_.write(si.kiosk) == kiosk
    assert rows(db_, "SELECT count(*) FROM web_person") == [(1,)]
    link = db_.write(si.create_link, kiosk.user_id, now=T0)
    assert link.kind == "kiosk"
    session, _ = db_.write(si.redeem_link, link.token, ADDRESS, now=T0)
    assert session.kind == "kiosk"


def test_first_admin_is_the_oldest_admin_or_a_new_one(tmp_path, db_):
    fresh = Storage(tmp_path / "fresh.db", seed=False)
    try:
        made = fresh.write(si.first_admin)
        assert (made.role, made.name, made.user_id) == ("admin", "Admin", si.WEB_ID_BASE + 1)
        assert fresh.write(si.first_admin) == made  # not a second one
    finally:
        fresh.close()
    # Two admins: the longest-standing one, then the lower id.
    db_.write(lambda db: db.execute("UPDATE person SET created_at = '2000-01-01T00:00:00+00:00' "
                                    "WHERE user_id = ?", [LEAD]))
    db_.write(pp.set_role, LEAD, "admin", ADMIN)
    assert db_.write(si.first_admin).user_id == LEAD
    db_.write(lambda db: db.execute("UPDATE person SET created_at = '2000-01-01T00:00:00+00:00'"))
    assert db_.write(si.first_admin).user_id == ADMIN


def test_set_web_language(db_):
    assert db_.write(si.set_web_language, OPERATOR, "ko").lang == "ko"
    assert db_.read(pp.get_person, OPERATOR).lang == "ko"
    with pytest.raises(InvalidInput):
        db_.write(si.set_web_language, OPERATOR, "de")
    assert db_.write(si.set_web_language, 12345, "fr") is None  # nobody


def test_create_link(db_):
    link = db_.write(si.create_link, LEAD, "cli:ana", now=T0 + timedelta(microseconds=999))
    assert link.expires_at == T0 + si.LINK_TTL  # microseconds dropped
    assert (link.person.user_id, link.kind) == (LEAD, "person")
    assert si._token_ok(link.token) and len(link.token) == 43
    (created_by, created_at, expires_at, used_at, token_hash), = rows(
        db_, "SELECT created_by, created_at, expires_at, used_at, token_hash FROM signin_link")
    assert (created_by, created_at, expires_at, used_at) == (
        "cli:ana", "2026-03-01T08:00:00+00:00", "2026-03-01T08:10:00+00:00", None)
    assert token_hash == si._hash(link.token) != link.token
    assert audits(db_, "signin_link") == [("cli:ana", "create", "1", {"person": LEAD})]
    with pytest.raises(NotFound):
        db_.write(si.create_link, 555)


def test_a_link_lasts_its_ttl_and_is_used_once(db_):
    token = db_.write(si.create_link, OPERATOR, now=T0).token
    last = T0 + si.LINK_TTL - timedelta(seconds=1)
    assert read(db_, si.check_link, token, now=last).user_id == OPERATOR
    assert read(db_, si.check_link, token, now=last).user_id == OPERATOR  # checking does not use it
    with pytest.raises(si.SignInError) as err:
        read(db_, si.check_link, token, now=T0 + si.LINK_TTL)
    assert err.value.reason == "expired" and str(err.value) == "expired"
    session, secret = db_.write(si.redeem_link, token, ADDRESS, now=last)
    assert session.person.user_id == OPERATOR
    for now in (last, T0):
        with pytest.raises(si.SignInError) as err:
            db_.write(si.redeem_link, token, ADDRESS, now=now)
        assert err.value.reason == "used"
    with pytest.raises(si.SignInError) as err:
        read(db_, si.check_link, token, now=T0)
    assert err.value.reason == "used"


@pytest.mark.parametrize("token", ["x" * 43, "", None, "<script>" * 6, "a" * 100])
def test_unknown_links(db_, token):
    with pytest.raises(si.SignInError) as err:
        db_.write(si.redeem_link, token, ADDRESS, now=T0)
    assert err.value.reason == "unknown"


def test_redeeming_a_link_records_where_from_and_opens_a_session(db_):
    token = db_.write(si.create_link, LEAD, now=T0).token
    address = "2001:db8::" + "f" * 100
    session, secret = db_.write(si.redeem_link, token, address, now=T0 + timedelta(minutes=1))
    assert rows(db_, "SELECT used_at, used_from FROM signin_link") == [
        ("2026-03-01T08:01:00+00:00", address[:64])]
    assert audits(db_, "signin_link")[-1] == (f"web:{LEAD}", "signin", "1", {"from": address[:64]})
    assert (session.person.user_id, session.kind, session.address) == (LEAD, "person", address[:64])
    assert session.created_at == session.last_seen == T0 + timedelta(minutes=1)
    assert si._token_ok(secret) and si._token_ok(session.csrf) and secret != session.csrf
    (token_hash, csrf, created_at, last_seen, stored_address), = rows(
        db_, "SELECT token_hash, csrf, created_at, last_seen, address FROM web_session")
    assert (token_hash, csrf, stored_address) == (si._hash(secret), session.csrf, address[:64])
    assert created_at == last_seen == "2026-03-01T08:01:00+00:00"
    assert read(db_, si.session_for, secret, now=T0 + timedelta(minutes=2)) == session


def test_a_link_for_a_removed_person_is_unknown(db_):
    token = db_.write(si.create_link, OPERATOR, now=T0).token
    db_.write(pp.remove_person, OPERATOR, ADMIN)  # the link goes with the person
    assert rows(db_, "SELECT count(*) FROM signin_link") == [(0,)]
    with pytest.raises(si.SignInError) as err:
        read(db_, si.check_link, token, now=T0)
    assert err.value.reason == "unknown"


def test_admin_ever_signed_in(db_):
    assert not read(db_, si.admin_ever_signed_in)
    signed_in(db_, LEAD)
    assert not read(db_, si.admin_ever_signed_in)
    db_.write(si.create_link, ADMIN, now=T0)  # made, not used
    assert not read(db_, si.admin_ever_signed_in)
    signed_in(db_, ADMIN)
    assert read(db_, si.admin_ever_signed_in)


# --------------------------------------------------------------------------
# Invites in a browser


def test_an_invite_redeemed_on_the_web(db_):
    code = db_.write(pp.create_invite, "trainer", LEAD, now=T0).code
    session, secret = db_.write(si.redeem_invite_on_web, code, ADDRESS, lang="ko-KR",
                                now=T0 + timedelta(minutes=5))
    person = session.person
    assert (person.role, person.lang, person.user_id) == ("trainer", "ko", si.WEB_ID_BASE + 1)
    assert session.kind == "person" and session.address == ADDRESS
    (invite_id, used_by, used_at), = rows(db_, "SELECT id, used_by, used_at FROM invite WHERE code_hash = ?",
                                          [pp._code_hash(code)])
    assert (used_by, used_at) == (person.user_id, "2026-03-01T08:05:00+00:00")
    assert audits(db_, "invite")[-1] == (f"web:{person.user_id}", "redeem", str(invite_id),
                                         {"role": "trainer", "via": "web"})
    assert audits(db_, "person")[-1] == ("web", "create", str(person.user_id),
                                         {"role": "trainer", "via": "web", "kind": "person"})
    assert read(db_, si.session_for, secret, now=T0 + timedelta(minutes=6)).person == person
    with pytest.raises(InviteError) as err:
        db_.write(si.redeem_invite_on_web, code, ADDRESS, now=T0 + timedelta(minutes=6))
    assert err.value.reason == "used"
    assert rows(db_, "SELECT count(*) FROM web_person") == [(1,)]


def test_an_expired_invite_on_the_web_makes_nobody(db_):
    code = db_.write(pp.create_invite, "operator", LEAD, 3600, now=T0).code
    with pytest.raises(InviteError) as err:
        db_.write(si.redeem_invite_on_web, code, ADDRESS, now=T0 + timedelta(hours=1))
    assert err.value.reason == "expired"
    assert rows(db_, "SELECT count(*) FROM web_person") == [(0,)]


def test_a_limited_address_redeems_nothing(db_):
    code = db_.write(pp.create_invite, "operator", LEAD, now=T0).code
    token = db_.write(si.create_link, LEAD, now=T0 + si.FAILURE_WINDOW - timedelta(minutes=1)).token
    for _ in range(si.MAX_FAILURES):
        db_.write(si.record_failure, ADDRESS, now=T0)
    for redeem, good in ((si.redeem_invite_on_web, code), (si.redeem_link, token)):
        with pytest.raises(si.SignInError) as err:
            db_.write(redeem, good, ADDRESS, now=T0 + timedelta(minutes=1))
        assert err.value.reason == "limited"
    # Another address is not limited; the same one is after the window.
    db_.write(si.redeem_invite_on_web, code, "198.51.100.1", now=T0 + timedelta(minutes=1))
    db_.write(si.redeem_link, token, ADDRESS, now=T0 + si.FAILURE_WINDOW)


# --------------------------------------------------------------------------
# Failures


def test_failures_are_counted_per_address_and_window(db_):
    long_address = "a" * 64
    for n in range(1, si.MAX_FAILURES):
        assert db_.write(si.record_failure, long_address + "tail", now=T0 + timedelta(seconds=n - 1)) == n
        assert not read(db_, si.limited, long_address, now=T0 + timedelta(seconds=n))
    assert db_.write(si.record_failure, long_address, now=T0 + timedelta(minutes=1)) == si.MAX_FAILURES
    assert read(db_, si.limited, long_address + "other tail", now=T0 + timedelta(minutes=1))
    assert read(db_, si.limited, long_address, now=T0 + si.FAILURE_WINDOW - timedelta(seconds=1))
    assert not read(db_, si.limited, long_address, now=T0 + si.FAILURE_WINDOW)
    assert not read(db_, si.limited, "elsewhere", now=T0)
    # The window starts again from the first failure after it.
    assert db_.write(si.record_failure, long_address, now=T0 + si.FAILURE_WINDOW) == 1
    assert db_.write(si.record_failure, long_address, now=T0 + si.FAILURE_WINDOW) == 2  # not the total
    assert rows(db_, "SELECT address, window_start, failures, total FROM signin_failure") == [
        (long_address, "2026-03-01T08:15:00+00:00", 2, si.MAX_FAILURES + 2)]
    assert db_.write(si.record_failure, "other", now=T0) == 1
    assert read(db_, si.failure_count) == si.MAX_FAILURES + 3


def test_failures_just_inside_the_window_still_count(db_):
    db_.write(si.record_failure, ADDRESS, now=T0)
    assert db_.write(si.record_failure, ADDRESS, now=T0 + si.FAILURE_WINDOW - timedelta(seconds=1)) == 2
    assert rows(db_, "SELECT window_start, failures, total FROM signin_failure") == [
        ("2026-03-01T08:00:00+00:00", 2, 2)]


def test_no_failures(db_):
    assert read(db_, si.failure_count) == 0
    assert read(db_, si.limited, ADDRESS) is False


# --------------------------------------------------------------------------
# Sessions


@pytest.mark.parametrize("secret", [None, "", "short", "x" * 43, "é" * 43, 42])
def test_no_session_for_a_bad_or_unknown_cookie(db_, secret):
    signed_in(db_, LEAD)
    assert read(db_, si.session_for, secret, now=T0) is None


def test_a_session_ends_after_its_idle_time(db_):
    session, secret = signed_in(db_, LEAD)
    assert read(db_, si.session_for, secret, now=T0 + si.SESSION_IDLE - timedelta(seconds=1)) == session
    assert read(db_, si.session_for, secret, now=T0 + si.SESSION_IDLE) is None
    later = T0 + timedelta(hours=11)
    db_.write(si.touch_session, session.id, now=later)
    assert read(db_, si.session_for, secret, now=T0 + si.SESSION_IDLE).last_seen == later
    assert rows(db_, "SELECT last_seen FROM web_session") == [("2026-03-01T19:00:00+00:00",)]


def test_needs_touch():
    person = pp.Person(7, "lead", "Li", "zh", None, T0, None)
    session = si.Session(1, person, "person", "c", T0, T0, "")
    assert not si.needs_touch(session, T0 + si.TOUCH_EVERY - timedelta(seconds=1))
    assert si.needs_touch(session, T0 + si.TOUCH_EVERY)
    old = si.Session(1, person, "person", "c", T0, datetime(2000, 1, 1, tzinfo=timezone.utc), "")
    assert si.needs_touch(old)  # without ``now``: the clock's now, long after 2000


def test_list_sessions_newest_first_and_live_only(db_):
    first, _ = signed_in(db_, LEAD, now=T0)
    second, _ = signed_in(db_, OPERATOR, now=T0 + timedelta(minutes=1))
    third, _ = signed_in(db_, LEAD, now=T0 + timedelta(minutes=1))  # same time: higher id first
    now = T0 + timedelta(hours=1)
    assert [s.id for s in read(db_, si.list_sessions, now=now)] == [third.id, second.id, first.id]
    assert [s.id for s in read(db_, si.list_sessions, LEAD, now=now)] == [third.id, first.id]
    assert read(db_, si.list_sessions, ADMIN, now=now) == []
    assert read(db_, si.list_sessions, LEAD, now=now)[0] == third
    # At exactly SESSION_IDLE after the first, the first is gone.
    assert [s.id for s in read(db_, si.list_sessions, now=T0 + si.SESSION_IDLE)] == [third.id, second.id]


def test_ending_sessions(db_):
    own, own_secret = signed_in(db_, OPERATOR)
    other, _ = signed_in(db_, LEAD)
    operator, lead, admin = (db_.read(pp.get_person, i) for i in (OPERATOR, LEAD, ADMIN))
    with pytest.raises(NotAllowed):
        db_.write(si.end_session, other.id, operator)
    assert db_.write(si.end_session, own.id, operator) is True
    assert read(db_, si.session_for, own_secret, now=T0) is None
    assert audits(db_, "web_session") == []  # one's own sign-out is not audited
    assert db_.write(si.end_session, own.id, operator) is False
    assert db_.write(si.end_session, 999, admin) is False
    assert db_.write(si.end_session, other.id, admin) is True
    assert audits(db_, "web_session") == [(f"web:{ADMIN}", "end", str(other.id), {"person": LEAD})]
    assert rows(db_, "SELECT count(*) FROM web_session") == [(0,)]
    third, _ = signed_in(db_, OPERATOR)
    with pytest.raises(NotAllowed):
        db_.write(si.end_session, third.id, lead)  # a lead is not an admin


def test_purge_expired(db_):
    old, _ = signed_in(db_, LEAD, now=T0)
    live, live_secret = signed_in(db_, OPERATOR, now=T0 + timedelta(hours=1))
    expired_link = db_.write(si.create_link, LEAD, now=T0).token  # expires 08:10
    recent_link = db_.write(si.create_link, LEAD, now=T0 + timedelta(hours=2)).token
    # 12 h after T0: the first session is exactly at its idle limit (kept),
    # the unused link expired less than a day ago (kept).
    assert db_.write(si.purge_expired, now=T0 + si.SESSION_IDLE) == 0
    now = T0 + si.LINK_TTL + timedelta(days=1, seconds=1)
    assert db_.write(si.purge_expired, now=now) == 3  # both sessions and the unused old link
    assert rows(db_, "SELECT count(*) FROM web_session") == [(0,)]
    assert len(rows(db_, "SELECT id FROM signin_link")) == 3  # two used, one recent
    with pytest.raises(si.SignInError) as err:
        read(db_, si.check_link, expired_link, now=now)
    assert err.value.reason == "unknown"
    with pytest.raises(si.SignInError) as err:
        read(db_, si.check_link, recent_link, now=now)
    assert err.value.reason == "expired"


def test_a_sign_in_sweeps_expired_sessions(db_):
    signed_in(db_, LEAD, now=T0)
    signed_in(db_, OPERATOR, now=T0 + si.SESSION_IDLE + timedelta(seconds=1))
    assert [r[0] for r in rows(db_, "SELECT person_id FROM web_session")] == [OPERATOR]


def test_messages(db_):
    with pytest.raises(InvalidInput) as err:
        db_.write(si.set_web_language, OPERATOR, "de")
    assert str(err.value) == "unknown language 'de'"
    other, _ = signed_in(db_, LEAD)
    with pytest.raises(NotAllowed) as err:
        db_.write(si.end_session, other.id, db_.read(pp.get_person, OPERATOR))
    assert str(err.value) == "only an admin can end another person's session"


def test_link_url_strips_slashes_only():
    person = pp.Person(7, "lead", "Li", "zh", None, T0, None)
    link = si.Link("tok", person, "person", T0)
    assert link.url("http://HOSTX//") == "http://HOSTX/signin/tok"


def test_secret_sizes(db_):
    session, secret = signed_in(db_, LEAD)
    assert len(secret) == 43 and len(session.csrf) == 32  # 32 and 24 random bytes, base64url
    with pytest.raises(InvalidInput) as err:
        db_.write(si.create_web_person, "boss")
    assert str(err.value) == "unknown role 'boss': one of operator, trainer, lead, admin"


def test_a_link_to_an_id_that_cannot_be_a_person_is_unknown(db_):
    """person_by_id refuses ids from 2**62 up: a link row naming one (made by
    hand: create_link cannot) is as good as none."""
    token = "t" * 43
    db_.write(lambda db: db.execute(
        "INSERT INTO person (user_id, role, ui_lang, created_at) VALUES (?, 'admin', 'en', 'x')", [2**62]))
    db_.write(lambda db: db.execute(
        "INSERT INTO signin_link (token_hash, person_id, created_by, created_at, expires_at) "
        "VALUES (?, ?, 'x', 'x', '2999-01-01T00:00:00+00:00')", [si._hash(token), 2**62]))
    with pytest.raises(si.SignInError) as err:
        read(db_, si.check_link, token, now=T0)
    assert err.value.reason == "unknown"


def test_times_are_stored_in_utc_whatever_the_local_zone(db_, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Kuala_Lumpur")
    time.tzset()
    try:
        assert si._iso(datetime(2026, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))) == \
            "2026-03-01T08:00:00+00:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_create_link_message(db_):
    with pytest.raises(NotFound) as err:
        db_.write(si.create_link, 555)
    assert str(err.value) == "person 555 is not known"
