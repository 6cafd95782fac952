"""The console's people page (/people): route tests per role, with the bot's
own rules (who grants what, the last admin, invites) and hostile forms."""

from __future__ import annotations

import re

import pytest

from bot.people import directory, signin
from bot.people.directory import redeem_invite

from .conftest import ADMIN, LEAD, OPERATOR, csrf_of

TRAINER = 1004
POSTS = ["/people/role", "/people/sessions", "/people/invite"]


def add(web, user_id: int, role: str, name: str = "") -> None:
    web.app.storage.write(lambda d: directory._admit(d, user_id, role, now=directory._now(None), seen=True,
                                                     actor="system", via="tests", name=name))


def role_of(web, user_id: int) -> str | None:
    person = web.app.storage.read(signin.person_by_id, user_id)
    return person.role if person else None


def state(web) -> tuple:
    """Everything a people action could change."""
    return web.app.storage.read(lambda db: (
        db.execute("SELECT user_id, role FROM person ORDER BY user_id").fetchall(),
        db.execute("SELECT count(*) FROM invite").fetchone()[0],
        db.execute("SELECT count(*) FROM web_session").fetchone()[0],
        db.execute("SELECT max(id) FROM audit").fetchone()[0]))


async def post(web, path: str, client=None, **data):
    client = client or web.client
    data.setdefault("csrf", await web.csrf(client))
    return await client.post(path, data=data, allow_redirects=False)


async def test_a_stranger_gets_the_sign_in_page(web):
    assert (await web.client.get("/people")).status == 401
    for path in POSTS:
        r = await web.client.post(path, data={"csrf": "x", "person_id": str(OPERATOR), "role": "admin"},
                                  allow_redirects=False)
        assert r.status in (401, 403)


@pytest.mark.parametrize("who", [OPERATOR, TRAINER])
async def test_operators_and_trainers_cannot_open_or_post(web, who):
    add(web, TRAINER, "trainer", "Tao")
    await web.sign_in(who)
    page = await web.client.get("/people")
    assert page.status == 403
    assert 'href="/people"' not in await (await web.client.get("/ask")).text()  # no nav link either
    before = state(web)
    csrf = await web.csrf()
    for path, data in [("/people/role", {"person_id": str(who), "role": "admin"}),
                       ("/people/role", {"person_id": str(OPERATOR), "role": "lead"}),
                       ("/people/sessions", {"person_id": str(ADMIN)}),
                       ("/people/invite", {"role": "admin"})]:
        r = await web.client.post(path, data={**data, "csrf": csrf}, allow_redirects=False)
        assert r.status == 403, path
    assert state(web) == before


async def test_a_lead_sees_everyone_and_manages_operators_and_trainers_only(web):
    add(web, TRAINER, "trainer", "Tao")
    await web.sign_in(LEAD)
    html = await (await web.client.get("/people")).text()
    for name in ("Olivier", "Lina", "Tao", f"#{ADMIN}"):
        assert name in html
    # role forms for the operator and the trainer, none for the admin or the lead
    assert f'id="role-{OPERATOR}"' in html and f'id="role-{TRAINER}"' in html
    assert f'id="role-{ADMIN}"' not in html and f'id="role-{LEAD}"' not in html
    options = re.search(rf'id="role-{OPERATOR}" name="role">(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'value="(\w+)"', options) == ["operator", "trainer"]
    # the invite form offers what a lead may grant
    invite = re.search(r'id="invite-role" name="role">(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'value="(\w+)"', invite) == ["operator", "trainer"]

    r = await post(web, "/people/role", person_id=str(OPERATOR), role="trainer")
    assert r.status == 303 and r.headers["Location"] == "/people?done=role"
    assert role_of(web, OPERATOR) == "trainer"
    assert "The role was changed." in await (await web.client.get("/people?done=role")).text()
    audit = web.app.storage.read(lambda db: db.execute(
        "SELECT actor, detail FROM audit WHERE entity = 'person' AND entity_id = ? ORDER BY id DESC",
        [str(OPERATOR)]).fetchone())
    assert audit[0] == f"tg:{LEAD}" and '"to": "trainer"' in audit[1]

    before = state(web)
    for data in ({"person_id": str(OPERATOR), "role": "lead"},    # above what a lead grants
                 {"person_id": str(ADMIN), "role": "operator"},   # an admin: hands off
                 {"person_id": str(LEAD), "role": "admin"},       # themself upwards
                 {"person_id": str(TRAINER), "role": "admin"}):
        r = await post(web, "/people/role", **data)
        assert r.status == 403, data
        assert "Your role cannot do this for this person." in await r.text()
    assert state(web) == before


async def test_the_last_admin_stays(web):
    await web.sign_in(ADMIN)
    r = await post(web, "/people/role", person_id=str(ADMIN), role="lead")
    assert r.status == 409 and "last admin" in await r.text()
    assert role_of(web, ADMIN) == "admin"
    # with a second admin, the first may step down (as /demote allows)
    r = await post(web, "/people/role", person_id=str(LEAD), role="admin")
    assert r.status == 303 and role_of(web, LEAD) == "admin"
    r = await post(web, "/people/role", person_id=str(ADMIN), role="lead")
    assert r.status == 303 and role_of(web, ADMIN) == "lead"
    assert (await web.client.get("/people")).status == 200  # a lead still


@pytest.mark.parametrize("person_id", ["", "abc", "-1", "0", "１２", "٣", "99999999999999999999", "1e3",
                                       "1002 ", "<script>", "1002\u200b"])
async def test_forged_ids_are_refused(web, person_id):
    await web.sign_in(ADMIN)
    before = state(web)
    r = await post(web, "/people/role", person_id=person_id, role="trainer")
    if person_id == "1002 ":  # spaces around a number are forgiven: the operator, as asked
        assert r.status == 303
        return
    assert r.status in (400, 404), person_id
    r = await post(web, "/people/sessions", person_id=person_id)
    assert r.status in (400, 404), person_id
    assert state(web) == before


@pytest.mark.parametrize("role", ["", "superuser", "ADMIN", "admin\u200b", "<b>lead</b>", "operator" * 1000])
async def test_forged_roles_are_refused(web, role):
    await web.sign_in(ADMIN)
    before = state(web)
    r = await post(web, "/people/role", person_id=str(OPERATOR), role=role)
    assert r.status == 400
    r = await post(web, "/people/invite", role=role)
    assert r.status == 400
    assert state(web) == before


async def test_unknown_person_and_missing_or_wrong_csrf(web):
    await web.sign_in(ADMIN)
    r = await post(web, "/people/role", person_id="424242", role="trainer")
    assert r.status == 404 and "not known" in await r.text()
    before = state(web)
    for path in POSTS:
        data = {"person_id": str(OPERATOR), "role": "trainer"}
        assert (await web.client.post(path, data=data, allow_redirects=False)).status == 403
        assert (await web.client.post(path, data={**data, "csrf": "forged"}, allow_redirects=False)).status == 403
    assert state(web) == before


async def test_people_of_the_web_only_are_managed_and_manage(web):
    """Web-only people (ids above 2**53) are promoted and demoted with the
    bot's rules, and a web-only admin acts with them too."""
    desk = web.app.storage.write(signin.create_web_person, "operator", name="Desk")
    boss = web.app.storage.write(signin.create_web_person, "admin", name="Boss")
    await web.sign_in(boss.user_id)
    r = await post(web, "/people/role", person_id=str(desk.user_id), role="lead")
    assert r.status == 303 and role_of(web, desk.user_id) == "lead"
    actor = web.app.storage.read(lambda db: db.execute(
        "SELECT actor FROM audit WHERE entity = 'person' AND entity_id = ? ORDER BY id DESC",
        [str(desk.user_id)]).fetchone()[0])
    assert actor == f"web:{boss.user_id}"
    # an invite a web-only admin made works in the bot (its creator's right is checked on redeem)
    html = await (await post(web, "/people/invite", role="trainer")).text()
    code = re.search(r"/start ([A-Za-z0-9_-]{16})", html).group(1)
    person = web.app.storage.write(redeem_invite, code, 5555, name="New")
    assert person.role == "trainer"


async def test_the_kiosk_stays_an_operator(web):
    kiosk = web.app.storage.write(lambda db: signin.kiosk(db))
    await web.sign_in(ADMIN)
    html = await (await web.client.get("/people")).text()
    assert f'id="role-{kiosk.user_id}"' not in html and "Kiosk" in html
    r = await post(web, "/people/role", person_id=str(kiosk.user_id), role="admin")
    assert r.status == 403
    assert role_of(web, kiosk.user_id) == "operator"


async def test_ending_a_persons_sessions(web):
    await web.sign_in(LEAD)
    async with web.session() as operator_browser, web.session() as admin_browser:
        await web.sign_in(OPERATOR, client=operator_browser)
        await web.sign_in(ADMIN, client=admin_browser)
        assert (await operator_browser.get("/ask")).status == 200
        html = await (await web.client.get("/people")).text()
        assert re.search(rf'name="person_id" value="{OPERATOR}">\s*<button type="submit">End their sessions', html)
        r = await post(web, "/people/sessions", person_id=str(OPERATOR))
        assert r.status == 303 and r.headers["Location"] == "/people?done=sessions"
        assert (await operator_browser.get("/ask")).status == 401  # signed out
        # a lead cannot end an admin's sessions
        r = await post(web, "/people/sessions", person_id=str(ADMIN))
        assert r.status == 403
        assert (await admin_browser.get("/ask")).status == 200
        # a lead's own role is not one a lead manages: their own sessions end on /sessions
        assert (await post(web, "/people/sessions", person_id=str(LEAD))).status == 403
        # an admin ending their own: this browser is signed out too
        r = await post(web, "/people/sessions", client=admin_browser, person_id=str(ADMIN))
        assert r.status == 303 and r.headers["Location"] == "/signin"
        assert (await admin_browser.get("/people")).status == 401


async def test_an_invite_shows_the_bots_deep_link_and_the_web_link(web):
    web.status.bot_username = "shopbot_plant_bot"
    await web.sign_in(LEAD)
    r = await post(web, "/people/invite", role="trainer")
    assert r.status == 200
    html = await r.text()
    code = re.search(r"/start ([A-Za-z0-9_-]{16})</code>", html).group(1)
    deep = re.search(r'<a href="(https://t\.me/[^"]+)"', html).group(1)
    invite = directory.Invite(0, code, "trainer", LEAD, None, None)
    assert deep == invite.link("shopbot_plant_bot") == f"https://t.me/shopbot_plant_bot?start={code}"
    assert html.count("<svg") == 2  # two QR codes, inline
    web_url = re.search(r'<a href="(http://[^"]+/invite/[^"]+)"', html).group(1)
    assert web_url.endswith(f"/invite/{code}")
    # the invite is real: the bot's /start takes the code (once)
    person = web.app.storage.write(redeem_invite, code, 7777, name="Tia")
    assert person.role == "trainer"
    audit = web.app.storage.read(lambda db: db.execute(
        "SELECT actor, detail FROM audit WHERE entity = 'invite' AND action = 'create' ORDER BY id DESC"
    ).fetchone())
    assert audit[0] == f"tg:{LEAD}" and code not in audit[1]  # never the code in the audit


async def test_a_lead_cannot_invite_a_lead_and_no_bot_means_no_deep_link(web):
    await web.sign_in(LEAD)
    before = state(web)
    for role in ("lead", "admin"):
        r = await post(web, "/people/invite", role=role)
        assert r.status == 403
    assert state(web) == before
    html = await (await post(web, "/people/invite", role="operator")).text()
    assert "t.me/" not in html and "The bot is not running" in html and html.count("<svg") == 1


async def test_the_web_app_alone_uses_the_name_the_bot_last_started_with(web):
    """`shopbot web`, or the web app's own process: no bot in this process,
    the @name its last start wrote down makes the deep link."""
    from bot.storage import set_bot_username

    web.app.storage.write(set_bot_username, "plant_line3_bot")
    await web.sign_in(LEAD)
    html = await (await post(web, "/people/invite", role="operator")).text()
    assert "https://t.me/plant_line3_bot?start=" in html and html.count("<svg") == 2


async def test_hostile_names_and_group_titles_are_escaped(web):
    evil = '<script>alert(1)</script>\u200b\u202e<img src=x onerror=alert(2)>'
    add(web, 4242, "operator", evil)
    web.app.storage.write(directory.register_group, -100777, '<b onmouseover="x()">Line 3</b>', ["fr", "zh"],
                          True, directory.SYSTEM)
    await web.sign_in(ADMIN)
    html = await (await web.client.get("/people")).text()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\u200b" not in html and "\u202e" not in html  # clean_name dropped them when stored
    assert "&lt;b onmouseover=&#34;x()&#34;&gt;Line 3&lt;/b&gt;" in html and "-100777" in html
    assert "Français, 中文" in html


async def test_every_people_page_is_translated(web):
    await web.sign_in(LEAD)
    csrf = await web.csrf()
    await web.client.post("/lang", data={"lang": "ko", "csrf": csrf, "next": "/people"})
    html = await (await web.client.get("/people")).text()
    assert '<html lang="ko">' in html and "Invite someone" not in html and "Everyone" not in html
    assert csrf_of(html)


async def test_the_web_invite_link_is_the_one_the_running_bots_invite_gives(tmp_path, seeded_template):
    """The real bot (polling the fake Bot API server) fills in its username
    when it starts; the console's deep link then has exactly the form of the
    link the bot's own /invite sends."""
    import asyncio
    import os
    import shutil
    import signal

    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import App
    from bot.config import Settings
    from bot.telegram.wiring import run
    from bot.web import server, site
    from tests.fake_telegram import FakeTelegram

    from .conftest import Web

    db = tmp_path / "run.db"
    shutil.copy(seeded_template, db)
    async with FakeTelegram() as tg:
        app = App(Settings(db=db, models_dir=tmp_path / "models"))
        status = server.Status()
        client = TestClient(TestServer(site.build(app, status)))
        await client.start_server()
        task = asyncio.create_task(run(app, tg.token, tg.url, [ADMIN], status=status))
        try:
            tg.message(ADMIN, ADMIN, "/invite trainer")
            await tg.wait_for("sendMessage", timeout=30)
            bot_link = re.search(r"https://t\.me/\S+\?start=([A-Za-z0-9_-]+)", tg.sent(ADMIN)[-1]["text"])
            assert status.bot_username == "shopbot_test_bot"
            web = Web(app, client, status)
            await web.sign_in(ADMIN)
            html = await (await post(web, "/people/invite", role="trainer")).text()
            code = re.search(r"/start ([A-Za-z0-9_-]{16})</code>", html).group(1)
            assert re.search(r'<a href="(https://t\.me/[^"]+)"', html).group(1) == \
                bot_link.group(0).replace(bot_link.group(1), code)
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(task, timeout=15)
        finally:
            await client.close()
            app.close()


async def test_huge_and_badly_encoded_forms_change_nothing(web):
    await web.sign_in(ADMIN)
    csrf = await web.csrf()
    before = state(web)
    r = await web.client.post("/people/role", data={"csrf": csrf, "person_id": str(OPERATOR),
                                                     "role": "x" * 100_000}, allow_redirects=False)
    assert r.status == 413
    for body in (f"csrf={csrf}&person_id={OPERATOR}&role=tr%FFiner".encode(),
                 f"csrf={csrf}&person_id={OPERATOR}&role=".encode() + b"\xff\xfe\x00"):
        r = await web.client.post("/people/role", data=body, allow_redirects=False,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status in (400, 403), await r.text()
    assert state(web) == before
