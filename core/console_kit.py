"""Pieces every app's admin shares: lists that stay fast on millions of rows, read-only audit pages,
status badges, pretty-printed bodies, and the per-row report of an action."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import dateformat, formats, timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

from core.money import kes  # the admin modules import the one formatter from here with the rest of the kit

# --- Lists that do not count millions of rows ---------------------------------------------------------


class EstimatedCountPaginator(Paginator):
    """A paginator that never runs a full COUNT(*).

    Unfiltered, on PostgreSQL, a big table is counted from the planner's statistics (pg_class.reltuples,
    kept fresh by autovacuum). Otherwise rows are counted up to `cap` and no further: a list filtered to
    more than `cap` rows shows `cap` worth of pages and says "more than".
    """

    cap = 10_000
    # Below this many rows an exact (capped) count is cheap and better than an estimate.
    estimate_from = 10_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.estimated = False
        self.capped = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where:
            estimate = table_estimate(queryset.model, using=queryset.db)
            if estimate is not None and estimate >= self.estimate_from:
                self.estimated = True
                return estimate
        # values("pk") drops the list's annotations from the counting subquery; order_by() its sort.
        counted = queryset.values("pk").order_by()[: self.cap + 1].count()
        if counted > self.cap:
            self.capped = True
            return self.cap
        return counted


def table_estimate(model, *, using: str = "default") -> int | None:
    """PostgreSQL's estimate of a table's rows, or None when there is none (another database, or a table
    never analysed: reltuples is -1 then)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class FastChangeList(ChangeList):
    """A changelist whose date hierarchy does not scan the table.

    Django's lists the years, months or days that hold rows with SELECT DISTINCT date_trunc(...) over the
    whole (filtered) list: on a million rows that alone takes longer than the page may. This one asks only
    for the first and last date (two index probes) and offers every period in between.
    """

    def date_hierarchy_links(self) -> dict:
        field = self.date_hierarchy
        year, month, day = (self.params.get(f"{field}__{part}") for part in ("year", "month", "day"))

        def link(filters: dict) -> str:
            return self.get_query_string(filters, [f"{field}__"])

        y, m, d = f"{field}__year", f"{field}__month", f"{field}__day"
        if year and month and day:
            chosen = date(int(year), int(month), int(day))
            return {
                "show": True,
                "back": {"link": link({y: year, m: month}), "title": _fmt(chosen, "YEAR_MONTH_FORMAT")},
                "choices": [{"title": _fmt(chosen, "MONTH_DAY_FORMAT")}],
            }
        span = self._date_span(field)
        first, last = span["first"], span["last"]
        if first is None or last is None:
            return {"show": False}
        if timezone.is_aware(first):
            first, last = timezone.localtime(first), timezone.localtime(last)
        if not year and first.year == last.year:
            year = str(first.year)
            if first.month == last.month:
                month = str(first.month)
        if year and month:
            return {
                "show": True,
                "back": {"link": link({y: year}), "title": str(year)},
                "choices": [
                    {
                        "link": link({y: year, m: month, d: n}),
                        "title": _fmt(date(int(year), int(month), n), "MONTH_DAY_FORMAT"),
                    }
                    for n in range(first.day, last.day + 1)
                ],
            }
        if year:
            return {
                "show": True,
                "back": {"link": link({}), "title": "All dates"},
                "choices": [
                    {"link": link({y: year, m: n}), "title": _fmt(date(int(year), n, 1), "YEAR_MONTH_FORMAT")}
                    for n in range(first.month, last.month + 1)
                ],
            }
        return {
            "show": True,
            "back": None,
            "choices": [{"link": link({y: n}), "title": str(n)} for n in range(first.year, last.year + 1)],
        }


    def _date_span(self, field: str) -> dict:
        """First and last date of the list. Many rows: two index probes (MIN and MAX walk the date index from
        each end and stop at the first row that matches). Few rows, as the paginator has counted them exactly:
        over those rows only, fetched through the filter's own indexes. A walk of the date index would read
        every row of the table before deciding that a search matching nothing has no first date."""
        paginator = getattr(self, "paginator", None)
        exact = paginator is not None and not getattr(paginator, "estimated", False)
        exact = exact and not getattr(paginator, "capped", False)
        if exact and self.result_count == 0:
            return {"first": None, "last": None}
        if exact and self.result_count <= EstimatedCountPaginator.cap:
            rows = self.queryset.order_by().values(field)[: EstimatedCountPaginator.cap + 1]
            return rows.aggregate(first=Min(field), last=Max(field))
        return self.queryset.aggregate(first=Min(field), last=Max(field))


def _fmt(value: date, fmt: str) -> str:
    return capfirst(formats.date_format(value, fmt))


class FastListMixin:
    """For lists of tables that grow without bound: no full count, no table-scanning date hierarchy, no
    facet counts."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return FastChangeList

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj):
        # Django renders a CheckboxInput through the template engine for every row: a quarter of the time of
        # a 100-row page. The same markup, formatted directly.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" '
            'aria-label="Select this object for an action - {}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            obj,
        )


# --- Read-only audit ---------------------------------------------------------------------------------


class ServiceWrittenMixin:
    """Rows the services write: nobody adds, edits or deletes them through the admin's own forms (an action or
    page of the admin that changes one calls the service)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SuperuserSettingsMixin:
    """Settings only superusers see and edit (approval rules, tariff bands): each save and delete goes through
    the admin's save_model/delete_model to a service that writes its audit event, so there is no bulk action
    (a bulk delete would skip the audit trail: delete one at a time)."""

    def _superuser(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request) -> bool:
        return self._superuser(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._superuser(request)

    def has_add_permission(self, request) -> bool:
        return self._superuser(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._superuser(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._superuser(request)

    def get_actions(self, request):
        return {}


class ReadOnlyAdminMixin(ServiceWrittenMixin):
    """Audit rows: written by the services only, and no action to take on them here."""

    def get_actions(self, request):
        return {}


# --- Display helpers -----------------------------------------------------------------------------------

# An app adds the colours of its own statuses when its admin loads (payments/admin/__init__.py: payouts).
BADGE_COLOURS = {
    # Payments and callbacks
    "pending": "#b7791f",
    "processed": "#2f855a",
    "received": "#b7791f",
    "duplicate": "#718096",
    "unmatched": "#c05621",
    "invalid": "#c53030",
    "error": "#9b2c2c",
}


def badge(value: str, label: str | None = None) -> str:
    colour = BADGE_COLOURS.get(value, "#4a5568")
    return format_html(
        '<span class="payout-badge" style="background:{};color:#fff;padding:2px 8px;border-radius:10px;'
        'white-space:nowrap;font-size:11px;font-weight:600">{}</span>',
        colour,
        label or value,
    )


def warning_box(text: str) -> str:
    return format_html(
        '<strong class="payout-warning" style="display:inline-block;background:#fff5f5;color:#9b2c2c;'
        'border:2px solid #c53030;padding:4px 8px;border-radius:4px">&#9888; {}</strong>',
        text,
    )


def safe_next(request, name: str = "next") -> str:
    """The `next` URL of a request (POST, then GET) when it points to this site over an allowed scheme, else
    "". Every redirect or back link taken from a request goes through here: `?next=javascript:...` or
    `?next=https://elsewhere/` would run script as, or send away, the person who clicks it."""
    for source in (request.POST, request.GET):
        target = (source.get(name) or "").strip()
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
    return ""


def admin_url(obj_or_model, action: str = "change", *args) -> str:
    opts = obj_or_model._meta
    if action == "change" and not args:
        args = (obj_or_model.pk,)
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{action}", args=args)


def time_since(value, now=None) -> str:
    """How long ago, in the largest unit (Django's timesince is slow for a column of a hundred rows)."""
    seconds = int(((now or timezone.now()) - value).total_seconds())
    if seconds < 3600:
        return f"{max(seconds, 0) // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    days = seconds // 86400
    if days < 60:
        return f"{days} d"
    return f"{days // 30} mo" if days < 730 else f"{days // 365} y"


# The console's one date/time format (the same as DATETIME_FORMAT in mpesa_payouts/formats/en/formats.py).
DATETIME_FORMAT = "j M Y, H:i"


def when(value) -> str:
    """A time as the operators read it, on every page: local (Nairobi) time, "2 Dec 2026, 00:37"."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return dateformat.format(value, DATETIME_FORMAT)
    return dateformat.format(value, "j M Y")


def count_of(number: int, noun: str) -> str:
    """"1 payout", "2 payouts": a heading a finance person reads, not "payout(s)"."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


# The words for stored statuses, filled by the apps that own them (payments/admin/__init__.py registers the
# payout statuses), as BADGE_COLOURS is: the kit imports no app.
STATUS_LABELS: dict[str, str] = {}


def status_change(from_status: str | None, to_status: str | None) -> str:
    """A status change in the words of the status filter ("New → Pending approval"), not the stored values."""
    if not (from_status or to_status):
        return ""
    labels = STATUS_LABELS
    before = labels.get(from_status, from_status) if from_status else "New"
    after = labels.get(to_status, to_status) if to_status else before
    return before if before == after else f"{before} → {after}"


def link_to(model, pk: int | None, label: str | None = None) -> str:
    """A link to a row's admin page from its id alone (no query)."""
    if pk is None:
        return "-"
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=(pk,))
    return format_html('<a href="{}">{}</a>', url, label or f"{capfirst(opts.verbose_name)} #{pk}")


MAX_BODY_CHARS = 100_000


def pretty_json(value) -> str:
    """A stored body or JSON value in a <pre>: indented when it parses as JSON, as received when not."""
    if isinstance(value, str):
        try:
            text = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to indent: as received
            text = value
    else:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (`\ud800`, stored as the escape it arrived as) cannot be written to the page as UTF-8:
        # show every escape as written rather than fail the page.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + "\n… (cut here; the full body is stored)"
    return format_html('<pre style="white-space:pre-wrap;max-width:100%;margin:0">{}</pre>', text)


MONEY_KEYS = {"amount", "total", "utility_available", "working_available"}
DETAIL_LABELS = {
    "phone_differs": "To another number than the one that paid",
    "command_id": "Payment type",
    "transaction_id": "M-Pesa receipt",
    "result_code": "Result code",
    "retry_of": "Request again of payout",
    "retried_as": "Requested again as payout",
}


def _detail_value(key: str, value) -> str:
    if isinstance(value, dict) and set(value) == {"from", "to"}:
        return f"{_detail_value(key, value['from'])} → {_detail_value(key, value['to'])}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in ("retry_of", "retried_as", "payment") and isinstance(value, int):
        return f"#{value}"
    if key in MONEY_KEYS:
        try:
            return kes(Decimal(str(value)))
        except (ArithmeticError, ValueError):
            return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "-" if value in (None, "") else str(value)


def describe_details(details) -> str:
    """An event's details as a reader wants them: one line per item ("Amount: KES 500.00 → KES 700.00"),
    not raw JSON."""
    if not details:
        return ""
    if not isinstance(details, dict):
        return str(details)
    lines = format_html_join(
        "",
        "<div><strong>{}:</strong> {}</div>",
        (
            (DETAIL_LABELS.get(key, capfirst(key.replace("_", " "))), _detail_value(key, value))
            for key, value in details.items()
        ),
    )
    return format_html('<div class="event-details">{}</div>', lines)


_TOKEN = re.compile(r"[0-9a-f]{24,}")


def mask_tokens(path: str) -> str:
    """Callback paths carry a secret token; show enough of it to tell two apart."""
    return _TOKEN.sub(lambda match: match.group(0)[:6] + "…", path or "")


def table(headers: Iterable[str], rows: Iterable[Iterable], empty: str = "None") -> str:
    rows = list(rows)
    if not rows:
        return format_html("<p>{}</p>", empty)
    headers = list(headers)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    # Each cell names its column: on a phone the table is a stack of cards, each value under its name.
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", '<td data-label="{}">{}</td>', zip(headers, row, strict=False)),) for row in rows),
    )
    return format_html(
        '<table class="payout-history console-cards-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        head,
        body,
    )


# --- Refusals --------------------------------------------------------------------------------------------


def refused(request, reason: str, *, admin_site=None) -> TemplateResponse:
    """A 403 as an admin page that says why. Returned rather than raised: Django logs a raised
    PermissionDenied with its traceback, and a refusal is not an error of ours."""
    from django.contrib.admin import site as default_site

    site = admin_site or default_site
    return TemplateResponse(
        request,
        "admin/payments/refused.html",
        {**site.each_context(request), "title": "Not allowed", "reason": reason},
        status=403,
    )


# --- Reporting what an action did, row by row ------------------------------------------------------------


@dataclass(frozen=True)
class RowResult:
    pk: int
    ok: bool
    message: str


# Above this many rows, successes are reported as one line per outcome instead of one line per row.
ROW_MESSAGES_MAX = 20


def report_rows(request, results: list[RowResult], *, label: str = "Payout") -> None:
    if not results:
        messages.warning(request, "Nothing was selected.")
        return
    failed = [r for r in results if not r.ok]
    done = [r for r in results if r.ok]
    if len(results) <= ROW_MESSAGES_MAX:
        for result in results:
            level = messages.SUCCESS if result.ok else messages.ERROR
            messages.add_message(request, level, f"{label} #{result.pk}: {result.message}")
        return
    by_message: dict[str, list[int]] = {}
    for result in done:
        by_message.setdefault(result.message, []).append(result.pk)
    for message, pks in by_message.items():
        ids = ", ".join(f"#{pk}" for pk in pks)
        messages.success(request, f"{label}s {ids}: {message}")
    for result in failed:
        messages.error(request, f"{label} #{result.pk}: {result.message}")
    messages.info(request, f"{len(done)} of {len(results)} done, {len(failed)} refused.")


class AdminPagesMixin:
    """A ModelAdmin's own pages: its URLs by short name ("approve" for admin:payments_payout_approve) and a
    page in the admin's frame (site header, breadcrumbs from `opts`, the title)."""

    def url(self, name: str, *args) -> str:
        opts = self.opts
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=args, current_app=self.admin_site.name)

    def page(self, request, template: str, title: str, **context) -> TemplateResponse:
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context},
        )
