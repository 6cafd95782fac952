"""The web app under aiohttp's test client, on a seeded database of the test's own."""

from __future__ import annotations

import re
import shutil

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.config import Settings
from bot.people import directory, signin
from bot.web import server, site

ADMIN = 1001
OPERATOR = 1002
LEAD = 1003


class Web:
    """A client plus what the tests need to sign people in."""

    def __init__(self, app: App, client: TestClient, status: server.Status):
        self.app = app
        self.client = client
        self.status = status

    def link(self, person_id: int) -> str:
        return self.app.storage.write(signin.create_link, person_id).token

    def kiosk_link(self) -> str:
        return self.app.storage.write(lambda db: signin.create_link(db, signin.kiosk(db).user_id)).token

    async def sign_in(self, person_id: int | None = None, token: str | None = None, client=None):
        client = client or self.client
        token = token or self.link(person_id)
        page = await client.get(f"/signin/{token}")
        assert page.status == 200, await page.text()
        csrf = csrf_of(await page.text())
        done = await client.post(f"/signin/{token}", data={"csrf": csrf}, allow_redirects=False)
        assert done.status == 303, await done.text()
        return done

    async def csrf(self, client=None) -> str:
        page = await (client or self.client).get("/ask")
        return csrf_of(await page.text())

    def session(self):
        """Another browser: its own cookies, the same server."""
        import aiohttp

        return aiohttp.ClientSession(base_url=str(self.client.make_url("/")),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True))


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]*)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


@pytest.fixture
def web_app_factory(tmp_path, seeded_template):
    created = []

    def make(**settings):
        db = tmp_path / f"web{len(created)}.db"
        shutil.copy(seeded_template, db)
        app = App(Settings(db=db, models_dir=tmp_path / "models", photos_dir=tmp_path / "photos", **settings))
        app.storage.write(directory.ensure_admins, [ADMIN])
        app.storage.write(lambda d: directory._admit(d, OPERATOR, "operator", now=directory._now(None),
                                                     seen=True, actor="system", via="tests", name="Olivier"))
        app.storage.write(lambda d: directory._admit(d, LEAD, "lead", now=directory._now(None),
                                                     seen=True, actor="system", via="tests", name="Lina"))
        created.append(app)
        return app

    yield make
    for app in created:
        app.close()


@pytest.fixture
async def web(web_app_factory):
    app = web_app_factory()
    status = server.Status()
    client = TestClient(TestServer(site.build(app, status)))
    # as server.start() runs it: long request lines reach the app
    await client.server.start_server(max_line_size=server.MAX_URL)
    await client.start_server()
    yield Web(app, client, status)
    await client.close()
