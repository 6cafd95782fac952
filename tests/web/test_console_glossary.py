"""The console's glossary editor (/glossary) through aiohttp's test client,
on a real seeded database: roles on every route, CSRF on every form,
hostile input, review per language, conflicts, revert, merge, proposals."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from bot.knowledge import suggestions, termbase as tb
from bot.people import directory
from glossary import store as gstore

from .conftest import ADMIN, LEAD, OPERATOR, csrf_of

TRAINER = 1004
ROLES = {"operator": OPERATOR, "trainer": TRAINER, "lead": LEAD, "admin": ADMIN}

GETS = {  # path: the lowest role that may open it
    "/glossary": "trainer",
    "/glossary?q=%E6%B6%82%E5%B8%83": "trainer",
    "/glossary/c/coater": "trainer",
    "/glossary/c/coater/edit?lang=ms": "trainer",
    "/glossary/c/coater/edit?lang=general": "trainer",
    "/glossary/new": "trainer",
    "/glossary/queue": "trainer",
    "/glossary/c/coater/merge": "lead",
    "/glossary/speakers": "lead",
}
RANK = ["operator", "trainer", "lead", "admin"]


def add_trainer(web, lang: str = "zh") -> None:
    web.app.storage.write(lambda d: directory._admit(d, TRAINER, "trainer", now=directory._now(None), seen=True,
                                                     actor="system", via="tests", name="Tian"))
    web.app.storage.write(directory.set_language, TRAINER, lang)


async def signed_in(web, role: str):
    """A browser session of its own for ``role``; returns (session, csrf)."""
    s = web.session()
    token = web.link(ROLES[role])
    page = await s.get(f"/signin/{token}")
    r = await s.post(f"/signin/{token}", data={"csrf": csrf_of(await page.text())}, allow_redirects=False)
    assert r.status == 303
    page = await s.get("/ask")
    return s, csrf_of(await page.text())


def concept(web, cid: str = "coater"):
    return web.app.storage.read(tb.get, cid)


def ms_form(c, csrf: str, texts: list[tuple[str, str]], definition: str = "", version=None) -> dict:
    data = {"csrf": csrf, "version": str(c.version if version is None else version), "lang": "ms",
            "definition": definition}
    for i, (text, type_) in enumerate(texts):
        data.update({f"text_{i}": text, f"type_{i}": type_, f"pos_{i}": "noun", f"gender_{i}": ""})
    return data


# -- roles: each role tries each request ------------------------------------------

@pytest.mark.parametrize("path", GETS)
async def test_each_role_on_each_page(web, path):
    add_trainer(web)
    r = await web.client.get(path)
    assert r.status == 401  # a stranger: the sign-in page
    for role in RANK:
        s, _ = await signed_in(web, role)
        async with s:
            r = await s.get(path)
            allowed = RANK.index(role) >= RANK.index(GETS[path])
            assert r.status == (200 if allowed else 403), (role, path, r.status)
            if not allowed:  # the trainer reads Chinese
                assert ("Your role cannot open this page." if role != "trainer" else "你的角色无法打开此页面")\
                    in await r.text()


def posts(c, csrf: str, other: str) -> dict[str, tuple[dict, str]]:
    """Every POST of the editor with a valid form: (form, lowest role that may)."""
    return {
        f"/glossary/c/{c.id}/edit": (ms_form(c, csrf, [("mesin salut X", "preferred")]), "trainer"),
        f"/glossary/c/{c.id}/review": ({"csrf": csrf, "lang": "zh", "version": str(c.version)}, "trainer"),
        f"/glossary/c/{c.id}/deprecate": ({"csrf": csrf, "version": str(c.version), "lang": "fr",
                                           "text": "coater"}, "trainer"),
        f"/glossary/c/{c.id}/merge": ({"csrf": csrf, "version": str(c.version), "other": other}, "lead"),
        f"/glossary/c/{c.id}/revert": ({"csrf": csrf, "change": "1"}, "lead"),
        "/glossary/new": ({"csrf": csrf, "term_en": "flux gate widget", "category": "general"}, "trainer"),
        "/glossary/speakers": ({"csrf": csrf, "person": str(TRAINER), "lang_ko": "1"}, "lead"),
    }


def glossary_state(web):
    return web.app.storage.read(lambda db: (
        gstore.glossary_rev(db),
        db.execute("SELECT count(*) FROM concept_review").fetchone()[0],
        db.execute("SELECT count(*) FROM person_language").fetchone()[0]))


async def test_an_operator_changes_nothing_by_any_post(web):
    add_trainer(web)
    before = glossary_state(web)
    s, csrf = await signed_in(web, "operator")
    async with s:
        for path, (data, _) in posts(concept(web), csrf, "coating").items():
            r = await s.post(path, data=data, allow_redirects=False)
            assert r.status == 403, path
    assert glossary_state(web) == before
    assert web.app.storage.read(suggestions.list_pending) == []


async def test_a_trainer_cannot_do_a_leads_action_and_proposes_the_rest(web):
    add_trainer(web, lang="zh")
    before_rev = glossary_state(web)[0]
    s, csrf = await signed_in(web, "trainer")
    c = concept(web)
    async with s:
        for path, (data, lowest) in posts(c, csrf, "coating").items():
            r = await s.post(path, data=data, allow_redirects=False)
            if lowest == "lead":
                assert r.status == 403, path
            else:
                assert r.status == 303, (path, r.status, await r.text())
    # The edits became suggestions; the glossary's content is unchanged
    # (the review of zh is the trainer's own right as a Chinese speaker).
    after = concept(web)
    assert after.key() == c.key() and after.version == c.version
    assert set(after.reviews) == {"zh"}
    pending = web.app.storage.read(tb.pending_proposals)
    assert {p.action for p in pending} == {"edit", "deprecate", "create"}
    assert web.app.storage.read(tb.get, "flux-gate-widget") is None
    assert glossary_state(web)[2] == 0  # no speaker declared
    assert glossary_state(web)[0] == before_rev


@pytest.mark.parametrize("role", ["operator", "trainer", "lead"])
async def test_every_post_needs_the_session_csrf(web, role):
    add_trainer(web)
    before = glossary_state(web)
    s, csrf = await signed_in(web, role)
    async with s:
        for path, (data, _) in posts(concept(web), csrf, "coating").items():
            for forged in (None, "wrong", csrf[:-1]):
                bad = {k: v for k, v in data.items() if k != "csrf"}
                if forged is not None:
                    bad["csrf"] = forged
                r = await s.post(path, data=bad, allow_redirects=False)
                assert r.status == 403, (role, path, forged)
    assert glossary_state(web) == before


async def test_a_stranger_posts_nothing(web):
    for path, (data, _) in posts(concept(web), "x", "coating").items():
        r = await web.client.post(path, data=data, allow_redirects=False)
        assert r.status == 401, path


# -- a lead's edit, review per language ----------------------------------------------

async def test_lead_edits_malay_then_a_speaker_reviews_and_an_edit_unreviews(web):
    s, csrf = await signed_in(web, "lead")
    c = concept(web)
    async with s:
        r = await s.post("/glossary/c/coater/edit", data=ms_form(
            c, csrf, [("mesin penyalut", "preferred"), ("coater", "admitted")], "Mesin yang menyalut kerajang."),
            allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/glossary/c/coater?done=saved"
        now = concept(web)
        assert now.version == c.version + 1
        assert [(t.text, t.type) for t in now.terms_in("ms")] == [("mesin penyalut", "preferred"),
                                                                   ("coater", "admitted")]
        assert now.definitions["ms"] == "Mesin yang menyalut kerajang."
        assert [t for t in now.terms if t.lang != "ms"] == [t for t in c.terms if t.lang != "ms"]
        # The lead's interface is English: not a Malay speaker yet.
        r = await s.post("/glossary/c/coater/review", data={"csrf": csrf, "lang": "ms", "version": str(concept(web).version)}, allow_redirects=False)
        assert r.status == 403 and "Only a speaker" in await r.text()
        # Declared on the speakers page (a lead may declare their own).
        r = await s.post("/glossary/speakers", data={"csrf": csrf, "person": str(LEAD), "lang_ms": "1"},
                         allow_redirects=False)
        assert r.status == 303
        page = await (await s.get("/glossary/c/coater")).text()
        assert "Mark Bahasa Melayu reviewed" in page and "Mark 中文 reviewed" not in page
        r = await s.post("/glossary/c/coater/review", data={"csrf": csrf, "lang": "ms", "version": str(concept(web).version)}, allow_redirects=False)
        assert r.status == 303
        assert set(concept(web).reviews) == {"ms"}
        assert web.app.storage.read(tb.review_counts)["ms"]["reviewed"] == 1
        page = await (await s.get("/glossary/c/coater")).text()
        assert "Reviewed by Lina on" in page
        # A French edit leaves Malay reviewed; a Malay one puts it back to draft.
        v = concept(web).version
        fr = {"csrf": csrf, "version": str(v), "lang": "fr", "definition": "Machine d'enduction.",
              "text_0": "enduiseuse", "type_0": "preferred", "pos_0": "noun", "gender_0": "f"}
        assert (await s.post("/glossary/c/coater/edit", data=fr, allow_redirects=False)).status == 303
        assert set(concept(web).reviews) == {"ms"}
        assert (await s.post("/glossary/c/coater/edit", data=ms_form(concept(web), csrf, [("mesin penyalut", "preferred")]),
                             allow_redirects=False)).status == 303
        assert concept(web).reviews == {}
        # The history names who and when, with the change.
        page = await (await s.get("/glossary/c/coater")).text()
        assert "mesin penyalut (preferred)" in html.unescape(page) and "Lina" in page


async def test_an_import_also_puts_a_changed_language_back_to_draft(web):
    editor = tb.cli_editor("tests")
    web.app.storage.write(tb.review, editor, "coater", "ko")
    web.app.storage.write(tb.review, editor, "coater", "zh")
    c = concept(web)
    changed = [t if t.lang != "ko" or t.type != "preferred" else type(t)("ko", "코팅 머신", "preferred", "noun")
               for t in c.terms]
    from dataclasses import replace

    report = gstore.import_in_batches(web.app.storage.write, [replace(c, terms=changed)], "tests")
    assert report.updated == 1
    assert set(concept(web).reviews) == {"zh"}


# -- concurrency ---------------------------------------------------------------

async def test_two_leads_editing_one_concept_the_second_gets_a_conflict(web):
    a, csrf_a = await signed_in(web, "lead")
    b, csrf_b = await signed_in(web, "admin")
    async with a, b:
        form_a = csrf_of(await (await a.get("/glossary/c/coater/edit?lang=ms")).text())
        form_b = csrf_of(await (await b.get("/glossary/c/coater/edit?lang=ms")).text())
        c = concept(web)  # both forms carry this version
        r = await a.post("/glossary/c/coater/edit", data=ms_form(c, form_a, [("mesin salut Lina", "preferred")]),
                         allow_redirects=False)
        assert r.status == 303
        r = await b.post("/glossary/c/coater/edit", data=ms_form(c, form_b, [("mesin salut Admin", "preferred")]),
                         allow_redirects=False)
        assert r.status == 409
        page = html.unescape(await r.text())
        assert "Someone else changed this concept" in page
        assert "mesin salut Lina (preferred)" in page  # the other's change, shown
        assert 'value="mesin salut Admin"' in page  # what this person typed is kept
        assert [t.text for t in concept(web).terms_in("ms")] == ["mesin salut Lina"]
        # Saving again from the conflict page (it carries the new version) wins, knowingly.
        version = re.search(r'name="version" value="(\d+)"', page).group(1)
        r = await b.post("/glossary/c/coater/edit", data=ms_form(c, csrf_b, [("mesin salut Admin", "preferred")],
                                                                  version=version), allow_redirects=False)
        assert r.status == 303
        assert [t.text for t in concept(web).terms_in("ms")] == ["mesin salut Admin"]


async def test_a_stale_deprecate_or_merge_is_a_conflict_too(web):
    s, csrf = await signed_in(web, "lead")
    c = concept(web)
    web.app.storage.write(tb.edit_general, tb.cli_editor("other"), "coater", c.version, notes="changed meanwhile")
    async with s:
        for path, data in ((f"/glossary/c/coater/deprecate", {"lang": "fr", "text": "coater"}),
                           (f"/glossary/c/coater/merge", {"other": "coating"})):
            r = await s.post(path, data={"csrf": csrf, "version": str(c.version), **data}, allow_redirects=False)
            assert r.status == 409, path
            assert "changed meanwhile" in await r.text()
    assert web.app.storage.read(tb.get, "coating") is not None


# -- hostile input -----------------------------------------------------------------

HOSTILE_TERMS = ["", " ", "a" * 10_000, "<script>alert(1)</script>", '"NEAR(a b) OR col:x*', "tab\u200bx",
                 "\u200b\u200d", "涂布 coater 코터 mesin", "x|y", "\x00\x01"]


@pytest.mark.parametrize("text", HOSTILE_TERMS)
async def test_hostile_terms_in_the_edit_form(web, text):
    s, csrf = await signed_in(web, "lead")
    c = concept(web)
    async with s:
        r = await s.post("/glossary/c/coater/edit", data=ms_form(c, csrf, [(text, "preferred")]),
                         allow_redirects=False)
        assert r.status in (303, 400), r.status
        body = await r.text()
        assert "<script>alert" not in body
        now = concept(web)
        if r.status == 400:
            assert now.version == c.version and now.key() == c.key()
        else:
            [term] = now.terms_in("ms") or [None]
            if term is not None:  # stored cleaned: no zero-width, no control characters
                assert "\u200b" not in term.text and term.text.isprintable() and len(term.text) <= 120
            page = await (await s.get("/glossary/c/coater")).text()
            assert "<script>alert" not in page
        # whatever was stored, the bot's search still answers
        assert web.app.storage.read(lambda db: None) is None
        assert (await s.get("/glossary", params={"q": text[:150]})).status in (200, 400)


@pytest.mark.parametrize("field,value", [
    ("definition", "d" * 10_000), ("version", "１"), ("version", "-1"), ("version", ""), ("type_0", "boss"),
    ("pos_0", "<b>"), ("gender_0", "f"), ("lang", "xx"), ("lang", "<script>"), ("text_0", "ok\u202etxt")])
async def test_hostile_fields_are_refused_or_cleaned(web, field, value):
    s, csrf = await signed_in(web, "lead")
    c = concept(web)
    async with s:
        data = ms_form(c, csrf, [("mesin salut", "preferred")])
        data[field] = value
        r = await s.post("/glossary/c/coater/edit", data=data, allow_redirects=False)
        assert r.status in (303, 400)
        if field == "text_0":
            assert [t.text for t in concept(web).terms_in("ms")] == ["oktxt"]
        else:
            assert r.status == 400, (field, value)
            assert concept(web).version == c.version
            assert "<script>" not in await r.text()


@pytest.mark.parametrize("cid", ["nope", "<script>", "coater%00", "a" * 200, "..%2F..%2Fetc", "１"])
async def test_forged_concept_ids(web, cid):
    s, csrf = await signed_in(web, "lead")
    async with s:
        r = await s.get(f"/glossary/c/{cid}")
        assert r.status == 404 and "No such concept." in await r.text()
        r = await s.post(f"/glossary/c/{cid}/review", data={"csrf": csrf, "lang": "en", "version": "1"},
                         allow_redirects=False)
        assert r.status == 404
        r = await s.post("/glossary/c/coater/merge", data={"csrf": csrf, "version": str(concept(web).version),
                                                            "other": cid}, allow_redirects=False)
        assert r.status == 400 and "No such concept." in await r.text()
        r = await s.post("/glossary/c/coater/revert", data={"csrf": csrf, "change": "99999999"},
                         allow_redirects=False)
        assert r.status == 400 and "No such change." in await r.text()
        r = await s.post("/glossary/speakers", data={"csrf": csrf, "person": "99999999", "lang_ms": "1"},
                         allow_redirects=False)
        assert r.status == 400


@pytest.mark.parametrize("q", ['"NEAR(', "col:x AND", "<script>", "\u200b", "涂布 coater", "*", "a" * 10_000])
async def test_hostile_searches_and_filters(web, q):
    s, _ = await signed_in(web, "lead")
    async with s:
        r = await s.get("/glossary", params={"q": q, "category": "<x>", "lang": "zz", "state": "'", "page": "²"})
        assert r.status == (400 if len(q) > 200 else 200)
        assert "<script>" not in (await r.text()).split("<main", 1)[1]


async def test_new_concept_form_hostile(web):
    s, csrf = await signed_in(web, "lead")
    async with s:
        for data, expect in (({"term_en": ""}, 400), ({"term_en": "x" * 500}, 400),
                             ({"term_en": "ok thing", "category": "nope"}, 400),
                             ({"term_en": "coater", "concept_id": "coater"}, 400),
                             ({"term_en": "ok thing", "concept_id": "1bad id"}, 400),
                             ({"term_zh": "<b>粗</b>"}, 303)):
            r = await s.post("/glossary/new", data={"csrf": csrf, **data}, allow_redirects=False)
            assert r.status == expect, (data, r.status)
            assert "<b>粗" not in await r.text()


# -- the bot's search, browse filters ------------------------------------------------

async def test_search_is_the_bots_search_and_filters_apply(web):
    editor = tb.cli_editor("tests")
    web.app.storage.write(tb.review, editor, "coating", "ms")
    s, _ = await signed_in(web, "lead")
    async with s:
        page = await (await s.get("/glossary", params={"q": "塗佈機"})).text()  # Traditional → 涂布机
        assert 'href="/glossary/c/coater"' in page
        page = await (await s.get("/glossary", params={"lang": "ms", "state": "reviewed"})).text()
        assert re.findall(r'href="/glossary/c/([^"]+)"', page) == ["coating"]
        page = await (await s.get("/glossary", params={"q": "涂布", "lang": "ms", "state": "draft"})).text()
        assert 'href="/glossary/c/coating"' not in page and 'href="/glossary/c/coater"' in page
        page = await (await s.get("/glossary", params={"category": "safety", "equipment": "1"})).text()
        ids = re.findall(r'href="/glossary/c/([^"]+)"', page)
        concepts = web.app.storage.read(lambda db: gstore.load_concepts(db, ids))
        assert ids and all(c.category == "safety" and c.equipment for c in concepts.values())


# -- deprecate, revert, merge ---------------------------------------------------------

async def test_deprecate_keeps_the_term_findable_and_points_to_the_preferred(web):
    s, csrf = await signed_in(web, "lead")
    c = concept(web)
    old_pref = c.preferred("ms").text
    heir = next(t.text for t in c.terms_in("ms") if t.type == "admitted")
    async with s:
        r = await s.post("/glossary/c/coater/deprecate", data={"csrf": csrf, "version": str(c.version),
                                                               "lang": "ms", "text": old_pref}, allow_redirects=False)
        assert r.status == 303
    now = concept(web)
    assert now.preferred("ms").text == heir
    assert ("ms", old_pref, "deprecated") in {(t.lang, t.text, t.type) for t in now.terms}
    found = web.app.storage.read(lambda db: web.app.glossary.search(old_pref, lang="ms"))
    assert found[0].concept.id == "coater" and found[0].matched.type == "deprecated"


async def test_revert_one_change_leaves_later_ones_of_other_parts(web):
    editor = tb.cli_editor("tests")
    c = concept(web)
    first = web.app.storage.write(tb.edit_language, editor, "coater", c.version, "ms",
                                  [tb.make_term("ms", "mesin A", "preferred")], None)
    web.app.storage.write(tb.edit_general, editor, "coater", first.version, notes="later note")
    ms_change = next(ch for ch in web.app.storage.read(tb.changes, "coater") if ch.lines and ch.lines[0][1] == "ms")
    s, csrf = await signed_in(web, "lead")
    async with s:
        r = await s.post("/glossary/c/coater/revert", data={"csrf": csrf, "change": str(ms_change.id)},
                         allow_redirects=False)
        assert r.status == 303
        now = concept(web)
        assert now.terms_in("ms") == c.terms_in("ms") and now.notes == "later note"
        # The seed's own row holds no earlier state: said so, nothing changed.
        seed_row = web.app.storage.read(lambda db: db.execute(
            "SELECT id FROM audit WHERE entity = 'concept' AND entity_id = 'coater' AND action = 'create'"
        ).fetchone()[0])
        page = await (await s.get("/glossary/c/coater")).text()
        assert "no earlier state was recorded" in page
        r = await s.post("/glossary/c/coater/revert", data={"csrf": csrf, "change": str(seed_row)},
                         allow_redirects=False)
        assert r.status == 400 and "no earlier state was recorded" in await r.text()


async def test_revert_refuses_when_a_later_change_touched_the_same_part(web):
    editor = tb.cli_editor("tests")
    c = concept(web)
    one = web.app.storage.write(tb.edit_general, editor, "coater", c.version, notes="one")
    web.app.storage.write(tb.edit_general, editor, "coater", one.version, notes="two")
    first = web.app.storage.read(tb.changes, "coater")[1]
    with pytest.raises(tb.Conflict):
        web.app.storage.write(tb.revert, editor, "coater", first.id)
    assert concept(web).notes == "two"


async def test_merge_moves_terms_and_fixes_and_the_old_page_leads_to_the_new(web):
    absorbed = web.app.storage.read(lambda db: db.execute(
        "SELECT equipment FROM fix GROUP BY equipment HAVING equipment != 'coater' LIMIT 1").fetchone()[0])
    fixes_before = web.app.storage.read(lambda db: [r[0] for r in db.execute(
        "SELECT id FROM fix WHERE equipment = ?", [absorbed])])
    old = concept(web, absorbed)
    s, csrf = await signed_in(web, "lead")
    async with s:
        page = await (await s.get("/glossary/c/coater/merge", params={"q": old.preferred("en").text})).text()
        assert f'value="{absorbed}"' in page
        r = await s.post("/glossary/c/coater/merge", data={"csrf": csrf, "version": str(concept(web).version),
                                                            "other": absorbed}, allow_redirects=False)
        assert r.status == 303
        r = await s.get(f"/glossary/c/{absorbed}", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/glossary/c/coater")
    now = concept(web)
    assert old.preferred("en").text in {t.text for t in now.terms_in("en")}
    assert web.app.storage.read(lambda db: [r[0] for r in db.execute(
        "SELECT id FROM fix WHERE equipment = 'coater' AND id IN (%s)" % ",".join(map(str, fixes_before)))]) \
        == fixes_before
    # ... and the merge is reverted as one change: both concepts as they were.
    merge_row = web.app.storage.read(tb.changes, "coater")[0]
    assert merge_row.action == "merge"
    web.app.storage.write(tb.revert, tb.cli_editor("tests"), "coater", merge_row.id)
    assert concept(web, absorbed).key() == old.key()
    assert web.app.storage.read(lambda db: db.execute(
        "SELECT count(*) FROM fix WHERE equipment = ?", [absorbed]).fetchone()[0]) == len(fixes_before)


# -- proposals, suggestions, missing terms -------------------------------------------

async def test_a_trainers_proposal_is_opened_prefilled_and_applied_by_a_lead(web):
    add_trainer(web, lang="en")
    t, tcsrf = await signed_in(web, "trainer")
    c = concept(web)
    async with t:
        page = await (await t.get("/glossary/c/coater/edit?lang=ms")).text()
        assert "your change goes to the leads as a suggestion" in page and ">Propose<" in page
        r = await t.post("/glossary/c/coater/edit", data=ms_form(c, tcsrf, [("mesin salutan kerajang", "preferred")]),
                         allow_redirects=False)
        assert r.status == 303 and "proposed=" in r.headers["Location"]
        sid = int(r.headers["Location"].rsplit("=", 1)[1])
        page = await (await t.get(r.headers["Location"])).text()
        assert f"suggestion #{sid}" in page
    assert concept(web).key() == c.key()
    s, csrf = await signed_in(web, "lead")
    async with s:
        queue = html.unescape(await (await s.get("/glossary/queue")).text())
        assert f"/glossary/c/coater/edit?lang=ms&proposal={sid}" in queue and 'href="/review"' in queue
        page = await (await s.get(f"/glossary/c/coater/edit?lang=ms&proposal={sid}")).text()
        assert 'value="mesin salutan kerajang"' in page
        data = ms_form(concept(web), csrf, [("mesin salutan kerajang", "preferred")])
        data["proposal"] = str(sid)
        assert (await s.post("/glossary/c/coater/edit", data=data, allow_redirects=False)).status == 303
    assert concept(web).preferred("ms").text == "mesin salutan kerajang"
    assert web.app.storage.read(suggestions.get, sid).status == "approved"


async def test_missing_terms_most_asked_first_with_add_as_a_concept(web):
    s, csrf = await signed_in(web, "lead")
    async with s:
        for q in ("flux widget", "flux widget", "zorblax"):
            await s.get("/ask", params={"q": q, "mode": "term"})
        await web.app.storage.awrite(lambda db: None)  # the queued missing-term rows are written
        queue = await (await s.get("/glossary/queue")).text()
        assert queue.index("flux widget") < queue.index("zorblax")
        assert "/glossary/new?term=flux%20widget" in queue
        page = await (await s.get("/glossary/new?term=flux%20widget")).text()
        assert 'value="flux widget"' in page
        r = await s.post("/glossary/new", data={"csrf": csrf, "term_en": "flux widget", "term_fr": "widget de flux",
                                                "category": "general"}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/glossary/c/flux-widget?done=added"
    found = web.app.storage.read(lambda db: web.app.glossary.lookup("flux widget"))
    assert found.results[0].concept.id == "flux-widget"


def test_every_editor_message_is_in_the_catalogues():
    """The service's refusals are shown on the web through the catalogues."""
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2]
    src = (root / "bot" / "knowledge" / "termbase.py").read_text()
    ids = set(re.findall(r'(?:EditError|NotAllowed)\(\s*"((?:[^"\\]|\\.)*)"', src))
    ids |= {tb.Conflict.EDITED, tb.Conflict.LATER, "definition", "source", "notes"}
    assert len(ids) > 20
    for lang in ("fr", "zh", "ko", "ms", "en"):
        with (root / "bot" / "locales" / lang / "LC_MESSAGES" / "shopbot.po").open("rb") as f:
            catalog = read_po(f, locale=lang)
        missing = sorted(i for i in ids if i not in catalog or (lang != "en" and not catalog[i].string))
        assert missing == [], lang


def test_review_counts_for_the_dashboard(storage):
    counts = storage.read(tb.review_counts)
    assert set(counts) == {"zh", "ko", "ms", "fr", "en"}
    assert counts["ms"]["reviewed"] == 0 and counts["ms"]["draft"] == counts["ms"]["concepts"] > 600
    storage.write(tb.review, tb.cli_editor("t"), "coater", "ms")
    assert storage.read(tb.review_counts)["ms"]["reviewed"] == 1
    assert json.dumps(counts)  # plain data


async def test_people_of_the_web_only_propose_decide_and_review(web):
    """Ids from 2**53 (no Telegram): a web trainer's proposal, a web lead's
    decision, a declared language and the names in the history."""
    from bot.people import signin

    trainer = web.app.storage.write(signin.create_web_person, "trainer", name="Wen", lang="en")
    lead = web.app.storage.write(signin.create_web_person, "lead", name="Lea", lang="en")
    assert trainer.user_id > 2**53
    ROLES_WEB = {"trainer": trainer.user_id, "lead": lead.user_id}
    sessions = {}
    for role, pid in ROLES_WEB.items():
        s = web.session()
        token = web.link(pid)
        page = await s.get(f"/signin/{token}")
        await s.post(f"/signin/{token}", data={"csrf": csrf_of(await page.text())})
        sessions[role] = (s, csrf_of(await (await s.get("/ask")).text()))
    (t, tcsrf), (s, csrf) = sessions["trainer"], sessions["lead"]
    async with t, s:
        c = concept(web)
        r = await t.post("/glossary/c/coater/edit", data=ms_form(c, tcsrf, [("mesin salut Wen", "preferred")]),
                         allow_redirects=False)
        assert r.status == 303 and "proposed=" in r.headers["Location"]
        sid = int(r.headers["Location"].rsplit("=", 1)[1])
        r = await s.post("/glossary/speakers", data={"csrf": csrf, "person": str(trainer.user_id), "lang_ms": "1"},
                         allow_redirects=False)
        assert r.status == 303
        data = ms_form(concept(web), csrf, [("mesin salut Wen", "preferred")])
        data["proposal"] = str(sid)
        assert (await s.post("/glossary/c/coater/edit", data=data, allow_redirects=False)).status == 303
        assert web.app.storage.read(suggestions.get, sid).status == "approved"
        r = await t.post("/glossary/c/coater/review", data={"csrf": tcsrf, "lang": "ms",
                                                            "version": str(concept(web).version)},
                         allow_redirects=False)
        assert r.status == 303
        page = await (await s.get("/glossary/c/coater")).text()
        assert "Reviewed by Wen" in page and "Lea" in page


async def test_a_review_of_a_concept_changed_since_it_was_read_is_a_conflict(web):
    """The reviewer approves what they read: a Malay edit made meanwhile
    must not be marked reviewed unseen."""
    s, csrf = await signed_in(web, "lead")
    web.app.storage.write(tb.set_speaker_langs, tb.cli_editor("t"), LEAD, ["ms"])
    read = concept(web).version
    web.app.storage.write(tb.edit_language, tb.cli_editor("other"), "coater", read, "ms",
                          [tb.make_term("ms", "mesin tanpa semakan", "preferred")], None)
    async with s:
        r = await s.post("/glossary/c/coater/review", data={"csrf": csrf, "lang": "ms", "version": str(read)},
                         allow_redirects=False)
        assert r.status == 409 and "mesin tanpa semakan" in await r.text()
        r = await s.post("/glossary/c/coater/review", data={"csrf": csrf, "lang": "ms"}, allow_redirects=False)
        assert r.status == 400  # no version: not read
    assert concept(web).reviews == {}


@pytest.mark.parametrize("path", [
    "/glossary/new?term=" + "x" * 10_000, "/glossary/new?term=%3Cscript%3E&lang=%3Cb%3E",
    "/glossary/new?proposal=%C2%B2", "/glossary/new?proposal=99999999",
    "/glossary/c/coater/edit?lang=%3Cscript%3E&proposal=abc", "/glossary/c/coater/edit?lang=ms&proposal=99999",
    "/glossary/c/coater/merge?q=%22NEAR(", "/glossary?page=99999", "/glossary?page=-1&q=%E2%80%8B"])
async def test_hostile_query_strings_on_the_pages(web, path):
    s, _ = await signed_in(web, "lead")
    async with s:
        r = await s.get(path)
        assert r.status in (200, 400), (path, r.status)
        assert "<script>" not in (await r.text()).split("<main", 1)[1]
