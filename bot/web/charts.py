"""Small SVG charts drawn on the server for the dashboard: stacked bars (a
count per day or week, split by language or origin) and horizontal bars (a
value per row, one or two series). Hand-written (about 200 lines) rather
than a library: the two shapes the dashboard needs, inline in the page (no
request, no JavaScript, nothing from a CDN), and full control of what makes
them readable on a black-and-white printout: each series has a black
PATTERN (solid, hatched, dotted...), never a colour alone; the legend shows
the patterns; the numbers are printed on the bars where there is room and
always in the HTML table beside each chart.

Accessible: ``role="img"`` with a ``<title>`` and a ``<desc>`` (the figures
in one sentence); the table is the real alternative. Every text is escaped.
Colours follow the page's text colour (``currentColor``), so the charts
print black and stay readable on a dark screen.
"""

from __future__ import annotations

import math
from typing import Sequence

from markupsafe import Markup, escape

WIDTH = 640
FONT = 12
#: Black-and-white fills, one per series, told apart without colour. Each is
#: the body of a <pattern> of 8x8 user units, drawn in currentColor.
PATTERNS = (
    '<rect width="8" height="8" fill="currentColor"/>',  # solid
    '<path d="M-2 2 L2 -2 M0 8 L8 0 M6 10 L10 6" stroke="currentColor" stroke-width="1.6"/>',  # hatched /
    '<circle cx="2" cy="2" r="1.3" fill="currentColor"/><circle cx="6" cy="6" r="1.3" fill="currentColor"/>',  # dots
    '<path d="M0 4 H8 M4 0 V8" stroke="currentColor" stroke-width="1.2"/>',  # grid
    '<path d="M-2 6 L2 10 M0 0 L8 8 M6 -2 L10 2" stroke="currentColor" stroke-width="1"/>',  # hatched \\
    '<path d="M0 2 H8 M0 6 H8" stroke="currentColor" stroke-width="1.2"/>',  # horizontal lines
)


def nice_max(value: float) -> tuple[float, float]:
    """An axis top at or above ``value`` and its tick step (1, 2 or 5 × 10^k),
    at most 5 ticks."""
    if value <= 0:
        return 1, 1
    raw = value / 5
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        step = m * power
        if step >= raw:
            break
    step = max(step, 1)
    return math.ceil(value / step) * step, step


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _width(text: str) -> float:
    """About how wide ``text`` is at FONT px: Chinese and Korean characters
    are nearly twice as wide as Latin ones."""
    return sum(FONT if ord(c) >= 0x2E80 else FONT * 0.6 for c in text)


def _clip(text: str, room: float) -> str:
    """``text`` cut (with …) to fit ``room`` px."""
    if _width(text) <= room:
        return text
    while text and _width(text) + FONT > room:
        text = text[:-1]
    return text + "…"


def _defs(chart_id: str, count: int) -> str:
    return "<defs>" + "".join(
        f'<pattern id="{chart_id}-p{i}" width="8" height="8" patternUnits="userSpaceOnUse">{PATTERNS[i % len(PATTERNS)]}'
        "</pattern>" for i in range(count)) + "</defs>"


def _open(chart_id: str, height: int, title: str, desc: str) -> str:
    return (f'<svg class="chart" id="{chart_id}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
            f'viewBox="0 0 {WIDTH} {height}" width="100%" xmlns="http://www.w3.org/2000/svg" '
            f'font-size="{FONT}" fill="currentColor">'
            f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>')


def _legend(chart_id: str, names: Sequence[str], y: int) -> tuple[str, int]:
    """Swatches with names, wrapped over as many lines as needed; returns
    the SVG and the height used."""
    out, x, line = [], 0, 0
    for i, name in enumerate(names):
        width = 22 + _width(name) + 16
        if x and x + width > WIDTH:
            x, line = 0, line + 1
        top = y + line * 20
        out.append(f'<rect x="{x:.0f}" y="{top}" width="16" height="14" fill="url(#{chart_id}-p{i})" '
                   f'stroke="currentColor"/><text x="{x + 22:.0f}" y="{top + 11}">{escape(name)}</text>')
        x += width
    return "".join(out), (line + 1) * 20 if names else 0


def stacked_bars(chart_id: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *,
                 title: str, desc: str, height: int = 280) -> Markup:
    """One bar per label, stacked by series (name, values per label), the
    total above each bar when it fits."""
    legend, legend_h = _legend(chart_id, [name for name, _ in series], 0)
    left, right, top, bottom = 44, 8, legend_h + 18, 40
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    top_value, step = nice_max(max(totals, default=0))
    out = [_open(chart_id, height, title, desc), _defs(chart_id, len(series)), legend]
    # the value axis: grid lines and their numbers
    ticks = int(round(top_value / step))
    for k in range(ticks + 1):
        y = top + plot_h - plot_h * k / ticks
        out.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="currentColor" '
                   f'stroke-opacity="{0.9 if k == 0 else 0.25}" stroke-width="1"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(k * step)}</text>')
    n = max(len(labels), 1)
    slot = plot_w / n
    bar = max(min(slot * 0.7, 40), 1)
    every = max(1, math.ceil(n / 12))  # at most about 12 date labels
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        out.append(f'<g><title>{escape(label)}: {_number(totals[i])}</title>')
        for s, (_, values) in enumerate(series):
            h = plot_h * values[i] / top_value if top_value else 0
            if h > 0:
                y -= h
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                           f'fill="url(#{chart_id}-p{s})" stroke="currentColor" stroke-width="0.8"/>')
        if totals[i] and bar >= 14:
            out.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{_number(totals[i])}</text>')
        out.append("</g>")
        if i % every == 0:
            out.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                       f'{escape(label[5:] if len(label) == 10 else label)}</text>')
    if labels and len(labels[0]) == 10:  # dates: the year once, under the axis
        out.append(f'<text x="{left}" y="{height - 6}">{escape(labels[0][:4])}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def hbars(chart_id: str, rows: Sequence[tuple[str, Sequence[float]]], names: Sequence[str], *,
          title: str, desc: str, top_value: float | None = None, suffix: str = "") -> Markup:
    """One group of horizontal bars per row (label, a value per series in
    ``names``), the value written at the end of each bar."""
    per_row = max(len(names), 1)
    legend, legend_h = _legend(chart_id, names, 0) if len(names) > 1 else ("", 0)
    bar_h, gap = 16, 10
    label_w, right = 200, 70
    top = legend_h + 8
    height = top + len(rows) * (per_row * bar_h + gap) + 8
    values = [v for _, vs in rows for v in vs]
    scale_top = top_value if top_value else nice_max(max(values, default=0))[0]
    plot_w = WIDTH - label_w - right
    out = [_open(chart_id, max(height, 40), title, desc), _defs(chart_id, per_row), legend]
    y = top
    for label, vs in rows:
        short = _clip(label, label_w - 12)
        out.append(f'<g><title>{escape(label)}: {escape(", ".join(_number(v) + suffix for v in vs))}</title>'
                   f'<text x="{label_w - 8}" y="{y + per_row * bar_h / 2 + 4:.1f}" text-anchor="end">'
                   f'{escape(short)}</text>')
        for s, v in enumerate(vs):
            w = plot_w * v / scale_top if scale_top else 0
            out.append(f'<rect x="{label_w}" y="{y + s * bar_h + 1}" width="{max(w, 0.0):.1f}" height="{bar_h - 2}" '
                       f'fill="url(#{chart_id}-p{s})" stroke="currentColor" stroke-width="0.8"/>'
                       f'<text x="{label_w + w + 6:.1f}" y="{y + s * bar_h + bar_h - 4}">{_number(v)}{escape(suffix)}</text>')
        out.append("</g>")
        y += per_row * bar_h + gap
    out.append(f'<line x1="{label_w}" x2="{label_w}" y1="{top - 4}" y2="{y - gap + 4}" stroke="currentColor"/>')
    out.append("</svg>")
    return Markup("".join(out))
