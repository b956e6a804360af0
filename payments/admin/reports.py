"""The console's Reports page (/admin/reports/, docs/reports.md): the figures of `GET /api/reports/` for a range of
Nairobi days, grouped by day, week or month, with two server-drawn SVG charts (as the overview's: no script, no
CDN, readable without colour) and the same report as a CSV or XLSX download. Whoever may read payouts may read
it; a bad parameter is a 400 page that names it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.contrib import admin
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.console_kit import kes, refused, when
from payments.admin.charts import HEIGHT, WIDTH
from payments.admin.overview import may_see_overview
from payments.models import PaymentSource, PayoutRail
from payments.reports import figures
from payments.reports.export import minutes, report_file
from payments.reports.params import GROUPS, ReportParamsInvalid, export_format, report_period

LEFT, RIGHT, TOP, BOTTOM = 70, 10, 24, 28
# Fills that differ in pattern as well as colour: solid, hatched, dotted.
FILLS = {
    "solid": '<pattern id="{k}-solid" width="4" height="4" patternUnits="userSpaceOnUse">'
    '<rect width="4" height="4" fill="#1f5f99"/></pattern>',
    "hatch": '<pattern id="{k}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fbe3c8"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#b45309" stroke-width="2"/></pattern>',
    "dots": '<pattern id="{k}-dots" width="5" height="5" patternUnits="userSpaceOnUse">'
    '<rect width="5" height="5" fill="#f4d4d4"/><circle cx="2.5" cy="2.5" r="1.2" fill="#b42318"/></pattern>',
}


def _label(bucket: figures.Bucket, group: str) -> str:
    if group == "month":
        return bucket.start.strftime("%b %Y")
    return bucket.start.strftime("%d %b")


def bars_chart(key: str, title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence]],
               *, money: bool) -> str:  # fmt: skip
    """Side-by-side bars per period, one per series (name, fill, values); every bar carries a <title> with its
    exact figure, and the legend names each fill in words."""
    values = [v for _, _, vs in series for v in vs]
    top = max([Decimal(v) for v in values] + [Decimal(1)]) * Decimal("1.1")
    plot_h, plot_w = HEIGHT - TOP - BOTTOM, WIDTH - LEFT - RIGHT
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot / (len(series) + 1), 1)
    bars, ticks = [], []
    for i, label in enumerate(labels):
        for j, (name, fill, vs) in enumerate(series):
            h = plot_h * float(Decimal(vs[i]) / top)  # drawing only: the exact figure is in the title and table
            shown = kes(vs[i]) if money else str(vs[i])
            bars.append((f"{LEFT + slot * i + bar_w * (j + 0.5):.1f}", f"{TOP + plot_h - h:.1f}", f"{bar_w:.1f}",
                         f"{h:.1f}", f"url(#{key}-{fill})", f"{label}: {name} {shown}"))  # fmt: skip
        if len(labels) <= 12 or i % (len(labels) // 8 + 1) == 0:
            ticks.append((f"{LEFT + slot * (i + 0.5):.1f}", HEIGHT - 8, label))
    legend = format_html_join("", '<rect x="{}" y="4" width="12" height="12" fill="url(#{}-{})" stroke="#333"/>'
                              '<text x="{}" y="14" font-size="11" fill="#333">{}</text>',
                              ((LEFT + 150 * j, key, fill, LEFT + 150 * j + 16, name)
                               for j, (name, fill, _) in enumerate(series)))  # fmt: skip
    top_label = kes(top / Decimal("1.1")) if money else str(int(top / Decimal("1.1")))
    return format_html(
        '<svg class="console-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title><defs>{}</defs>"
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#d0d7de"/>'
        '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#333">{}</text>{}{}{}</svg>',
        WIDTH, HEIGHT, title, title,
        format_html_join("", "{}", ((format_html(FILLS[fill].replace("{k}", "{}"), key),) for _, fill, _ in series)),
        LEFT, TOP + plot_h, WIDTH - RIGHT, TOP + plot_h, LEFT - 6, TOP + plot_h * 0.1 + 4, top_label,
        legend,
        format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="#333" '
                         'stroke-width="0.5"><title>{}</title></rect>', bars),
        format_html_join("", '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#333">{}</text>', ticks),
    )  # fmt: skip


def charts(report: figures.Report) -> dict[str, str]:
    group = report.period.group
    labels = [_label(b, group) for b in report.buckets]
    money = bars_chart("money", "Money in and out per period", labels, [
        ("In (payments received)", "solid", [b.total_in for b in report.buckets]),
        ("Out (payouts completed)", "hatch", [b.total_out for b in report.buckets]),
    ], money=True)  # fmt: skip
    outcomes = bars_chart("outcomes", "Payouts by outcome per period", labels, [
        ("Completed", "solid", [b.completed.count for b in report.buckets]),
        ("Failed", "dots", [b.failed.count for b in report.buckets]),
        ("Outcome unknown", "hatch", [b.unknown.count for b in report.buckets]),
    ], money=False)  # fmt: skip
    return {"money": money, "outcomes": outcomes}


def _page(request, context: dict, status: int = 200) -> TemplateResponse:
    return TemplateResponse(
        request,
        "admin/payments/reports.html",
        {**admin.site.each_context(request), "title": "Reports", "groups": GROUPS, **context},
        status=status,
    )


def reports_view(request):
    if not may_see_overview(request.user):
        return refused(request, "Reports are for those who may read payouts (either payout role).")
    params = request.GET
    try:
        period = report_period(start=params.get("start"), end=params.get("end"), group=params.get("group"),
                               today=timezone.localdate())  # fmt: skip
        fmt = export_format(params.get("export"))
    except ReportParamsInvalid as exc:
        asked = {k: params.get(k, "") for k in ("start", "end", "group")}
        return _page(request, {"error": exc, "asked": asked}, status=400)
    report = figures.report(period)
    if fmt is not None:
        content, content_type, name = report_file(report, fmt)
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    query = "&".join(f"{k}={v}" for k, v in period.query().items())
    return _page(request, {
        "report": report, "asked": period.query(), "charts": charts(report), "query": query,
        "sources": [(s, label) for s, label in PaymentSource.choices],
        "rails": [(r, label) for r, label in PayoutRail.choices],
        "period_rows": period_rows(report),
        "total": report.totals, "to_approval": minutes(report.totals.average_to_approval),
        "to_completion": minutes(report.totals.average_to_completion),
    })  # fmt: skip


def _cells(bucket: figures.Bucket) -> list:
    rate = "-" if bucket.success_rate is None else f"{bucket.success_rate}%"
    to_approval, to_completion = minutes(bucket.average_to_approval), minutes(bucket.average_to_completion)
    return [
        *(kes(bucket.money_in[s].amount) for s in PaymentSource.values),
        *(kes(bucket.money_out[r].amount) for r in PayoutRail.values),
        bucket.sent, bucket.completed.count, bucket.failed.count, bucket.unknown.count, rate, kes(bucket.charges),
        "-" if to_approval is None else to_approval, "-" if to_completion is None else to_completion,
    ]  # fmt: skip


def period_rows(report: figures.Report) -> str:
    """The table under the charts, written here rather than by a template loop: a year by day is 366 rows of 17
    cells, and the template engine took most of the page's time (bench/README.md, "Reports")."""
    rows = [
        format_html("<tr><td>{}</td><td>{}</td>{}</tr>", when(b.start), when(b.end),
                    format_html_join("", "<td>{}</td>", ((c,) for c in _cells(b))))
        for b in report.buckets
    ]  # fmt: skip
    rows.append(format_html('<tr class="report-total"><th scope="row" colspan="2">Total</th>{}</tr>',
                            format_html_join("", "<td>{}</td>", ((c,) for c in _cells(report.totals)))))  # fmt: skip
    return format_html_join("", "{}", ((row,) for row in rows))
