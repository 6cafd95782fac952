"""``/dashboard``: the lead's figures (leads and admins), drawn as SVG on
the server, each chart with its numbers in a table beside it. The figures
come from ``bot.insight.dashboard.figures``, as ``shopbot stats`` does."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot.app import App
from bot.insight.dashboard import DEFAULT_DAYS, MAX_DAYS, PeriodError, figures, parse_period, utc_today
from bot.translation.memory import ORIGINS
from glossary import LANGS
from glossary.model import LANG_NAMES

from . import charts
from .server import APP, render, require

#: The quick choices above the form: the last N days to today.
SPANS = (7, DEFAULT_DAYS, 90, 365)


@require("lead")
async def dashboard(request: web.Request) -> web.Response:
    app: App = request.app[APP]
    error = None
    try:
        period = parse_period(request.query.get("from"), request.query.get("to"))
    except PeriodError as exc:
        error = exc  # shown above the default period, with the form to try again
        period = parse_period()
    figs = await app.storage.aread(figures, period)
    today = utc_today()
    spans = [(n, (today - timedelta(days=n - 1)).isoformat()) for n in SPANS]
    return render(request, "dashboard.html", {
        "f": figs, "period": period, "error": error, "chart": charts, "origins": ORIGINS,
        "spans": spans, "today": today.isoformat(), "max_days": MAX_DAYS,
        "lang_labels": [LANG_NAMES[code] for code in LANGS],
        "zip_series": lambda names, groups: list(zip(names, groups)),
        "ranked_rows": lambda rows: [(text, [n]) for text, n in rows],
        "useful_rows": lambda fixes: [(f"#{u.id} {u.slug}", [u.worked, u.failed]) for u in fixes],
        "coverage_rows": lambda coverage: [
            (LANG_NAMES[c.lang], [c.percent, c.reviewed_percent])
            for c in coverage],
    }, status=400 if error else 200)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/dashboard", dashboard)
