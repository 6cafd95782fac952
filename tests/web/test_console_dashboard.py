"""/dashboard (issue 12, item 5): real activity recorded through the services
(web lookups, translations, fix searches, votes, memory units), then the
numbers checked in the page's tables, its SVG charts and ``shopbot stats
--json``; who may open it; hostile date ranges."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.insight import dashboard, usage
from bot.insight.dashboard import MAX_DAYS, PeriodError, Period, figures, parse_period
from bot.knowledge import fixes, termbase
from bot.people import directory, signin
from bot.translation import memory
from bot.web import charts

from .conftest import ADMIN, LEAD, OPERATOR

TRAINER = 1004


def flushed(app) -> None:
    """The usage counts are written a second after the first one: now, here."""
    app.usage.flush()


def today() -> str:
    return dashboard.utc_today().isoformat()


def table_after(html: str, caption: str) -> str:
    """The HTML of the table whose caption is ``caption``."""
    start = html.index(f"<caption>{caption}</caption>")
    return html[start:html.index("</table>", start)]


def row_of(table: str, label: str) -> list[str]:
    m = re.search(rf"<tr><th scope=\"row\">{re.escape(label)}</th>(.*?)</tr>", table, re.S)
    assert m, f"no row {label}"
    return re.findall(r"<td>([^<]*)</td>", m.group(1))


def svg(html: str, chart_id: str) -> str:
    start = html.index(f'<svg class="chart" id="{chart_id}"')
    return html[start:html.index("</svg>", start) + 6]


async def activity(web) -> None:
    """An operator (interface in French) uses the web app: three lookups
    (one finds nothing), two translations (memory, glossary), a search
    that finds a fix by its code; then votes and a memory unit."""
    web.app.storage.write(signin.set_web_language, OPERATOR, "fr")
    async with web.session() as op:
        await web.sign_in(OPERATOR, client=op)
        for q in ("涂布", "calandrage", "zzqxvw"):
            assert (await op.get("/ask", params={"q": q, "mode": "term"})).status == 200
        for q in ("Stop the machine.", "涂布机"):
            r = await op.get("/ask", params={"q": q, "mode": "translate", "to": "zh" if q[0] == "S" else "fr"})
            assert r.status == 200
        code = json.loads(web.app.storage.read(lambda db: db.execute(
            "SELECT codes FROM fix WHERE status = 'approved' AND codes != '[]' ORDER BY id LIMIT 1").fetchone()[0]))[0]
        for _ in range(2):
            assert (await op.get("/ask", params={"q": code, "mode": "fix"})).status == 200
        assert (await op.get("/ask", params={"q": "qqxxzz nowhere", "mode": "fix"})).status == 200
    web.app.storage.write(fixes.feedback, 1, OPERATOR, True)
    web.app.storage.write(fixes.feedback, 1, LEAD, True)
    web.app.storage.write(fixes.feedback, 2, OPERATOR, False)
    web.app.storage.write(memory.add_unit, {"fr": "Vérifiez la languette.", "en": "Check the tab."},
                          status="unreviewed", origin="correction", actor="tests")
    flushed(web.app)


async def test_recorded_activity_shows_in_tables_charts_and_cli(web):
    before = web.app.storage.read(figures, parse_period())
    await activity(web)
    f = web.app.storage.read(figures, parse_period())
    assert f.lookups.groups["fr"][-1] == before.lookups.groups["fr"][-1] + 3
    assert f.translations.groups["zh"][-1] == 1 and f.translations.groups["fr"][-1] == 1
    assert f.totals["missing_terms"] == 1 and f.missing_terms == [("zzqxvw", 1)]
    assert f.fix_searches.groups["fr"][-1] == 3
    assert f.top_searches[0][1] == 2 and ("qqxxzz nowhere", 1) in f.unanswered_fixes
    assert [(u.id, u.worked, u.failed) for u in f.useful_fixes] == [(1, 2, 0)]  # fix 2 only failed
    assert f.memory.groups["correction"][-1] == 1 and f.memory_total == before.memory_total + 1

    await web.sign_in(LEAD)
    r = await web.client.get("/dashboard")
    assert r.status == 200
    html = await r.text()
    # the numbers in the tables beside the charts
    lookups = table_after(html, "Lookups per day, by the asker&#39;s language")
    assert row_of(lookups, today()) == ["0", "0", "0", "3", "0", "3"]  # zh ko ms fr en total
    translations = table_after(html, "Translations per day, by target language")
    assert row_of(translations, today()) == ["1", "0", "0", "1", "0", "2"]
    assert "zzqxvw" in table_after(html, "Glossary lookups that found no concept")
    assert "qqxxzz nowhere" in table_after(html, "Fix searches that found no fix")
    useful = table_after(html, "Most useful fixes")
    assert '<a href="/fix/1">#1 ' in useful and "/fix/2" not in useful
    grown = table_after(html, "Translation memory growth")
    assert row_of(grown, today())[2] == "1"  # phrasebook, tmx, correction, manual, total, running
    # the same numbers in the charts: accessible, one pattern per language
    chart = svg(html, "c-lookups")
    assert 'role="img"' in chart and 'aria-labelledby="c-lookups-t c-lookups-d"' in chart
    assert "<title id=\"c-lookups-t\">Lookups per day, by the asker&#39;s language</title>" in chart
    assert f"{f.lookups.total} in all from {f.start} to {f.end}." in chart
    assert chart.count("<pattern ") == 5 and f"<title>{today()}: 3</title>" in chart
    assert f"<title>{today()}: 2</title>" in svg(html, "c-translations")
    assert "zzqxvw: 1" in svg(html, "c-missing")
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # the command line reads the same service: the same figures
    result = CliRunner().invoke(cli, ["--db", str(web.app.settings.db), "stats", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out == json.loads(json.dumps(f.to_json()))
    assert out["lookups"]["groups"]["fr"][-1] == 3 and out["totals"]["translations"] == 2


async def test_review_progress_per_language_comes_from_the_glossary_review(web):
    # Two concepts marked reviewed in French by a speaker (the glossary
    # editor's service), one in Malay: the table, the chart and the figures agree.
    editor = termbase.cli_editor("tests")
    for concept_id, lang in (("coater", "fr"), ("calender", "fr"), ("coater", "ms")):
        web.app.storage.write(termbase.review, editor, concept_id, lang)
    await web.sign_in(ADMIN)
    html = await (await web.client.get("/dashboard")).text()
    assert 'id="review-progress"' not in html
    coverage = table_after(html, "Glossary coverage and review, per language")
    f = web.app.storage.read(figures, parse_period())
    fr, ms, zh = f.coverage[3], f.coverage[2], f.coverage[0]
    assert (fr.lang, fr.reviewed, ms.reviewed, zh.reviewed) == ("fr", 2, 1, 0)
    assert row_of(coverage, "Français") == [str(fr.with_preferred), str(fr.percent), "2",
                                            str(fr.reviewed_percent), str(fr.concepts)]
    # the chart: two series, coverage and review, each with its own pattern
    chart = svg(html, "c-coverage")
    assert chart.count("<pattern ") == 2
    assert f"Français: {charts._number(fr.percent)}%, {charts._number(fr.reviewed_percent)}%" in chart
    # a later edit of the French terms sets French back to draft: the count drops
    concept = web.app.storage.read(termbase.get, "coater")
    terms = [termbase.make_term("fr", "enduiseuse", "preferred", "noun")] + [
        t for t in concept.terms_in("fr") if t.type != "preferred"]
    web.app.storage.write(termbase.edit_language, editor, "coater", concept.version, "fr", terms, None)
    assert web.app.storage.read(figures, parse_period()).coverage[3].reviewed == 1


@pytest.mark.parametrize("who", ["operator", "trainer", "kiosk"])
async def test_operators_trainers_and_kiosks_are_refused(web, who):
    if who == "trainer":
        web.app.storage.write(lambda d: directory._admit(d, TRAINER, "trainer", now=directory._now(None),
                                                         seen=True, actor="system", via="tests"))
        await web.sign_in(TRAINER)
    elif who == "kiosk":
        await web.sign_in(token=web.kiosk_link())
    else:
        await web.sign_in(OPERATOR)
    r = await web.client.get("/dashboard?from=2026-01-01")
    assert r.status == 403
    html = await r.text()
    assert "Your role cannot open this page." in html and "<svg" not in html
    assert 'href="/dashboard"' not in html  # and no link to it in the menu


async def test_a_stranger_sees_the_sign_in_page(web):
    r = await web.client.get("/dashboard")
    assert r.status == 401
    html = await r.text()
    assert "one-time link" in html and "<svg" not in html and "Lookups" not in html


async def test_leads_see_the_link_in_the_menu_in_their_language(web):
    web.app.storage.write(signin.set_web_language, LEAD, "ko")
    await web.sign_in(LEAD)
    html = await (await web.client.get("/dashboard")).text()
    assert '<a href="/dashboard" aria-current="page">대시보드</a>' in html
    assert "언어별 용어집 범위와 검토" in html and "번역 메모리 증가" in html


HOSTILE = [
    ({"from": "9" * 10_000}, "These dates could not be read"),
    ({"from": "-2026-01-01"}, "These dates could not be read"),
    ({"to": "-1"}, "These dates could not be read"),
    ({"from": "٢٠٢٦-٠١-٠١"}, "These dates could not be read"),  # Arabic-Indic digits
    ({"from": "２０２６-０１-０１"}, "These dates could not be read"),  # full-width digits
    ({"from": "2026-01-01\u200b"}, "These dates could not be read"),  # zero-width space
    ({"from": "2026-02-30"}, "These dates could not be read"),
    ({"from": "2026-01-01' OR 1=1 --"}, "These dates could not be read"),
    ({"to": "2026-01-01); DROP TABLE usage_count; --"}, "These dates could not be read"),
    ({"from": "<script>alert(1)</script>"}, "These dates could not be read"),
    ({"from": "0001-01-01", "to": "9999-12-31"}, f"at most {MAX_DAYS} days"),
    ({"from": "2026-03-01", "to": "2026-02-01"}, "ends before it starts"),
]


@pytest.mark.parametrize("params,message", HOSTILE)
async def test_hostile_dates_get_a_clear_message_and_the_default_period(web, params, message):
    await web.sign_in(LEAD)
    r = await web.client.get("/dashboard", params=params)
    assert r.status == 400
    html = await r.text()
    assert message in html and "Showing the last 30 days instead." in html
    assert "<script>alert" not in html
    default = parse_period()
    assert f'name="from" value="{default.start}"' in html and "c-lookups" in html
    # nothing was run as SQL: the table is still there
    assert web.app.storage.read(lambda db: db.execute("SELECT count(*) FROM usage_count").fetchone()) is not None


async def test_a_long_period_is_shown_per_week(web):
    await web.sign_in(LEAD)
    r = await web.client.get("/dashboard", params={"from": "2025-12-06", "to": "2026-12-05"})
    assert r.status == 200
    html = await r.text()
    assert "one bar per week" in html and "Week from" in html
    assert "2025-12-06" in html and "2025-12-08" in html  # the start, then Mondays
    assert "2025-12-07</th>" not in html


# -- the service and the chart module, directly ---------------------------------

def test_parse_period_defaults_and_limits():
    day = date(2026, 12, 5)
    assert parse_period(today=day) == Period(date(2026, 11, 6), day)
    assert parse_period("2026-12-01", today=day) == Period(date(2026, 12, 1), day)
    assert parse_period("", "2026-01-31", today=day) == Period(date(2026, 1, 2), date(2026, 1, 31))
    assert parse_period("2025-12-05", "2026-12-05").days == MAX_DAYS
    with pytest.raises(PeriodError):
        parse_period("2025-12-04", "2026-12-05")
    weekly = Period(date(2026, 1, 1), date(2026, 3, 31))
    assert weekly.weekly and weekly.buckets()[:3] == [date(2026, 1, 1), date(2026, 1, 5), date(2026, 1, 12)]
    assert weekly.bucket_of(date(2026, 1, 11)) == date(2026, 1, 5)


def test_counts_made_at_once_from_many_threads_are_all_written(storage):
    counter = usage.Usage(storage, delay=0.05)
    jobs = []
    submit = storage.submit
    storage.submit = lambda fn, *a, **kw: jobs.append(fn) or submit(fn, *a, **kw)

    def work():
        for _ in range(500):
            counter.looked_up("ko")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counter.add(usage.TRANSLATION, "xx")  # an unknown language is kept as ''
    deadline = time.monotonic() + 10
    while not storage.read(lambda db: db.execute("SELECT count(*) FROM usage_count").fetchone()[0]) == 2:
        assert time.monotonic() < deadline, "the counts were never written"
        time.sleep(0.02)
    rows = storage.read(lambda db: db.execute("SELECT kind, lang, n FROM usage_count ORDER BY kind").fetchall())
    assert rows == [("lookup", "ko", 2000), ("translation", "", 1)]
    assert len(jobs) <= 3  # 2,001 counts, a write or so (not one per count)
    counter.close()
    with pytest.raises(ValueError):
        counter.add("nonsense", "fr")


def test_counts_left_at_close_are_written(tmp_path, seeded_template):
    import shutil

    from bot.storage import Storage

    db = tmp_path / "close.db"
    shutil.copy(seeded_template, db)
    with Storage(db) as st:
        counter = usage.Usage(st, delay=3600)
        counter.looked_up("ms")
        counter.looked_up("ms")
        counter.close()
        counter.looked_up("ms")  # after close: kept in memory, never written, never raised
    with Storage(db) as st:
        assert st.read(lambda d: d.execute("SELECT n FROM usage_count WHERE lang = 'ms'").fetchone()) == (2,)


def test_charts_escape_text_and_pattern_every_series():
    bars = charts.stacked_bars("x", ["2026-12-01", "2026-12-02"], [("<b>fr</b>", [1, 2]), ("zh", [0, 3])],
                               title='Title "<script>', desc="Desc & more")
    assert "<script>" not in bars and "&lt;b&gt;fr&lt;/b&gt;" in bars and "Desc &amp; more" in bars
    assert bars.count("<pattern ") == 2 and 'fill="url(#x-p1)"' in bars
    assert "<title>2026-12-02: 5</title>" in bars
    rows = charts.hbars("y", [("涂布 <img src=x onerror=alert(1)>" * 3, [3])], ["Times"], title="t", desc="d")
    assert "<img" not in rows and "…" in rows
    empty = charts.stacked_bars("z", [], [], title="t", desc="d")
    assert empty.startswith('<svg class="chart" id="z"') and empty.endswith("</svg>")
    assert charts.nice_max(0) == (1, 1) and charts.nice_max(87) == (100, 20) and charts.nice_max(3) == (3, 1)


def test_the_cli_refuses_bad_dates(run):
    result = run("stats", "--from", "２０２６-０１-０１")
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
    result = run("stats", "--from", "2026-01-01", "--to", "2026-02-01", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["start"] == "2026-01-01" and len(data["lookups"]["labels"]) == 32 and data["unit"] == "day"
    assert [c["lang"] for c in data["coverage"]] == ["zh", "ko", "ms", "fr", "en"]
    assert data["coverage"][0]["reviewed"] == 0 and data["coverage"][0]["reviewed_percent"] == 0.0
    text = run("stats", "--from", (date.today() - timedelta(days=100)).isoformat())
    assert text.exit_code == 0 and "per week" in text.output
