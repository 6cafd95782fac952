"""The console's files page (/files): downloads per role, uploads with a
preview that changes nothing, a commit that imports exactly what was
previewed, and hostile files refused by the CLI's hardened readers."""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile

import aiohttp
import pytest

from bot.knowledge import imports
from bot.knowledge.files import read_fixes
from bot.translation import memory as tm
from glossary import exchange
from glossary import store as glossary_store

from .conftest import ADMIN, LEAD, OPERATOR

TRAINER = 1004


def add_trainer(web) -> None:
    from bot.people import directory

    web.app.storage.write(lambda d: directory._admit(d, TRAINER, "trainer", now=directory._now(None), seen=True,
                                                     actor="system", via="tests", name="Tao"))


def snapshot(web) -> list:
    """Every table an import could touch, whole (``web``: anything with an ``app``)."""
    def read(db):
        out = []
        for table in ("concept", "term", "definition", "concept_external", "tm_unit", "tm_variant",
                      "tm_alternative", "fix", "fix_text", "audit", "meta", "console_upload"):
            out.append(db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall())
        return out
    return web.app.storage.read(read)


def glossary_csv(web, edit: str = "", new_id: str = "", extra_rows: list[dict] | None = None) -> bytes:
    """The first five concepts of the seed as CSV: one term edited, one concept added."""
    concepts = web.app.storage.read(glossary_store.all_concepts)[:5]
    text = exchange.csv_bytes(concepts).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    if edit:
        rows[0]["en"] = edit
    if new_id:
        rows.append({**{k: "" for k in rows[0]}, "id": new_id, "en": "vacuum gripper", "fr": "préhenseur webtest"})
    rows += extra_rows or []
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


async def upload(web, name: str, data: bytes, client=None, csrf: str | None = None, **fields):
    client = client or web.client
    form = aiohttp.FormData()
    form.add_field("csrf", csrf if csrf is not None else await web.csrf(client))
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await client.post("/files/preview", data=form, allow_redirects=False)


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


async def commit(web, token: str, client=None):
    client = client or web.client
    return await client.post("/files/commit", data={"csrf": await web.csrf(client), "token": token},
                             allow_redirects=False)


# -- roles -------------------------------------------------------------------------

async def test_a_stranger_gets_the_sign_in_page(web):
    for path in ("/files", "/files/download/glossary.csv", "/files/download/fixes.yaml"):
        assert (await web.client.get(path)).status == 401
    for path in ("/files/preview", "/files/commit", "/files/discard"):
        assert (await web.client.post(path, data={"csrf": "x"}, allow_redirects=False)).status in (401, 403)


async def test_an_operator_has_no_files(web):
    await web.sign_in(OPERATOR)
    assert (await web.client.get("/files")).status == 403
    assert (await web.client.get("/files/download/glossary.csv")).status == 403
    before = snapshot(web)
    r = await upload(web, "g.csv", glossary_csv(web, new_id="op.new"))
    assert r.status == 403
    assert snapshot(web) == before


async def test_a_trainer_downloads_but_does_not_import(web):
    add_trainer(web)
    await web.sign_in(TRAINER)
    html = await (await web.client.get("/files")).text()
    assert "/files/download/glossary.csv" in html and "/files/download/memory.tmx" in html
    assert "/files/download/fixes.yaml" not in html and 'action="/files/preview"' not in html
    r = await web.client.get("/files/download/glossary.csv")
    assert r.status == 200 and r.headers["Content-Disposition"].startswith('attachment; filename="shopbot-glossary-')
    assert (await web.client.get("/files/download/fixes.yaml")).status == 403
    before = snapshot(web)
    r = await upload(web, "g.csv", glossary_csv(web, new_id="tr.new"))
    assert r.status == 403
    r = await web.client.post("/files/commit", data={"csrf": await web.csrf(), "token": "A" * 32},
                              allow_redirects=False)
    assert r.status == 403
    assert snapshot(web) == before


async def test_downloads_read_back_with_the_cli_readers(web):
    await web.sign_in(LEAD)
    concepts = web.app.storage.read(glossary_store.all_concepts)
    body = await (await web.client.get("/files/download/glossary.csv")).read()
    assert len(exchange.read_csv(body)) == len(concepts)
    r = await web.client.get("/files/download/glossary.tbx")
    assert r.headers["Content-Type"].startswith("application/x-tbx+xml")
    assert len(exchange.read_tbx(await r.read())) == len(concepts)
    body = await (await web.client.get("/files/download/memory.tmx")).read()
    assert len(tm.read_tmx(body)) == len(web.app.storage.read(tm.all_units))
    r = await web.client.get("/files/download/fixes.yaml")
    assert r.headers["Content-Disposition"].endswith('.yaml"')
    items, _ = read_fixes("fixes.yaml", (await r.read()).decode())
    assert len(items) == web.app.storage.read(lambda db: db.execute("SELECT count(*) FROM fix").fetchone()[0])
    assert (await web.client.get("/files/download/..%2Fshopbot.db")).status == 404
    assert (await web.client.get("/files/download/glossary.exe")).status == 404


# -- preview and commit ---------------------------------------------------------------

async def test_preview_changes_nothing_and_the_commit_imports_exactly_that(web):
    await web.sign_in(LEAD)
    data = glossary_csv(web, edit="cell assembly line", new_id="web.gripper")
    before = snapshot(web)
    r = await upload(web, "terms.csv", data)
    assert r.status == 200
    html = await r.text()
    assert snapshot(web)[:-1] == before[:-1]  # nothing but the kept upload
    assert "1 added, 1 changed, 4 unchanged, 0 refused." in html
    assert re.search(r'<span class="where">line 7</span> vacuum gripper <code>web.gripper</code>', html)
    assert re.search(r'<span class="where">line 2</span> cell assembly line <code>', html)
    token = token_of(html)

    r = await commit(web, token)
    assert r.status == 200
    assert "1 added, 1 changed, 4 unchanged." in await r.text()
    concept = web.app.storage.read(lambda db: glossary_store.load_concepts(db, ["web.gripper"]))["web.gripper"]
    assert concept.preferred("fr").text == "préhenseur webtest"
    row = web.app.storage.read(lambda db: db.execute(
        "SELECT actor, detail FROM audit WHERE action = 'import' AND entity = 'glossary'").fetchone())
    assert row[0] == f"web:{LEAD}" and '"added": 1' in row[1]
    assert web.app.storage.read(lambda db: db.execute("SELECT count(*) FROM console_upload").fetchone()[0]) == 0
    # the bot's search sees the new concept at once
    found = web.app.glossary.lookup("préhenseur webtest", 3)
    assert found.results and found.results[0].concept.id == "web.gripper"

    after = snapshot(web)
    r = await commit(web, token)  # a second click, a replayed form
    assert r.status == 410
    assert snapshot(web) == after


def someone_adds_the_concept(web) -> str:
    other = exchange.read_csv(glossary_csv(web, new_id="web.gripper"))[-1]
    web.app.storage.write(glossary_store.upsert_concepts, [other], "cli:someone")
    return "changed since the preview"


def the_kept_file_is_altered(web) -> str:
    evil = glossary_csv(web, new_id="web.evil")
    web.app.storage.write(lambda db: db.execute("UPDATE console_upload SET data = ?", [evil]))
    return "changed since the preview"


@pytest.mark.parametrize("meanwhile", [someone_adds_the_concept, the_kept_file_is_altered])
async def test_a_commit_imports_nothing_unless_it_is_exactly_the_preview(web, meanwhile):
    await web.sign_in(LEAD)
    r = await upload(web, "terms.csv", glossary_csv(web, new_id="web.gripper"))
    token = token_of(await r.text())
    says = meanwhile(web)
    before = snapshot(web)
    r = await commit(web, token)
    assert r.status == 409 and says in await r.text()
    assert snapshot(web) == before  # nothing written, the upload kept for a new look


async def test_another_persons_token_is_refused_and_drop_forgets_it(web):
    await web.sign_in(LEAD)
    r = await upload(web, "terms.csv", glossary_csv(web, new_id="web.gripper"))
    token = token_of(await r.text())
    async with web.session() as admin:
        await web.sign_in(ADMIN, client=admin)
        before = snapshot(web)
        assert (await commit(web, token, client=admin)).status == 410
        for forged in ("", "x", "A" * 32, token + "A", "../" * 30, "\u200b" + token):
            assert (await commit(web, forged, client=admin)).status == 410
        assert snapshot(web) == before
    r = await web.client.post("/files/discard", data={"csrf": await web.csrf(), "token": token},
                              allow_redirects=False)
    assert r.status == 303
    assert (await commit(web, token)).status == 410


async def test_memory_and_fixes_preview_then_commit(web):
    await web.sign_in(ADMIN)
    tmx = tm.tmx_bytes([tm.Unit({"en": "Stop the coater now.", "fr": "Arrêtez l'enduiseuse maintenant."})])
    html = await (await upload(web, "line.tmx", tmx)).text()
    assert "1 added, 0 changed" in html and "Stop the coater now." in html
    r = await commit(web, token_of(html))
    assert r.status == 200
    assert web.app.memory.lookup("Stop the coater now.", "en", "fr") is not None

    fixes = ("- slug: web-test-fix\n  equipment: coater\n  original_lang: en\n  status: draft\n"
             "  texts:\n    en:\n      symptom: Web test symptom\n      steps: [Check the web]\n").encode()
    html = await (await upload(web, "fixes.yaml", fixes)).text()
    if "refused as a whole" in html:  # the seed has no equipment 'coater': use one it has
        pytest.fail(html[html.index('class="reason"'):][:300])
    assert "1 added" in html and '<span class="where">line 1</span> web-test-fix' in html
    assert (await commit(web, token_of(html))).status == 200
    assert web.app.storage.read(lambda db: db.execute(
        "SELECT status FROM fix WHERE slug = 'web-test-fix'").fetchone()) == ("draft",)


async def test_a_file_that_changes_nothing_offers_no_import(web):
    await web.sign_in(LEAD)
    html = await (await upload(web, "same.csv", glossary_csv(web))).text()
    assert "0 added, 0 changed, 5 unchanged" in html and 'name="token"' not in html
    assert web.app.storage.read(lambda db: db.execute("SELECT count(*) FROM console_upload").fetchone()[0]) == 0


# -- hostile files ------------------------------------------------------------------

BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
                  b' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
                  b' <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n'
                  b'<tbx type="TBX-Basic" xml:lang="en" xmlns="urn:iso:std:iso:30042:ed-2"><text><body>'
                  b'<conceptEntry id="c1"><langSec xml:lang="en"><termSec><term>&lol3;</term></termSec>'
                  b'</langSec></conceptEntry></body></text></tbx>')
MALFORMED_TBX = (b'<?xml version="1.0" encoding="UTF-8"?>\n<tbx type="TBX-Basic" xml:lang="en" '
                 b'xmlns="urn:iso:std:iso:30042:ed-2">\n<text>\n<body>\n<conceptEntry id="c1">\n'
                 b'<langSec xml:lang="en"><termSec><term>coater</term></termSec></langSec>\n'
                 b'<langSec xml:lang="fr"><termSec><term>enduiseuse</termSec></langSec>\n'
                 b'</conceptEntry>\n</body>\n</text>\n</tbx>\n')
YAML_LAUGHS = (b'- &a slug: x\n  texts: {en: {symptom: *a}}\n')


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("name, data, says", [
    ("bad.tbx", MALFORMED_TBX, "line 7: malformed XML"),
    ("laughs.tbx", BILLION_LAUGHS, "line 2: a DOCTYPE with an internal subset is refused"),
    ("laughs.tmx", BILLION_LAUGHS.replace(b"tbx", b"tmx"), "DOCTYPE with an internal subset"),
    ("bomb.tbx", zipped("x.tbx", b"<" * 5_000_000), "NUL bytes"),
    ("bomb.csv", zipped("x.csv", b"a" * 5_000_000), "NUL bytes"),
    ("empty.tbx", b"", "the file is empty"),
    ("latin1.csv", "id,en\nc1,caf\u00e9\n".encode("latin-1"), "not UTF-8 (line 2)"),
    ("utf16.csv", "id,en\nc1,x\n".encode("utf-16"), "NUL bytes"),
    ("fixes.yaml", YAML_LAUGHS, "line 1: YAML anchors and aliases"),
    ("fixes.json", b"[" * 100_000, "nested too deep"),
    ("deep.yaml", b"{a: " * 20_000 + b"x" + b"}" * 20_000, "nested too deep"),
    ("deep.tbx", b"<tbx><text><body>" + b"<a>" * 5_000 + b"</a>" * 5_000 + b"</body></text></tbx>",
     "line 1: malformed XML: Excessive depth"),
    ("deep.tmx", b"<tmx><body><tu><tuv><seg>" + b"<bpt>" * 5_000 + b"</bpt>" * 5_000 + b"</seg></tuv></tu></body></tmx>",
     "line 1: malformed XML: Excessive depth"),
    ("nohdr.csv", b"\xef\xbb\xbf", "line 1: the file is empty"),
    ("script.exe", b"MZ", "use a .csv or .tbx"),
    ("noext", b"id,en\n", "use a .csv or .tbx"),
    ('<img src=x onerror=alert(1)>.csv', b"id,en\n<script>,x\n", "concept id"),
    ("ctl\u200b\u202e.csv", b"id,en\nc 1,x\n", "concept id"),
])
async def test_hostile_files_are_refused_whole_and_change_nothing(web, name, data, says):
    await web.sign_in(LEAD)
    before = snapshot(web)
    r = await upload(web, name, data)
    html = await r.text()
    assert r.status == 422, html[:500]
    assert "refused as a whole" in html and says in html, html[html.find("reason"):][:400]
    assert "<script>" not in html and "<img src=x" not in html and "\u202e" not in html
    assert 'name="token"' not in html
    assert snapshot(web) == before


async def test_a_tbx_entry_that_cannot_be_kept_is_listed_with_its_line(web):
    await web.sign_in(LEAD)
    tbx = (b'<?xml version="1.0"?>\n<tbx type="TBX-Basic" xml:lang="en" xmlns="urn:iso:std:iso:30042:ed-2">'
           b'<text><body>\n<conceptEntry id="ok"><langSec xml:lang="en"><termSec><term>web gripper</term>'
           b'</termSec></langSec></conceptEntry>\n<conceptEntry id="de"><langSec xml:lang="de"><termSec>'
           b'<term>Greifer</term></termSec></langSec></conceptEntry>\n</body></text></tbx>')
    html = await (await upload(web, "vendor.tbx", tbx, source="Vendor <b>A</b>")).text()
    assert "1 added, 0 changed, 0 unchanged, 1 refused." in html
    assert "no term in zh, ko, ms, fr, en: line 4 (1)" in html  # the German-only entry
    assert re.search(r'<span class="where">line 3</span> web gripper <code>Vendor_b_A_b.ok.[0-9a-f]{8}</code>', html)
    assert "<b>A</b>" not in html


async def test_oversized_uploads_stop_at_the_cap(web):
    await web.sign_in(LEAD)
    before = snapshot(web)
    r = await upload(web, "big.csv", b"id,en\n" + b"a" * (imports.MAX_UPLOAD + 1))
    assert r.status == 413
    # a gzip bomb as the request body: the cap counts what it expands to
    boundary = "bomb"
    csrf = await web.csrf()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.csv\"\r\n\r\n").encode()
    body += b"\0" * (imports.MAX_UPLOAD * 4) + f"\r\n--{boundary}--\r\n".encode()
    packed = gzip.compress(body, 9)
    assert len(packed) < 100_000
    r = await web.client.post("/files/preview", data=packed, allow_redirects=False, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Encoding": "gzip"})
    assert r.status == 413  # aiohttp inflates the body as it streams; the cap stops it
    assert snapshot(web) == before


async def test_upload_csrf_and_malformed_forms(web):
    await web.sign_in(LEAD)
    before = snapshot(web)
    data = glossary_csv(web, new_id="web.gripper")
    assert (await upload(web, "g.csv", data, csrf="")).status == 403
    assert (await upload(web, "g.csv", data, csrf="forged")).status == 403
    r = await web.client.post("/files/preview", data={"csrf": await web.csrf()}, allow_redirects=False)
    assert r.status == 400  # not multipart
    form = aiohttp.FormData()
    form.add_field("csrf", await web.csrf())
    r = await web.client.post("/files/preview", data=form, allow_redirects=False)
    assert r.status in (400, 422)  # no file
    huge = aiohttp.FormData()
    huge.add_field("csrf", "x" * 10_000)
    huge.add_field("file", b"id,en\n", filename="g.csv")
    assert (await web.client.post("/files/preview", data=huge, allow_redirects=False)).status == 413
    for path in ("/files/commit", "/files/discard"):
        assert (await web.client.post(path, data={"token": "x"}, allow_redirects=False)).status == 403
    assert snapshot(web) == before


async def test_more_entries_than_a_web_import_takes_go_to_the_cli(web, monkeypatch):
    monkeypatch.setattr(imports, "MAX_ITEMS", 3)
    await web.sign_in(LEAD)
    before = snapshot(web)
    r = await upload(web, "big.csv", glossary_csv(web))
    assert r.status == 422 and "more than the 3 a web import takes" in await r.text()
    assert snapshot(web) == before
