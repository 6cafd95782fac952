"""The console's people rules (bot/people/manage.py) at the service level:
who may do what to whom, the kiosk, live sessions, ending them. The web
tests (tests/web/test_console_people.py) go through the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.people import directory as pp
from bot.people import manage
from bot.people import signin as si
from bot.people.directory import NotAllowed, NotFound
from tests.people.test_signin import (ADMIN, LEAD, OPERATOR, T0, audits, db_,  # noqa: F401 (db_: a fixture)
                                     signed_in)


@pytest.fixture
def crew(db_):
    """test_signin's admin, lead and operator from Telegram, and the kiosk."""
    db_.write(si.kiosk)
    return db_


def person(storage, user_id):
    return storage.read(si.person_by_id, user_id)


def kiosk_id(storage):
    return storage.read(si.kiosk).user_id


def test_who_may_give_which_roles():
    assert manage.grantable("admin") == pp.GRANTS["admin"]
    assert manage.grantable("lead") == ("operator", "trainer")
    assert manage.grantable("operator") == () and manage.grantable(None) == ()


def test_the_overview_counts_live_sessions_at_the_time_given(crew):
    """Sessions of 1 March are live an hour later, and long expired today:
    the count is read at the time the caller gives."""
    for _ in range(2):
        signed_in(crew, OPERATOR)
    signed_in(crew, LEAD)
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
    signed_in(crew, ADMIN)
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
        signed_in(crew, OPERATOR)
    lead = person(crew, LEAD)
    assert crew.write(manage.end_sessions, OPERATOR, lead) == 2
    assert crew.read(lambda db: si.list_sessions(db, OPERATOR, now=T0)) == []
    ended = [(f"web:{LEAD}", "end", f"person:{OPERATOR}", {"person": OPERATOR, "sessions": 2})]
    assert audits(crew, "web_session") == ended
    assert crew.write(manage.end_sessions, OPERATOR, lead) == 0  # none left: nothing audited
    assert audits(crew, "web_session") == ended


@pytest.mark.parametrize("base, host", [("http://plant.local:8080", "http://plant.local:8080"),
                                        ("http://plant.local:8080/", "http://plant.local:8080"),
                                        ("http://plant.local:8080//", "http://plant.local:8080"),
                                        ("http://KIOSK-BOX/", "http://KIOSK-BOX")])
def test_a_web_invite_link(crew, base, host):
    invite = crew.write(manage.create_invite, "operator", person(crew, LEAD))
    assert manage.web_invite_url(invite, base) == f"{host}/invite/{invite.code}"
