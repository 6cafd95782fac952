"""The review queue (/review) and the fixes pages (/fixes) of the lead's
console: route tests per role through aiohttp's test client, on a real
seeded database, with the bot's services underneath (same rules as /review,
/newfix, /editfix, /myfixes and the speakers' buttons)."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.knowledge import fixes as fx
from bot.knowledge import suggestions
from bot.people import directory, signin
from bot.translation.memory import TranslationMemory

from .conftest import ADMIN, LEAD, OPERATOR, csrf_of

TRAINER, TRAINER2, LEAD2 = 1004, 1005, 1006
SAMPLE = "coater-unwind-tension-alarm"  # zh original, fr machine text


def admit(app, user_id: int, role: str, name: str) -> None:
    app.storage.write(lambda d: directory._admit(d, user_id, role, now=directory._now(None), seen=True,
                                                 actor="system", via="tests", name=name))


@pytest.fixture
async def console(web):
    admit(web.app, TRAINER, "trainer", "Tao")
    admit(web.app, TRAINER2, "trainer", "Kim")
    admit(web.app, LEAD2, "lead", "Lea")
    clients = {}
    yield web, clients
    for client in clients.values():
        await client.close()


async def as_(web, clients: dict, person: int | None):
    """A browser signed in as ``person`` (None: a stranger), one per person."""
    if person in clients:
        return clients[person]
    client = web.session()
    if person is not None:
        await web.sign_in(person, client=client)
    clients[person] = client
    return client


async def csrf(client) -> str:
    return csrf_of(await (await client.get("/ask")).text())


def one(web, sql: str, *args):
    return web.app.storage.read(lambda db: db.execute(sql, list(args)).fetchone())


def image(fmt: str = "PNG", size=(64, 48), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def fix_form(token: str | None, photos=(), **fields) -> aiohttp.FormData:
    """The new-fix form as a browser sends it: the token first, then the fields, then files."""
    data = aiohttp.FormData()
    if token is not None:
        data.add_field("csrf", token)
    values = {"equipment": "coater", "original_lang": "en", "symptom": "Coater unwind tension alarm, web flutters",
              "codes": "E-901", "cause": "Splice tape too thick", "steps": "Stop the line.\nCheck the splice.",
              "safety": "Lock out the unwinder first."}
    values.update(fields)
    for name, value in values.items():
        data.add_field(name, value)
    for filename, content, ctype in photos:
        data.add_field("photos", content, filename=filename, content_type=ctype)
    if not photos:
        data.add_field("photos", b"", filename="", content_type="application/octet-stream")
    return data


async def new_fix(client, **kw) -> int:
    r = await client.post("/fixes/new", data=fix_form(await csrf(client), **kw), allow_redirects=False)
    assert r.status == 303, await r.text()
    return int(re.search(r"/fixes/(\d+)", r.headers["Location"]).group(1))


def photo_files(web) -> list[Path]:
    folder = web.app.settings.photos_path
    return sorted(folder.iterdir()) if folder.exists() else []


# -- roles -----------------------------------------------------------------------------

ROLE_PAGES = {  # path: expected status for stranger, operator, trainer, lead, admin
    "/review": (401, 403, 403, 200, 200),
    "/review/next": (401, 403, 403, 303, 303),
    "/fixes": (401, 200, 200, 200, 200),
    "/fixes/new": (401, 403, 200, 200, 200),
}


@pytest.mark.parametrize("path", list(ROLE_PAGES))
async def test_each_role_gets_what_the_bot_allows(console, path):
    web, clients = console
    for person, expected in zip((None, OPERATOR, TRAINER, LEAD, ADMIN), ROLE_PAGES[path]):
        client = await as_(web, clients, person)
        r = await client.get(path, allow_redirects=False)
        assert r.status == expected, (path, person)


async def test_only_leads_see_the_review_link(console):
    web, clients = console
    for person, shown in ((OPERATOR, False), (TRAINER, False), (LEAD, True), (ADMIN, True)):
        html = await (await (await as_(web, clients, person)).get("/fixes")).text()
        assert ('href="/review"' in html) is shown, person
        assert ('href="/fixes/new"' in html) is (person != OPERATOR)


async def test_every_role_tries_every_post(console):
    """Each role sends each request with a good token; only the allowed ones change anything."""
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    fix_id = await new_fix(trainer)
    sid = web.app.storage.write(suggestions.add, "coater", "enduiseuse = coucheuse", TRAINER)
    posts = [f"/review/fix/{fix_id}/approve", f"/review/suggestion/{sid}/approve",
             f"/review/fix/{fix_id}/reject", f"/fixes/{fix_id}/withdraw", f"/fixes/{fix_id}/submit",
             f"/fixes/{fix_id}/adopt"]
    for person in (None, OPERATOR, TRAINER2):
        client = await as_(web, clients, person)
        token = await csrf(client) if person else "x"
        for path in posts:
            r = await client.post(path, data={"csrf": token, "reason": "no", "sure": "1"}, allow_redirects=False)
            assert r.status in (401, 403), (person, path, r.status)
        r = await client.post(f"/fixes/{fix_id}/edit", data=fix_form(token, symptom="hijacked"),
                              allow_redirects=False)
        assert r.status in (401, 403), person
    assert one(web, "SELECT status, version FROM fix WHERE id = ?", fix_id) == ("pending", 2)
    assert "hijacked" not in str(one(web, "SELECT symptom FROM fix_text WHERE snippet_id = ?", fix_id))
    assert web.app.storage.read(suggestions.get, sid).status == "pending"


@pytest.mark.parametrize("token", [None, "", "forged"])
async def test_no_form_works_without_the_session_csrf(console, token):
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    lead = await as_(web, clients, LEAD)
    fix_id = await new_fix(trainer)
    sample = one(web, "SELECT id FROM fix WHERE slug = ?", SAMPLE)[0]
    data = {} if token is None else {"csrf": token}
    for client, path in ((lead, f"/review/fix/{fix_id}/approve"), (lead, f"/review/fix/{fix_id}/reject"),
                         (trainer, f"/fixes/{fix_id}/withdraw"), (trainer, f"/fixes/{sample}/translation/fr"),
                         (lead, f"/fixes/{sample}/adopt")):
        r = await client.post(path, data={**data, "reason": "x", "symptom": "x", "steps": "x"}, allow_redirects=False)
        assert r.status == 403, path
    before = len(photo_files(web))
    r = await trainer.post("/fixes/new", data=fix_form(token, photos=[("a.png", image(), "image/png")]),
                           allow_redirects=False)
    assert r.status == 403
    r = await trainer.post(f"/fixes/{fix_id}/edit", data=fix_form(token, symptom="changed"), allow_redirects=False)
    assert r.status == 403
    assert len(photo_files(web)) == before
    assert one(web, "SELECT status, version FROM fix WHERE id = ?", fix_id) == ("pending", 2)


async def test_the_token_must_come_before_any_file(console):
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    data = aiohttp.FormData()
    data.add_field("photos", image(), filename="a.png", content_type="image/png")
    data.add_field("csrf", await csrf(trainer))
    r = await trainer.post("/fixes/new", data=data, allow_redirects=False)
    assert r.status == 403
    assert photo_files(web) == []


# -- a fix from the form to the queue ---------------------------------------------------

async def test_a_trainer_writes_a_fix_with_photos_a_lead_approves_it_once(console):
    web, clients = console
    trainer, lead, lead2 = (await as_(web, clients, TRAINER), await as_(web, clients, LEAD),
                            await as_(web, clients, LEAD2))
    jpeg = image("JPEG", size=(120, 90))
    r = await trainer.post("/fixes/new", data=fix_form(await csrf(trainer), photos=[
        ("screen.jpg", jpeg, "image/jpeg"), ("label.webp", image("WEBP"), "image/webp")]), allow_redirects=False)
    assert r.status == 303
    fix_id = int(re.search(r"/fixes/(\d+)", r.headers["Location"]).group(1))
    assert one(web, "SELECT status, author, original_lang, equipment FROM fix WHERE id = ?", fix_id) == (
        "pending", str(TRAINER), "en", "coater")
    paths = [row[0] for row in web.app.storage.read(lambda db: db.execute(
        "SELECT local_path FROM fix_photo WHERE snippet_id = ? ORDER BY position", [fix_id]).fetchall())]
    assert len(paths) == 2
    for path in paths:  # stored where the bot stores photos, as fresh JPEGs
        assert fx.photo_file(web.app.settings.photos_path, path) is not None
        assert Image.open(path).format == "JPEG"
    page = await (await trainer.get(r.headers["Location"])).text()
    assert "waits for a lead" in page and "/fixes/%d/photo/1" % fix_id in page
    shot = await trainer.get(f"/fixes/{fix_id}/photo/0")
    assert shot.status == 200 and shot.headers["Content-Type"] == "image/jpeg"
    # An operator cannot read a pending fix, nor its photo.
    operator = await as_(web, clients, OPERATOR)
    assert (await operator.get(f"/fixes/{fix_id}")).status == 404
    assert (await operator.get(f"/fixes/{fix_id}/photo/0")).status == 404

    queue = await (await lead.get("/review")).text()
    assert f'href="/review/fix/{fix_id}"' in queue and "Tao" in queue
    item = await lead.get("/review/next")
    assert item.url.path == f"/review/fix/{fix_id}"
    html = await item.text()
    assert "Coater unwind tension alarm" in html and 'action="/review/fix/%d/approve"' % fix_id in html
    assert f'src="/fixes/{fix_id}/photo/1"' in html  # the photos beside the text, as the bot sends them

    # Two leads press Approve at the same moment: approved once.
    t1, t2 = await csrf(lead), await csrf(lead2)
    r1, r2 = await asyncio.gather(
        lead.post(f"/review/fix/{fix_id}/approve", data={"csrf": t1}, allow_redirects=False),
        lead2.post(f"/review/fix/{fix_id}/approve", data={"csrf": t2}, allow_redirects=False))
    said = sorted(re.search(r"said=([a-z-]+)", r.headers["Location"]).group(1) for r in (r1, r2))
    # No bot in this app to tell the author with: the lead is asked to.
    assert said == ["already-approved", "approved-untold"]
    [told] = [r.headers["Location"] for r in (r1, r2) if "said=approved-untold" in r.headers["Location"]]
    r = await lead.get(told)
    assert f"Approved: #{fix_id}. The author could not be told in the bot: tell them yourself." in await r.text()
    assert one(web, "SELECT status FROM fix WHERE id = ?", fix_id) == ("approved",)
    assert one(web, "SELECT count(*) FROM audit WHERE entity = 'fix' AND entity_id = ? AND action = 'approve'",
               str(fix_id)) == (1,)
    # A third click (a reload, a stale tab): a clear notice, nothing written.
    r = await lead.post(f"/review/fix/{fix_id}/approve", data={"csrf": t1})
    html = await r.text()
    assert "already approved" in html and f'href="/fixes/{fix_id}">Check its translations' in html
    assert one(web, "SELECT count(*) FROM fix_version WHERE snippet_id = ? AND why = 'approve'", fix_id) == (1,)
    # Rejecting it now is refused with what it is.
    r = await lead.post(f"/review/fix/{fix_id}/reject", data={"csrf": t1, "reason": "late"})
    assert r.status == 409 and "approved" in await r.text()
    # The operator finds it now.
    assert (await operator.get(f"/fix/{fix_id}")).status == 200


async def test_reject_needs_a_reason_and_is_idempotent(console):
    web, clients = console
    trainer, lead = await as_(web, clients, TRAINER), await as_(web, clients, LEAD)
    fix_id = await new_fix(trainer)
    token = await csrf(lead)
    for reason in ("", "   \u200b ", "x" * 10_000):
        r = await lead.post(f"/review/fix/{fix_id}/reject", data={"csrf": token, "reason": reason})
        assert r.status == 400, reason[:10]
        assert one(web, "SELECT status FROM fix WHERE id = ?", fix_id) == ("pending",)
    reason = "<script>alert(1)</script> step 2 is unsafe & \u202eevil"
    r = await lead.post(f"/review/fix/{fix_id}/reject", data={"csrf": token, "reason": reason},
                        allow_redirects=False)
    assert "said=rejected-untold" in r.headers["Location"]
    r = await lead.post(f"/review/fix/{fix_id}/reject", data={"csrf": token, "reason": "again"},
                        allow_redirects=False)
    assert "said=already-rejected" in r.headers["Location"]
    assert one(web, "SELECT reject_reason FROM fix WHERE id = ?", fix_id) == (reason,)
    r = await lead.post(f"/review/fix/{fix_id}/approve", data={"csrf": token})
    assert r.status == 409 and "rejected" in await r.text()
    # The author reads the reason, escaped, and edits the fix back to a draft, then submits it.
    view = await (await trainer.get(f"/fixes/{fix_id}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in view and "<script>alert" not in view
    r = await trainer.post(f"/fixes/{fix_id}/edit", data=fix_form(await csrf(trainer), steps="Stop.\nSplice again."),
                           allow_redirects=False)
    assert r.status == 303
    assert one(web, "SELECT status, reject_reason FROM fix WHERE id = ?", fix_id) == ("draft", None)
    r = await trainer.post(f"/fixes/{fix_id}/submit", data={"csrf": await csrf(trainer)}, allow_redirects=False)
    assert r.status == 303 and one(web, "SELECT status FROM fix WHERE id = ?", fix_id) == ("pending",)


async def test_suggestions_in_the_queue(console):
    web, clients = console
    lead = await as_(web, clients, LEAD)
    sid = web.app.storage.write(suggestions.add, "<b>coater</b>", "enduiseuse = coucheuse", TRAINER)
    sid2 = web.app.storage.write(suggestions.add, "tab", "languette", TRAINER)
    html = await (await lead.get(f"/review/suggestion/{sid}")).text()
    assert "&lt;b&gt;coater&lt;/b&gt;" in html and "<b>coater" not in html
    token = await csrf(lead)
    r = await lead.post(f"/review/suggestion/{sid}/approve", data={"csrf": token})
    assert r.status == 200 and f"/review/suggestion/{sid2}" in str(r.url)  # the next item
    assert "Approved" in await r.text()
    r = await lead.post(f"/review/suggestion/{sid}/approve", data={"csrf": token})
    assert "already approved" in await r.text()
    r = await lead.post(f"/review/suggestion/{sid}/reject", data={"csrf": token, "reason": "no"})
    assert r.status == 409
    r = await lead.post(f"/review/suggestion/{sid2}/reject", data={"csrf": token, "reason": "use tab"})
    assert r.status == 200 and web.app.storage.read(suggestions.get, sid2).status == "rejected"
    assert one(web, "SELECT count(*) FROM audit WHERE entity = 'suggestion' AND action = 'approve'") == (1,)


@pytest.mark.parametrize("path", ["/review/fix/abc", "/review/fix/99999999999999999999", "/review/nope/1",
                                  "/review/fix/%EF%BC%91%EF%BC%92", "/review/fix/-1", "/review/suggestion/424242",
                                  "/review/next?after=fix-%00", "/review/next?after=<script>-1"])
async def test_forged_review_addresses(console, path):
    web, clients = console
    lead = await as_(web, clients, LEAD)
    from yarl import URL

    r = await lead.get(URL(path, encoded=True))
    assert r.status in (200, 404), path
    assert "<script>" not in await r.text()
    r = await lead.post(URL(path + "/approve", encoded=True) if "?" not in path else "/review/fix/0/approve",
                        data={"csrf": await csrf(lead)})
    assert r.status in (404, 405), path


# -- hostile input on the fix form -----------------------------------------------------

HOSTILE = [
    ("symptom", "", "symptom is empty"),
    ("symptom", "\u200b\u200b\u2060", "symptom is empty"),
    ("symptom", "x" * 10_000, "longer than 500"),
    ("steps", "", "at least one"),
    ("steps", "y" * 10_000, "longer than 1000"),
    ("cause", "c" * 10_000, "longer than 2000"),
    ("codes", "<script>", "not an alarm code"),
    ("equipment", "no-such-machine", "not a glossary concept"),
    ("equipment", "", "equipment"),
    ("symptom", "bad\x07bell", "control character"),
]


@pytest.mark.parametrize("name, value, message", HOSTILE)
async def test_bad_fields_are_refused_with_everything_typed_kept(console, name, value, message):
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    before = one(web, "SELECT count(*) FROM fix")
    marker = "Kept-text-\u6d82\u5e03"
    fields = {name: value}
    if name != "cause":
        fields["cause"] = marker
    r = await trainer.post("/fixes/new", data=fix_form(await csrf(trainer), **fields))
    assert r.status == 400
    html = await r.text()
    assert message in html
    if name != "cause":
        assert marker in html  # nothing typed is lost
    assert one(web, "SELECT count(*) FROM fix") == before
    assert photo_files(web) == []


@pytest.mark.parametrize("symptom", [
    "<script>alert(1)</script> coater alarm",
    '"><img src=x onerror=alert(1)> unwind',
    'coat* OR "x" NEAR(a b) ^c -d',
    "co\u200bat\u200ber tension \u2066alarm",
    "涂布机 tension alarm, tolong check 코터",
])
async def test_hostile_text_is_stored_as_typed_and_shown_escaped(console, symptom):
    web, clients = console
    trainer, lead = await as_(web, clients, TRAINER), await as_(web, clients, LEAD)
    fix_id = await new_fix(trainer, symptom=symptom, original_lang="")
    for client, path in ((trainer, f"/fixes/{fix_id}"), (lead, f"/review/fix/{fix_id}"), (lead, "/review"),
                         (trainer, "/fixes")):
        html = await (await client.get(path)).text()
        assert "<script>alert" not in html and "<img src=x" not in html, path
    stored = one(web, "SELECT t.symptom FROM fix f JOIN fix_text t ON t.snippet_id = f.id "
                      "AND t.lang = f.original_lang WHERE f.id = ?", fix_id)[0]
    assert stored == symptom


# -- photos ----------------------------------------------------------------------------

@pytest.mark.parametrize("filename, content, ctype, message", [
    ("big.jpg", b"\xff\xd8\xff" + b"x" * (10 * 1024 * 1024), "image/jpeg", "too large"),
    ("notes.txt", b"just text, not a photo", "image/jpeg", "not a photo I can read"),
    ("anim.gif", b"GIF89a" + b"\x00" * 64, "image/gif", "not a photo I can read"),
    ("broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40, "image/jpeg", "not a photo I can read"),
    ("tiny.png", None, "image/png", "too small"),
    ("page.html", b"<html><script>alert(1)</script></html>", "text/html", "not a photo I can read"),
])
async def test_bad_photos_are_refused_and_nothing_is_kept(console, filename, content, ctype, message):
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    content = content if content is not None else image(size=(8, 8))
    before = one(web, "SELECT count(*) FROM fix")
    r = await trainer.post("/fixes/new", data=fix_form(await csrf(trainer), photos=[
        ("ok.png", image(), "image/png"), (filename, content, ctype)]))
    assert r.status == 400
    html = await r.text()
    assert message in html and "Coater unwind tension alarm" in html  # the form again, filled
    assert one(web, "SELECT count(*) FROM fix") == before
    assert photo_files(web) == []  # the good photo of the refused form is not kept either


async def test_too_many_photos_and_an_oversized_request(console):
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    many = [(f"p{i}.png", image(), "image/png") for i in range(fx.MAX_PHOTOS + 1)]
    r = await trainer.post("/fixes/new", data=fix_form(await csrf(trainer), photos=many))
    assert r.status == 400 and "At most 10 photos" in await r.text()
    huge = [(f"h{i}.jpg", b"\xff\xd8\xff" + b"x" * (9 * 1024 * 1024), "image/jpeg") for i in range(4)]
    r = await trainer.post("/fixes/new", data=fix_form(await csrf(trainer), photos=huge))
    assert r.status == 413
    assert photo_files(web) == []
    r = await trainer.post("/fixes/new", data=b"--x\r\nbroken", headers={
        "Content-Type": "multipart/form-data; boundary=x"})
    assert r.status in (400, 403)


# -- another person's fix, editing, withdrawing ------------------------------------------

async def test_only_the_author_edits_and_withdraws(console):
    web, clients = console
    trainer, other, lead = (await as_(web, clients, TRAINER), await as_(web, clients, TRAINER2),
                            await as_(web, clients, LEAD))
    fix_id = await new_fix(trainer, photos=[("a.png", image(), "image/png")])
    [photo] = photo_files(web)
    assert (await other.get(f"/fixes/{fix_id}")).status == 404  # pending, not theirs
    assert (await other.get(f"/fixes/{fix_id}/edit")).status == 403
    assert (await lead.get(f"/fixes/{fix_id}/edit")).status == 403  # a lead reviews, does not rewrite
    r = await other.post(f"/fixes/{fix_id}/withdraw", data={"csrf": await csrf(other), "sure": "1"})
    assert r.status == 403 and photo.exists()
    # The author's own list shows it; another trainer's does not.
    assert f'href="/fixes/{fix_id}"' in await (await trainer.get(f"/fixes?author={TRAINER}")).text()
    assert f'href="/fixes/{fix_id}"' not in await (await other.get(f"/fixes?author={TRAINER}")).text()
    # Editing: a photo removed, a field changed; a pending fix stays pending.
    form = fix_form(await csrf(trainer), symptom="Coater unwind alarm (edited)")
    form.add_field("remove-0", "1")
    r = await trainer.post(f"/fixes/{fix_id}/edit", data=form, allow_redirects=False)
    assert r.status == 303
    assert one(web, "SELECT status FROM fix WHERE id = ?", fix_id) == ("pending",)
    assert one(web, "SELECT count(*) FROM fix_photo WHERE snippet_id = ?", fix_id) == (0,)
    assert not photo.exists()  # no other fix named it
    r = await trainer.post(f"/fixes/{fix_id}/withdraw", data={"csrf": await csrf(trainer)})
    assert r.status == 400 and "Tick the box" in await r.text()  # not confirmed: nothing deleted
    assert one(web, "SELECT count(*) FROM fix WHERE id = ?", fix_id) == (1,)
    r = await trainer.post(f"/fixes/{fix_id}/withdraw", data={"csrf": await csrf(trainer), "sure": "1"},
                           allow_redirects=False)
    assert r.status == 303 and one(web, "SELECT count(*) FROM fix WHERE id = ?", fix_id) == (0,)
    r = await trainer.post(f"/fixes/{fix_id}/withdraw", data={"csrf": await csrf(trainer), "sure": "1"})
    assert r.status == 404


async def test_an_approved_fix_is_no_longer_editable(console):
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    sample = one(web, "SELECT id FROM fix WHERE slug = ?", SAMPLE)[0]
    assert (await trainer.get(f"/fixes/{sample}/edit")).status == 403
    r = await trainer.post(f"/fixes/{sample}/withdraw", data={"csrf": await csrf(trainer), "sure": "1"})
    assert r.status == 403  # not the author (a sample)


# -- the list and its filters ------------------------------------------------------------

async def test_filters_and_visibility(console):
    web, clients = console
    trainer, operator, lead = (await as_(web, clients, TRAINER), await as_(web, clients, OPERATOR),
                               await as_(web, clients, LEAD))
    mine = await new_fix(trainer, symptom="Oven over temperature in the dryer")
    html = await (await operator.get("/fixes?sample=yes")).text()
    assert "Example" not in html and html.count('class="fixlink"') == min(41, 50)
    assert f'href="/fixes/{mine}"' not in await (await operator.get("/fixes?status=pending")).text()
    assert f'href="/fixes/{mine}"' in await (await lead.get("/fixes?status=pending")).text()
    assert f'href="/fixes/{mine}"' in await (await lead.get("/fixes?lang=en&author=%d" % TRAINER)).text()
    assert f'href="/fixes/{mine}"' not in await (await lead.get("/fixes?lang=zh")).text()
    assert f'href="/fixes/{mine}"' in await (await lead.get("/fixes?equipment=coater&sample=no")).text()
    for query in ("status=<script>", "lang=zz", "sample=maybe", "equipment=%27%20OR%201%3D1", "page=%EF%BC%92",
                  "page=99999999999999999999", "author=" + "9" * 500, "equipment=" + "x" * 10_000):
        r = await lead.get("/fixes?" + query)
        assert r.status == 200, query
        assert "<script>" not in await r.text()
    page2 = await (await operator.get("/fixes?page=2")).text()
    assert 'rel="prev"' in page2


# -- translations: verify or correct -------------------------------------------------------

async def test_a_trainer_corrects_a_machine_translation_into_memory(console):
    web, clients = console
    trainer, operator = await as_(web, clients, TRAINER), await as_(web, clients, OPERATOR)
    sample = one(web, "SELECT id FROM fix WHERE slug = ?", SAMPLE)[0]
    assert (await operator.get(f"/fixes/{sample}/translation/fr")).status == 403
    r = await operator.post(f"/fixes/{sample}/translation/fr", data={"csrf": await csrf(operator), "action": "verify"})
    assert r.status == 403
    page = await (await trainer.get(f"/fixes/{sample}/translation/fr")).text()
    assert 'data-side="original"' in page and "machine translation" in page
    zh_symptom = one(web, "SELECT symptom FROM fix_text WHERE snippet_id = ? AND lang = 'zh'", sample)[0]
    fr = one(web, "SELECT symptom, cause, steps, safety FROM fix_text WHERE snippet_id = ? AND lang = 'fr'", sample)
    import json

    corrected = "Enduiseuse : <b>alarme</b> de tension au dérouleur"
    r = await trainer.post(f"/fixes/{sample}/translation/fr", data={
        "csrf": await csrf(trainer), "action": "correct", "symptom": corrected, "cause": fr[1],
        "steps": "\n".join(json.loads(fr[2])), "safety": "\n".join(json.loads(fr[3]))})
    assert r.status == 200 and "1 sentence" in await r.text()
    assert one(web, "SELECT kind, symptom FROM fix_text WHERE snippet_id = ? AND lang = 'fr'", sample) == (
        "verified", corrected)
    match = TranslationMemory(web.app.storage.conn).lookup(zh_symptom, "zh", "fr")
    assert match is not None and match.text == corrected and match.origin == "correction"
    # Refused corrections: empty, too long, the original language.
    token = await csrf(trainer)
    r = await trainer.post(f"/fixes/{sample}/translation/fr", data={"csrf": token, "symptom": "", "steps": "x"})
    assert r.status == 400 and "empty" in await r.text()
    r = await trainer.post(f"/fixes/{sample}/translation/fr", data={"csrf": token, "symptom": "s" * 10_000,
                                                                   "steps": "x"})
    assert r.status == 400
    assert (await trainer.get(f"/fixes/{sample}/translation/zh")).status == 409
    r = await trainer.post(f"/fixes/{sample}/translation/ko", data={"csrf": token, "action": "verify"})
    assert r.status == 200  # the ko machine text verified
    assert one(web, "SELECT kind FROM fix_text WHERE snippet_id = ? AND lang = 'ko'", sample) == ("verified",)
    r = await trainer.post(f"/fixes/{sample}/translation/ko", data={"csrf": token, "action": "verify"})
    assert "Already verified" in await r.text()
    for bad in ("/fixes/abc/translation/fr", f"/fixes/{sample}/translation/xx", "/fixes/999999/translation/fr"):
        assert (await trainer.get(bad)).status == 404, bad


async def test_a_lead_reviews_a_fix_side_by_side_in_their_language(console):
    """A pending fix in Chinese, a French-reading lead: the original beside a
    French text; without a model, a sentence that says so."""
    web, clients = console
    lead = await as_(web, clients, LEAD)
    web.app.storage.write(signin.set_web_language, LEAD, "fr")
    fix_id = web.app.storage.write(fx.create_and_submit, author=TRAINER, equipment="coater", original_lang="zh",
                                   symptom="涂布机张力报警", steps=["停机", "检查接头"])
    html = await (await lead.get(f"/review/fix/{fix_id}")).text()
    assert 'data-side="original"' in html and "涂布机张力报警" in html
    assert 'data-side="reader"' in html and "Aucune traduction automatique" in html
    assert "Approuver" in html


async def test_a_lead_without_telegram_reviews_and_the_kiosk_only_reads(console):
    """People of the web only (ids from 2**53 up) act through the same
    services: their rights come from the person table, as a Telegram user's."""
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    fix_id = await new_fix(trainer)
    sid = web.app.storage.write(suggestions.add, "tab", "languette", TRAINER)
    desk = web.app.storage.write(signin.create_web_person, "lead", name="Desk lead", lang="en")
    assert desk.user_id >= signin.WEB_ID_BASE
    async with web.session() as lead:
        await web.sign_in(desk.user_id, client=lead)
        token = await csrf(lead)
        for path in (f"/review/fix/{fix_id}/approve", f"/review/suggestion/{sid}/approve"):
            r = await lead.post(path, data={"csrf": token}, allow_redirects=False)
            assert r.status == 303 and "said=approved" in r.headers["Location"], path
    assert one(web, "SELECT status FROM fix WHERE id = ?", fix_id) == ("approved",)
    assert web.app.storage.read(suggestions.get, sid).status == "approved"
    async with web.session() as kiosk:
        await web.sign_in(token=web.kiosk_link(), client=kiosk)
        html = await (await kiosk.get("/fixes")).text()
        assert f'href="/fixes/{fix_id}"' in html and "/fixes?author=" not in html
        assert (await kiosk.get("/fixes/new")).status == 403
        assert (await kiosk.get("/review")).status == 403


async def test_each_role_on_each_item_page(console):
    """The pages about one item, for a pending fix by TRAINER, a pending
    suggestion and an approved sample: stranger, operator, the author,
    another trainer, a lead, an admin."""
    web, clients = console
    fix_id = await new_fix(await as_(web, clients, TRAINER))
    sid = web.app.storage.write(suggestions.add, "tab", "languette", TRAINER)
    sample = one(web, "SELECT id FROM fix WHERE slug = ?", SAMPLE)[0]
    people = (None, OPERATOR, TRAINER, TRAINER2, LEAD, ADMIN)
    expected = {
        f"/review/fix/{fix_id}": (401, 403, 403, 403, 200, 200),
        f"/review/suggestion/{sid}": (401, 403, 403, 403, 200, 200),
        f"/fixes/{fix_id}": (401, 404, 200, 404, 200, 200),
        f"/fixes/{fix_id}/photo/0": (401, 404, 404, 404, 404, 404),  # it has no photo
        f"/fixes/{fix_id}/edit": (401, 403, 200, 403, 403, 403),
        f"/fixes/{sample}": (401, 200, 200, 200, 200, 200),
        f"/fixes/{sample}/edit": (401, 403, 403, 403, 403, 403),
        f"/fixes/{sample}/translation/fr": (401, 403, 200, 200, 200, 200),
        f"/fixes/{fix_id}/translation/fr": (401, 403, 409, 404, 409, 409),  # not approved yet
    }
    for path, statuses in expected.items():
        for person, status in zip(people, statuses):
            r = await (await as_(web, clients, person)).get(path, allow_redirects=False)
            assert r.status == status, (path, person, r.status)


async def test_a_fix_about_a_concept_that_is_not_equipment_keeps_it_when_edited(console):
    """The bot lets a fix be about any concept (a material, a process); the
    web form lists the equipment, and keeps the fix's own concept as a choice."""
    web, clients = console
    trainer = await as_(web, clients, TRAINER)
    concept = one(web, "SELECT id FROM concept WHERE equipment = 0 ORDER BY id LIMIT 1")[0]
    fix_id = web.app.storage.write(fx.create_and_submit, author=TRAINER, equipment=concept, original_lang="en",
                                   symptom="Slurry too thick", steps=["Measure the viscosity."])
    html = await (await trainer.get(f"/fixes/{fix_id}/edit")).text()
    assert f'<option value="{concept}" selected>' in html
    r = await trainer.post(f"/fixes/{fix_id}/edit", data=fix_form(await csrf(trainer), equipment=concept,
                                                                  symptom="Slurry far too thick"),
                           allow_redirects=False)
    assert r.status == 303 and one(web, "SELECT equipment FROM fix WHERE id = ?", fix_id) == (concept,)
