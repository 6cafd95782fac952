"""The console's people rules (bot/people/manage.py) at the service level:
who may do what to whom, the kiosk, live sessions, ending them. The web
tests (tests/web/test_console_people.py) go through the pages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot.people import directory as pp
from bot.people import manage
from bot.people import signin as si
from bot.people.directory import SYSTEM, NotAllowed, NotFound

ADMIN, LEAD, OPERATOR = 1, 2, 4
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def crew(empty_storage):
    """An admin, a lead and an operator from Telegram, and the kiosk."""
    empty_storage.write(pp.ensure_admins, [ADMIN])
    for user_id, role in ((LEAD, "lead"), (OPERATOR, "operator")):
        code = empty_storage.write(pp.create_invite, role, SYSTEM).code
        empty_storage.write(pp.redeem_invite, code, user_id, name=role.title())
    empty_storage.write(si.kiosk)
    return empty_storage


def person(storage, user_id):
    return storage.read(si.person_by_id, user_id)


def kiosk_id(storage):
    return storage.read(si.kiosk).user_id


def sign_in(storage, person_id, now=T0):
    token = storage.write(si.create_link, person_id, now=now).token
    storage.write(si.redeem_link, token, "192.0.2.7", now=now)


def test_who_may_give_which_roles():
    assert manage.grantable("admin") == pp.GRANTS["admin"]
    assert manage.grantable("lead") == ("operator", "trainer")
    assert manage.grantable("operator") == () and manage.grantable(None) == ()


def test_the_overview_counts_live_sessions_at_the_time_given(crew):
    """Sessions of 1 March are live an hour later, and long expired today:
    the count is read at the time the caller gives."""
    for _ in range(2):
        sign_in(crew, OPERATOR)
    sign_in(crew, LEAD)
    lead = person(crew, LEAD)
    rows = {r.person.user_id: r for r in crew.read(lambda db: manage.overview(db, lead, now=T0 + timedelta(hours=1)))}
    assert {uid: (r.kind, r.sessions, r.roles, r.can_end) for uid, r in rows.items()} == {
        ADMIN: ("telegram", 0, (), False),
        LEAD: ("telegram", 1, (), False),
        OPERATOR: ("telegram", 2, ("operator", "trainer"), True),
        kiosk_id(crew): ("kiosk", 0, (), True),  # managed, but its role stays
    }
    today = crew.read(manage.overview, lead)
    assert [r.sessions for r in today] == [0] * 4


def test_the_kiosk_stays_an_operator(crew):
    admin, kiosk = person(crew, ADMIN), kiosk_id(crew)
    assert crew.write(manage.set_role, kiosk, "operator", admin).role == "operator"
    with pytest.raises(NotAllowed) as err:
        crew.write(manage.set_role, kiosk, "trainer", admin)
    assert str(err.value) == "the kiosk is a shared account: it stays an operator"
    assert person(crew, kiosk).role == "operator"


def test_ending_sessions_needs_the_right_to_manage_the_person(crew):
    sign_in(crew, ADMIN)
    lead = person(crew, LEAD)
    with pytest.raises(NotFound) as err:
        crew.write(manage.end_sessions, 999, lead)
    assert str(err.value) == "person 999 is not known"
    with pytest.raises(NotAllowed) as err:
        crew.write(manage.end_sessions, ADMIN, lead)
    assert str(err.value) == "leads cannot end the sessions of admins"
    assert len(crew.read(lambda db: si.list_sessions(db, ADMIN, now=T0))) == 1


def test_ended_sessions_are_counted_and_audited(crew):
    for _ in range(2):
        sign_in(crew, OPERATOR)
    lead = person(crew, LEAD)
    assert crew.write(manage.end_sessions, OPERATOR, lead) == 2
    assert crew.read(lambda db: si.list_sessions(db, OPERATOR, now=T0)) == []
    rows = crew.read(lambda db: db.execute(
        "SELECT actor, action, entity, entity_id, detail FROM audit WHERE action = 'end'").fetchall())
    assert [(*r[:4], json.loads(r[4])) for r in rows] == [
        (f"web:{LEAD}", "end", "web_session", f"person:{OPERATOR}", {"person": OPERATOR, "sessions": 2})]
    assert crew.write(manage.end_sessions, OPERATOR, lead) == 0  # none left: nothing audited
    assert crew.read(lambda db: db.execute("SELECT count(*) FROM audit WHERE action = 'end'").fetchone()[0]) == 1


@pytest.mark.parametrize("base, host", [("http://plant.local:8080", "http://plant.local:8080"),
                                        ("http://plant.local:8080/", "http://plant.local:8080"),
                                        ("http://plant.local:8080//", "http://plant.local:8080"),
                                        ("http://KIOSK-BOX/", "http://KIOSK-BOX")])
def test_a_web_invite_link(crew, base, host):
    invite = crew.write(manage.create_invite, "operator", person(crew, LEAD))
    assert manage.web_invite_url(invite, base) == f"{host}/invite/{invite.code}"
