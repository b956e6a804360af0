"""Charts drawn on the server as inline SVG: nothing is fetched (no CDN) and no script runs, so they work under
a Content-Security-Policy without 'unsafe-inline' scripts. Each is readable without colour: the values are
labelled, bars are hatched, the threshold is a dashed line named in words, every point carries a <title>, and
the page offers the same numbers as a table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.console_kit import kes

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 70, 10, 14, 28


def _n(value: float) -> str:
    return f"{value:.1f}"


def _short(amount: Decimal) -> str:
    """An axis label: 250, 1.5k, 2.5M (the axis' top is a round figure, so its quarters are short too)."""
    value = float(amount)  # axis labels only: the exact figures are in the table
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _frame(key: str, title: str, top: Decimal, days: Sequence[date], body: str) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    gridlines = []
    for step in range(5):
        value = top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        gridlines.append((LEFT, _n(y), WIDTH - RIGHT, _n(y), LEFT - 6, _n(y + 4), _short(value)))
    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d0d7de" stroke-width="1"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#333">{}</text>',
        gridlines,
    )
    step_x = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    ticks = []
    for i, d in enumerate(days):
        if i == len(days) - 1:  # the last day's label ends at the plot's edge instead of running past it
            ticks.append((WIDTH - RIGHT, HEIGHT - 8, "end", d.strftime("%d %b")))
        elif i % 5 == 0 and i < len(days) - 3:
            ticks.append((_n(LEFT + step_x * (i + 0.5)), HEIGHT - 8, "middle", d.strftime("%d %b")))
    labels = format_html_join("", '<text x="{}" y="{}" text-anchor="{}" font-size="11" fill="#333">{}</text>', ticks)
    return format_html(
        '<svg class="console-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>'
        '<defs><pattern id="{}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#cfe3f7"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#1f5f99" stroke-width="2"/></pattern></defs>'
        "{}{}{}</svg>",
        WIDTH,
        HEIGHT,
        title,
        title,
        key,
        grid,
        labels,
        body,
    )


# The axis' top is one of these times a power of ten: each divides into quarters that read as round figures.
ROUND_TOPS = (1, 2, 4, 8, 10)


def _top(values: Sequence[Decimal], extra: Decimal = Decimal(0)) -> Decimal:
    """The axis' top: the largest figure with a little room above it (at least KES 100, so an empty chart reads
    0, 25, 50, 75, 100), rounded up to 1, 2, 4 or 8 times a power of ten."""
    highest = max(max([*values, extra]) * Decimal("1.05"), Decimal(100))
    power = Decimal(10) ** (len(str(int(highest))) - 1)
    return next(power * top for top in ROUND_TOPS if power * top >= highest)


def float_chart(days: Sequence[date], balances: Sequence[Decimal | None], threshold: Decimal) -> str:
    """The float at the end of each day as a line with a marked point per day, the low-balance threshold as a
    dashed line labelled in words."""
    known = [b for b in balances if b is not None]
    top = _top(known, threshold)
    plot_h = HEIGHT - TOP - BOTTOM
    step_x = (WIDTH - LEFT - RIGHT) / max(len(days), 1)

    def y(value: Decimal) -> float:
        return TOP + plot_h - plot_h * float(value / top)

    points = [
        (LEFT + step_x * (i + 0.5), y(b), d, b)
        for i, (d, b) in enumerate(zip(days, balances, strict=True))
        if b is not None
    ]
    line = mark_safe("")
    if points:
        line = format_html(
            '<polyline fill="none" stroke="#1f5f99" stroke-width="2" points="{}"/>',
            " ".join(f"{x:.1f},{py:.1f}" for x, py, _, _ in points),
        )
    marks = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3" fill="#1f5f99"><title>{}: {}</title></circle>',
        ((_n(x), _n(py), d.strftime("%d %b %Y"), kes(b)) for x, py, d, b in points),
    )
    ty = y(threshold)
    limit = format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#b42318" stroke-width="1.5" stroke-dasharray="6 4"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#b42318">low-balance threshold {}</text>',
        LEFT,
        _n(ty),
        WIDTH - RIGHT,
        _n(ty),
        WIDTH - RIGHT - 4,
        _n(ty - 4),
        kes(threshold),
    )
    body = format_html("{}{}{}", limit, line, marks)
    return _frame("float", "Float at the end of each day, last 30 days", top, days, body)


def volume_chart(days: Sequence[date], amounts: Sequence[Decimal]) -> str:
    """What left for M-Pesa each day, as hatched bars."""
    top = _top(amounts)
    plot_h = HEIGHT - TOP - BOTTOM
    step_x = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bars = []
    for i, (d, amount) in enumerate(zip(days, amounts, strict=True)):
        h = plot_h * float(amount / top)
        bars.append(
            (
                _n(LEFT + step_x * i + 2),
                _n(TOP + plot_h - h),
                _n(max(step_x - 4, 1)),
                _n(h),
                d.strftime("%d %b %Y"),
                kes(amount),
            )
        )
    body = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="url(#volume-hatch)" stroke="#1f5f99">'
        "<title>{}: {}</title></rect>",
        bars,
    )
    return _frame("volume", "Payout volume per day, last 30 days", top, days, body)
