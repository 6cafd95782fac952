"""Route tests of the web app (aiohttp's test client, a real seeded database)."""

from __future__ import annotations

import re

import pytest

from bot.people import signin

from .conftest import ADMIN, LEAD, OPERATOR, csrf_of

PAGES = ["/ask", "/ask?q=%E6%B6%82%E5%B8%83", "/fix/1", "/fix/1/photo/0", "/sessions", "/talk"]
POSTS = ["/signout", "/sessions/end", "/talk", "/talk/keep"]


async def test_health_without_sign_in(web):
    r = await web.client.get("/healthz")
    assert r.status == 200
    body = await r.json()
    assert body["storage"] == "writable" and body["glossary"]["concepts"] > 400
    assert body["telegram"] == "off" and body["models"] == [] and body["ready"] is True
    web.status.telegram = "failed"
    assert (await web.client.get("/healthz")).status == 503


@pytest.mark.parametrize("path", PAGES)
async def test_a_stranger_sees_the_sign_in_page_only(web, path):
    r = await web.client.get(path)
    assert r.status == 401
    text = await r.text()
    assert "one-time link" in text
    assert "涂布" not in text and "Glossary" not in text


@pytest.mark.parametrize("path", POSTS)
async def test_a_stranger_cannot_post(web, path):
    r = await web.client.post(path, data={"csrf": "x", "text": "hello"}, allow_redirects=False)
    assert r.status in (401, 403)


async def test_sign_in_by_link_then_ask_a_word(web):
    r = await web.sign_in(OPERATOR)
    cookie = r.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith(server_cookie()))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    assert "Secure" not in session_cookie  # plain http on loopback
    page = await web.client.get("/ask", params={"q": "涂布"})
    assert page.status == 200
    html = await page.text()
    for word in ("涂布", "코팅", "salutan", "enduction", "coating"):
        assert word in html
    assert "substring" in html or "exact" in html  # the match reason


def server_cookie() -> str:
    from bot.web.server import COOKIE

    return COOKIE + "="


async def test_a_link_works_once(web):
    token = web.link(OPERATOR)
    await web.sign_in(token=token)
    async with web.session() as other:
        r = await other.get(f"/signin/{token}")
        assert r.status == 410
        assert "already been used" in await r.text()
        assert "/ask" not in str(r.url)


async def test_an_expired_link_is_refused(web):
    from datetime import datetime, timedelta, timezone

    old = datetime.now(timezone.utc) - timedelta(minutes=11)
    token = web.app.storage.write(signin.create_link, OPERATOR, now=old).token
    r = await web.client.get(f"/signin/{token}")
    assert r.status == 410 and "expired" in await r.text()


async def test_forged_links_are_counted_and_rate_limited(web):
    for i in range(signin.MAX_FAILURES):
        r = await web.client.get(f"/signin/{'A' * 43}{i}")
        assert r.status == 404
    good = web.link(OPERATOR)
    r = await web.client.get(f"/signin/{good}")
    assert r.status == 429  # even a good link, from this address, for now
    assert web.app.storage.read(signin.failure_count) == signin.MAX_FAILURES


async def test_sign_in_post_needs_the_form_token(web):
    token = web.link(OPERATOR)
    r = await web.client.post(f"/signin/{token}", data={"csrf": "forged"}, allow_redirects=False)
    assert r.status == 403
    # the link is still unused: the right form signs in
    await web.sign_in(token=token)


async def test_every_form_needs_the_session_csrf(web):
    await web.sign_in(OPERATOR)
    for path in ("/lang", "/signout", "/sessions/end"):
        r = await web.client.post(path, data={"lang": "ko", "session_id": "1"}, allow_redirects=False)
        assert r.status == 403, path
        r = await web.client.post(path, data={"lang": "ko", "session_id": "1", "csrf": "wrong"},
                                  allow_redirects=False)
        assert r.status == 403, path
    assert (await web.client.get("/ask")).status == 200  # still signed in


async def test_language_switch_and_sign_out(web):
    await web.sign_in(OPERATOR)
    csrf = await web.csrf()
    r = await web.client.post("/lang", data={"lang": "ko", "csrf": csrf, "next": "/ask?q=x"},
                              allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/ask?q=x"
    page = await (await web.client.get("/ask")).text()
    assert '<html lang="ko">' in page and "검색" in page
    r = await web.client.post("/lang", data={"lang": "fr", "csrf": csrf, "next": "https://evil.example/"},
                              allow_redirects=False)
    assert r.headers["Location"] == "/ask"
    r = await web.client.post("/signout", data={"csrf": csrf}, allow_redirects=False)
    assert r.status == 303
    assert (await web.client.get("/ask")).status == 401
    assert web.app.storage.read(signin.list_sessions) == []


async def test_admin_ends_anyone_else_cannot(web):
    await web.sign_in(OPERATOR)
    async with web.session() as admin:
        token = web.link(ADMIN)
        page = await admin.get(f"/signin/{token}")
        await admin.post(f"/signin/{token}", data={"csrf": csrf_of(await page.text())})
        sessions = web.app.storage.read(signin.list_sessions)
        operator_session = next(s for s in sessions if s.person.user_id == OPERATOR)
        admin_session = next(s for s in sessions if s.person.user_id == ADMIN)
        # the operator cannot end the admin's session, nor see it
        html = await (await web.client.get("/sessions")).text()
        assert f'value="{admin_session.id}"' not in html
        csrf = await web.csrf()
        r = await web.client.post("/sessions/end", data={"csrf": csrf, "session_id": str(admin_session.id)})
        assert r.status == 403
        # the admin sees both and ends the operator's
        html = await (await admin.get("/sessions")).text()
        assert "Olivier" in html
        r = await admin.post("/sessions/end", data={"csrf": csrf_of(html), "session_id": str(operator_session.id)})
        assert r.status == 200
    assert (await web.client.get("/ask")).status == 401


async def test_kiosk_shows_no_personal_data(web):
    await web.sign_in(token=web.kiosk_link())
    html = await (await web.client.get("/ask")).text()
    assert "Kiosk" in html and "/sessions" not in html
    assert "#" + str(signin.WEB_ID_BASE) not in html


async def test_idle_sessions_expire(web):
    from datetime import datetime, timedelta, timezone

    await web.sign_in(OPERATOR)
    old = datetime.now(timezone.utc) - timedelta(hours=13)
    web.app.storage.write(lambda db: db.execute("UPDATE web_session SET last_seen = ?", [old.isoformat()]))
    assert (await web.client.get("/ask")).status == 401
    count = lambda db: db.execute("SELECT count(*) FROM web_session").fetchone()[0]  # noqa: E731
    assert web.app.storage.read(count) == 1
    async with web.session() as other:  # the next sign-in sweeps the expired one away
        await web.sign_in(OPERATOR, client=other)
    assert web.app.storage.read(count) == 1


async def test_web_invite_makes_a_person_without_telegram(web):
    from bot.people import directory

    invite = web.app.storage.write(directory.create_invite, "trainer", ADMIN)
    page = await web.client.get(f"/invite/{invite.code}")
    r = await web.client.post(f"/invite/{invite.code}", data={"csrf": csrf_of(await page.text())},
                              allow_redirects=False)
    assert r.status == 303
    person = web.app.storage.read(signin.list_sessions)[0].person
    assert person.role == "trainer" and person.user_id > signin.WEB_ID_BASE
    assert web.app.storage.read(lambda db: db.execute(
        "SELECT telegram_id FROM person_telegram WHERE person_id = ?", [person.user_id]).fetchone()[0]) is None
    async with web.session() as other:
        page = await other.get(f"/invite/{invite.code}")
        r = await other.post(f"/invite/{invite.code}", data={"csrf": csrf_of(await page.text())})
        assert r.status == 410


# -- the ask page ---------------------------------------------------------------

async def test_alarm_code_gives_fixes_and_a_fix_steps_through(web):
    await web.sign_in(OPERATOR)
    code = web.app.storage.read(lambda db: db.execute(
        "SELECT codes FROM fix WHERE status = 'approved' AND codes != '[]' LIMIT 1").fetchone()[0])
    import json

    code = json.loads(code)[0]
    html = await (await web.client.get("/ask", params={"q": code})).text()
    fix_ids = re.findall(r'href="/fix/(\d+)\?', html)
    assert fix_ids, html
    page = await web.client.get(f"/fix/{fix_ids[0]}")
    text = await page.text()
    assert "Step 1 of" in text and 'rel="next"' in text
    page2 = await (await web.client.get(f"/fix/{fix_ids[0]}?step=2")).text()
    assert "Step 2 of" in page2 and 'rel="prev"' in page2
    over = await (await web.client.get(f"/fix/{fix_ids[0]}?step=999")).text()
    assert "Step" in over  # clamped to the last step


async def test_sentence_without_model_names_the_download_command(web):
    await web.sign_in(OPERATOR)
    html = await (await web.client.get("/ask", params={"q": "Le rouleau de la calandre fait du bruit depuis ce matin.", "to": "zh"})).text()
    assert "shopbot models download" in html


async def test_memory_match_is_marked(web):
    await web.sign_in(OPERATOR)
    source, target = web.app.storage.read(lambda db: db.execute(
        "SELECT a.text, b.text FROM tm_variant a JOIN tm_variant b ON a.unit_id = b.unit_id "
        "WHERE a.lang = 'en' AND b.lang = 'fr' AND length(a.text) > 25 LIMIT 1").fetchone())
    html = await (await web.client.get("/ask", params={"q": source, "mode": "translate", "from": "en", "to": "fr"})).text()
    assert "badge memory" in html


# -- hostile input ---------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    'coat* OR "x" NEAR(a b) ^c -d',
    "co\u200bat\u200ber\u2066",
    "\ud800",
    "'; DROP TABLE person; --",
    "涂布<b>코팅</b>",
]


@pytest.mark.parametrize("q", HOSTILE)
@pytest.mark.parametrize("mode", ["auto", "term", "fix", "translate"])
async def test_hostile_queries_are_escaped_and_never_crash(web, q, mode):
    await web.sign_in(OPERATOR)
    r = await web.client.get("/ask", params={"q": q, "mode": mode, "from": "<x>", "to": "zz"})
    assert r.status == 200
    html = await r.text()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>코팅" not in html


async def test_huge_query_is_refused_clearly(web):
    await web.sign_in(OPERATOR)
    r = await web.client.get("/ask", params={"q": "涂" * 10_000})
    assert r.status == 400
    assert "too long" in await r.text()


async def test_hostile_paths_and_forms(web):
    await web.sign_in(OPERATOR)
    for path in ("/fix/abc", "/fix/99999999999999999999999", "/fix/-1", "/fix/1/photo/9",
                 "/fix/1/photo/../../etc/passwd", "/signin/<script>", "/nowhere"):
        r = await web.client.get(path)
        assert r.status in (404, 400), path
        assert "<script>" not in await r.text()
    from yarl import URL

    for raw in ("q=%FF%FE", "q=%00%01", "q=%ED%A0%80", "q=%E6%B6", "mode=%FF&q=x&from=%00&to=%E6"):
        r = await web.client.get(URL(f"/ask?{raw}", encoded=True))
        assert r.status == 200, raw  # broken encodings: replaced, searched, never a crash
    csrf = await web.csrf()
    r = await web.client.post("/sessions/end", data={"csrf": csrf, "session_id": "１２"})
    assert r.status == 400
    r = await web.client.post("/lang", data={"csrf": csrf, "lang": "<script>"})
    assert r.status == 400
    r = await web.client.post("/lang", data="x" * 100_000, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 413


async def test_an_unapproved_fix_is_not_shown_to_an_operator(web):
    fix_id = web.app.storage.read(lambda db: db.execute("SELECT min(id) FROM fix").fetchone()[0])
    web.app.storage.write(lambda db: db.execute("UPDATE fix SET status = 'pending' WHERE id = ?", [fix_id]))
    await web.sign_in(OPERATOR)
    assert (await web.client.get(f"/fix/{fix_id}")).status == 404
    async with web.session() as lead:
        token = web.link(LEAD)
        page = await lead.get(f"/signin/{token}")
        await lead.post(f"/signin/{token}", data={"csrf": csrf_of(await page.text())})
        assert (await lead.get(f"/fix/{fix_id}")).status == 200


# -- conversation mode -------------------------------------------------------------

async def test_talk_without_model_and_only_leads_keep(web):
    await web.sign_in(OPERATOR)
    csrf = await web.csrf()
    r = await web.client.post("/talk", data={"csrf": csrf, "side": "a", "a": "zh", "b": "fr",
                                             "text": "<script>x</script>涂布机"})
    assert r.status == 200
    html = await r.text()
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert "No translation model" in html
    assert 'action="/talk/keep"' not in html  # an operator has no keep button...
    r = await web.client.post("/talk/keep", data={"csrf": csrf, "a": "zh", "b": "fr"})
    assert r.status == 403  # ...and the server refuses the form anyway
    r = await web.client.post("/talk", data={"csrf": csrf, "side": "c", "text": "x"})
    assert r.status == 400
    r = await web.client.post("/talk", data={"csrf": csrf, "side": "a", "text": "x" * 1001})
    assert r.status == 400


async def test_conversations_are_per_session(web):
    await web.sign_in(OPERATOR)
    csrf = await web.csrf()
    await web.client.post("/talk", data={"csrf": csrf, "side": "a", "a": "en", "b": "fr", "text": "private words"})
    async with web.session() as other:
        token = web.link(OPERATOR)
        page = await other.get(f"/signin/{token}")
        await other.post(f"/signin/{token}", data={"csrf": csrf_of(await page.text())})
        assert "private words" not in await (await other.get("/talk?a=en&b=fr")).text()


async def test_the_first_start_link_is_for_the_first_admin_until_one_signs_in(web):
    from bot.web import site

    link = await site.first_link(web.app, "http://127.0.0.1:8080")
    token = link.rsplit("/", 1)[1]
    assert link.startswith("http://127.0.0.1:8080/signin/")
    assert web.app.storage.read(signin.check_link, token).user_id == ADMIN
    await web.sign_in(token=token)
    assert await site.first_link(web.app, "http://127.0.0.1:8080") is None
