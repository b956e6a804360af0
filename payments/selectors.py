"""Reads: every query the API, the exports and reconciliation make, in one place (writes live in services/).

Querysets come back with what their callers will touch already joined or prefetched, so listing a page
costs a fixed number of queries however many rows it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.aggregates import StringAgg
from django.db import connection
from django.db.models import (
    Aggregate,
    CharField,
    Count,
    DecimalField,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.money import SUM
from core.nairobi_time import NAIROBI
from core.spreadsheet_cells import NeutralisedText
from payments.models import (
    AuditEvent,
    CallbackOutcome,
    DarajaCallback,
    FloatBalance,
    Payment,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutApproval,
    PayoutEditor,
    PayoutKind,
    PayoutStatus,
)

# Finance reads every time in Nairobi time, whatever the server's zone.
ZERO = Decimal("0.00")


def nairobi_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=NAIROBI)


# Dates a report may ask for: the day after 9999-12-31 does not exist, and nothing of ours predates 2000.
EARLIEST_REPORT_DATE = date(2000, 1, 1)
LATEST_REPORT_DATE = date(9998, 12, 31)


def report_date_problem(value: date) -> str:
    """Why `value` cannot bound a report ("" when it can): nairobi_range of 9999-12-31 would overflow."""
    if EARLIEST_REPORT_DATE <= value <= LATEST_REPORT_DATE:
        return ""
    return f"Give a date between {EARLIEST_REPORT_DATE.isoformat()} and {LATEST_REPORT_DATE.isoformat()}."


def nairobi_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """[start 00:00, the day after end 00:00) in Nairobi time: both dates are inclusive."""
    return (
        nairobi_day_start(start) if start else None,
        nairobi_day_start(end + timedelta(days=1)) if end else None,
    )


def _in_range(field: str, start: datetime | None, end: datetime | None) -> Q:
    q = Q()
    if start is not None:
        q &= Q(**{f"{field}__gte": start})
    if end is not None:
        q &= Q(**{f"{field}__lt": end})
    return q


# --- Payments and payouts (the API) -----------------------------------------------------------------


def payment_list() -> QuerySet[Payment]:
    return Payment.objects.order_by("-created_at", "-id")


def active_approvals() -> QuerySet[PayoutApproval]:
    """Approvals that still count: not voided (a changed payout voids them)."""
    return PayoutApproval.objects.filter(voided_at__isnull=True).select_related("approver").order_by("created_at", "id")


def payout_list() -> QuerySet[Payout]:
    """Payouts with their requester and active approvals loaded (`active_approvals` attribute)."""
    return (
        Payout.objects.select_related("requested_by")
        .prefetch_related(Prefetch("approvals", queryset=active_approvals(), to_attr="active_approvals"))
        .order_by("-created_at", "-id")
    )


def payout_detail() -> QuerySet[Payout]:
    """As payout_list, plus the audit trail (`event_list` attribute), oldest event first, and the people who
    edited it (`editor_list`)."""
    events = AuditEvent.objects.select_related("actor").order_by("created_at", "id")
    editors = PayoutEditor.objects.select_related("user")
    return payout_list().prefetch_related(
        Prefetch("events", queryset=events, to_attr="event_list"),
        Prefetch("editors", queryset=editors, to_attr="editor_list"),
    )


# --- Stats ------------------------------------------------------------------------------------------


def _count(**filters) -> Count:
    return Count("id", filter=Q(**filters))


def _sum(field: str, **filters) -> Coalesce:
    return Coalesce(
        Sum(field, filter=Q(**filters)), Value(ZERO), output_field=DecimalField(**SUM)
    )


def reconciliation_stats(*, start: date | None = None, end: date | None = None) -> dict:
    """Counts and totals of payments and payouts created between two dates (Nairobi, inclusive): one
    aggregate query per table, plus the latest float reading (whatever its date)."""
    lower, upper = nairobi_range(start, end)
    payments = Payment.objects.filter(_in_range("created_at", lower, upper)).aggregate(
        total_payments=Count("id"),
        completed_payments=_count(status=PaymentStatus.COMPLETED),
        failed_payments=_count(status=PaymentStatus.FAILED),
        payment_revenue=_sum("amount", status=PaymentStatus.COMPLETED),
    )
    payouts = Payout.objects.filter(_in_range("created_at", lower, upper)).aggregate(
        total_payouts=Count("id"),
        completed_payouts=_count(status=PayoutStatus.COMPLETED),
        failed_payouts=_count(status=PayoutStatus.FAILED),
        pending_approval_payouts=_count(status=PayoutStatus.PENDING_APPROVAL),
        verifying_payouts=_count(status=PayoutStatus.VERIFYING),
        needs_review_payouts=_count(status=PayoutStatus.NEEDS_REVIEW),
        payout_total=_sum("amount", status=PayoutStatus.COMPLETED),
        refunded_total=_sum("amount", status=PayoutStatus.COMPLETED, kind=PayoutKind.REFUND),
    )
    latest = FloatBalance.objects.of_utility().order_by("-observed_at", "-id").first()
    return {
        "start": start,
        "end": end,
        **payments,
        **payouts,
        "last_known_float": latest.utility_available if latest else None,
        "last_known_float_at": latest.observed_at if latest else None,
    }


# --- Discrepancies: everything that needs a person ----------------------------------------------------


@dataclass(frozen=True)
class DiscrepancySource:
    """One kind of discrepancy: the rows that have it, and the time each has been waiting since."""

    kind: str
    queryset: QuerySet
    time_field: str


class DiscrepancyKind:
    PAYOUT_NEEDS_REVIEW = "payout_needs_review"
    PAYOUT_OVERDUE = "payout_overdue"
    RESULT_MISMATCH = "result_mismatch"
    CALLBACK_UNMATCHED = "callback_unmatched"
    CALLBACK_INVALID = "callback_invalid"
    CALLBACK_ERROR = "callback_error"
    PAYMENT_PENDING = "payment_pending"
    # From the ledger (docs/ledger.md).
    PAYOUT_IN_FLIGHT_LONG = "payout_in_flight_long"
    FLOAT_DRIFT = "float_drift"

    # Listing order: what is most likely money at risk first.
    ALL = (
        PAYOUT_NEEDS_REVIEW,
        PAYOUT_OVERDUE,
        PAYOUT_IN_FLIGHT_LONG,
        FLOAT_DRIFT,
        RESULT_MISMATCH,
        CALLBACK_UNMATCHED,
        CALLBACK_INVALID,
        CALLBACK_ERROR,
        PAYMENT_PENDING,
    )


PENDING_PAYMENT_AGE = timedelta(days=1)


def stk_push_unanswered(now: datetime) -> Q:
    """Pending STK payments whose push left (it was claimed) without its answer giving us a CheckoutRequestID:
    the answer left the outcome unknown (its code is on the payment), or none was recorded within the
    timeouts and a minute (the worker stopped mid-request). The customer may have been prompted."""
    answered_by = now - timedelta(seconds=settings.MPESA_CONNECT_TIMEOUT + settings.MPESA_READ_TIMEOUT + 60)
    return Q(
        Q(result_code__gt="") | Q(push_sent_at__lt=answered_by),
        source=PaymentSource.STK_PUSH, status=PaymentStatus.PENDING, checkout_request_id__isnull=True,
        push_sent_at__isnull=False,
    )  # fmt: skip


def discrepancy_sources(*, now: datetime | None = None) -> list[DiscrepancySource]:
    """Each kind's rows, oldest first within a kind. Every filter here is served by an index."""
    now = now or timezone.now()
    deadline = now - timedelta(minutes=settings.PAYOUT_RESULT_DEADLINE_MINUTES)
    payouts = payout_list()
    callbacks = DarajaCallback.objects.select_related("payout", "payment")
    return [
        DiscrepancySource(
            DiscrepancyKind.PAYOUT_NEEDS_REVIEW,
            payouts.filter(status=PayoutStatus.NEEDS_REVIEW),
            "status_changed_at",
        ),
        DiscrepancySource(
            DiscrepancyKind.PAYOUT_OVERDUE,
            payouts.filter(status__in=[PayoutStatus.SUBMITTED, PayoutStatus.VERIFYING], status_changed_at__lt=deadline),
            "status_changed_at",
        ),
        DiscrepancySource(
            DiscrepancyKind.RESULT_MISMATCH,
            # Unmatched and invalid callbacks are listed under their own kind.
            callbacks.filter(mismatch=True).exclude(outcome__in=[CallbackOutcome.UNMATCHED, CallbackOutcome.INVALID]),
            "received_at",
        ),
        DiscrepancySource(
            DiscrepancyKind.CALLBACK_UNMATCHED, callbacks.filter(outcome=CallbackOutcome.UNMATCHED), "received_at"
        ),
        DiscrepancySource(
            DiscrepancyKind.CALLBACK_INVALID, callbacks.filter(outcome=CallbackOutcome.INVALID), "received_at"
        ),
        DiscrepancySource(
            # Stored, but processing raised: retried by beat, and here until it goes through.
            DiscrepancyKind.CALLBACK_ERROR, callbacks.filter(outcome=CallbackOutcome.ERROR), "received_at"
        ),
        DiscrepancySource(
            DiscrepancyKind.PAYMENT_PENDING,
            # Old, or at once when an answer left its outcome unknown (the push's, or its callback's code) or
            # its push's answer never came.
            payment_list().filter(
                Q(created_at__lt=now - PENDING_PAYMENT_AGE) | ~Q(result_code="") | stk_push_unanswered(now),
                status=PaymentStatus.PENDING,
            ),
            "created_at",
        ),
        *_ledger_sources(now),
    ]


def _ledger_sources(now: datetime) -> list[DiscrepancySource]:
    from ledger import selectors as ledger_selectors

    return [
        DiscrepancySource(
            DiscrepancyKind.PAYOUT_IN_FLIGHT_LONG, ledger_selectors.in_flight_stale(now=now), "posted_at"
        ),
        DiscrepancySource(DiscrepancyKind.FLOAT_DRIFT, ledger_selectors.float_drifts(), "observed_at"),
    ]


# --- Export (finance) ----------------------------------------------------------------------------------


class _NairobiText(Func):
    """A timestamp as 'YYYY-MM-DD HH:MM:SS' Nairobi time, formatted by PostgreSQL (much faster than Python)."""

    template = "to_char(%(expressions)s AT TIME ZONE 'Africa/Nairobi', 'YYYY-MM-DD HH24:MI:SS')"
    output_field = CharField()


class _Text(Func):
    template = "(%(expressions)s)::text"
    output_field = CharField()


class _StringAgg(Aggregate):
    """Names joined with '; ' (PostgreSQL string_agg, SQLite group_concat)."""

    function = "STRING_AGG"
    template = "%(function)s(%(expressions)s, '; ')"
    output_field = CharField()

    def as_sqlite(self, compiler, conn, **extra):
        return super().as_sql(compiler, conn, function="GROUP_CONCAT", **extra)


def _approver_names() -> Subquery:
    """The active approvers' usernames, in approval order, as one '; '-separated string."""
    username = f"approver__{get_user_model().USERNAME_FIELD}"
    if connection.vendor == "postgresql":
        aggregate = StringAgg(username, delimiter="; ", order_by=("created_at", "id"))
    else:
        aggregate = _StringAgg(username)
    names = (
        PayoutApproval.objects.filter(payout=OuterRef("pk"), voided_at__isnull=True)
        .order_by()
        .values("payout")
        .annotate(names=aggregate)
        .values("names")
    )
    return Subquery(names, output_field=CharField())


def _requester_name() -> F:
    return F(f"requested_by__{get_user_model().USERNAME_FIELD}")


# Column name -> expression (a field path or an expression); the export writes them in this order.
_PAYOUT_EXPORT = {
    "id": "id",
    "kind": "kind",
    "status": "status",
    "amount": "amount",
    "phone": "phone",
    "recipient_name": "recipient_name",
    "recipient_type": "recipient_type",
    "recipient_reference": "recipient_reference",
    "receiver_name": "receiver_name",
    "command_id": "command_id",
    "remarks": "remarks",
    "occasion": "occasion",
    "payment_id": "payment_id",
    "payment_receipt": "payment__receipt",
    "batch_id": "batch_id",
    "originator_conversation_id": "originator_conversation_id",
    "conversation_id": "conversation_id",
    "transaction_id": "transaction_id",
    "result_code": "result_code",
    "result_description": "result_description",
    "requested_by": _requester_name,
    "approved_by": _approver_names,
    "required_approvals": "required_approvals",
    "review_reason": "review_reason",
    "created_at": "created_at",
    "approved_at": "approved_at",
    "submitted_at": "submitted_at",
    "completed_at": "completed_at",
    "mpesa_completed_at": "mpesa_completed_at",
    "status_changed_at": "status_changed_at",
}
_PAYMENT_EXPORT = {
    "id": "id",
    "source": "source",
    "status": "status",
    "receipt": "receipt",
    "phone": "phone",
    "amount": "amount",
    "refunded_amount": "refunded_amount",
    "account_reference": "account_reference",
    "description": "description",
    "payer_name": "payer_name",
    "checkout_request_id": "checkout_request_id",
    "merchant_request_id": "merchant_request_id",
    "result_code": "result_code",
    "result_description": "result_description",
    "transaction_time": "transaction_time",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
TIME_COLUMNS = frozenset(
    {
        "created_at",
        "approved_at",
        "submitted_at",
        "completed_at",
        "mpesa_completed_at",
        "status_changed_at",
        "transaction_time",
        "updated_at",
    }
)
MONEY_COLUMNS = frozenset({"amount", "refunded_amount"})


def _is_text_field(model, path: str) -> bool:
    field = None
    for part in path.split("__"):
        field = model._meta.get_field(part)
        model = field.related_model or model
    return isinstance(field, (CharField, TextField)) and not field.choices


def _export_values(
    queryset: QuerySet, spec: dict, *, as_text: bool, neutralise: bool = False
) -> tuple[list[str], QuerySet]:
    """values_list of the spec's columns. With as_text on PostgreSQL the database formats times and
    amounts itself; elsewhere (or for xlsx, which wants real dates and numbers) values come back typed.
    With neutralise (PostgreSQL only) the database also prefixes free text that a spreadsheet would run as a
    formula (core.spreadsheet_cells); rows written by Python are neutralised as they are written instead."""
    text = as_text and connection.vendor == "postgresql"
    neutralise = neutralise and connection.vendor == "postgresql"
    annotations, names = {}, []
    for name, source in spec.items():
        if callable(source):
            annotations[f"x_{name}"] = NeutralisedText(source()) if neutralise else source()
            names.append(f"x_{name}")
        elif neutralise and _is_text_field(queryset.model, source):
            annotations[f"x_{name}"] = NeutralisedText(F(source))
            names.append(f"x_{name}")
        elif text and name in TIME_COLUMNS:
            annotations[f"x_{name}"] = _NairobiText(F(source))
            names.append(f"x_{name}")
        elif text and name in MONEY_COLUMNS:
            annotations[f"x_{name}"] = _Text(F(source))
            names.append(f"x_{name}")
        else:
            names.append(source)
    return list(spec), queryset.annotate(**annotations).values_list(*names)


def payout_export(
    *, start: date, end: date, as_text: bool = True, neutralise: bool = False
) -> tuple[list[str], QuerySet]:
    """Every payout created between two dates (Nairobi, inclusive), oldest first: (columns, rows)."""
    lower, upper = nairobi_range(start, end)
    queryset = Payout.objects.filter(_in_range("created_at", lower, upper)).order_by("created_at", "id")
    return _export_values(queryset, _PAYOUT_EXPORT, as_text=as_text, neutralise=neutralise)


def payment_export(
    *, start: date, end: date, as_text: bool = True, neutralise: bool = False
) -> tuple[list[str], QuerySet]:
    lower, upper = nairobi_range(start, end)
    queryset = Payment.objects.filter(_in_range("created_at", lower, upper)).order_by("created_at", "id")
    return _export_values(queryset, _PAYMENT_EXPORT, as_text=as_text, neutralise=neutralise)


# --- Statement reconciliation ---------------------------------------------------------------------------


class LedgerEntry(NamedTuple):
    """One of our records as the statement sees it: a receipt, an amount, a status, a time (a tuple: a
    million are made per reconciliation)."""

    type: str  # "payout" or "payment"
    id: int
    receipt: str
    amount: Decimal
    status: str
    time: datetime | None  # filled in only for records being reported


def _payout_entries(rows: Iterable) -> Iterator[LedgerEntry]:
    for pk, receipt, amount, status in rows:
        yield LedgerEntry("payout", pk, receipt, amount, status, None)


def _payment_entries(rows: Iterable) -> Iterator[LedgerEntry]:
    for pk, receipt, amount, status in rows:
        yield LedgerEntry("payment", pk, receipt, amount, status, None)


# Times are left out of the bulk streams: turning a million timestamps into datetimes is most of the cost of
# reading them, and only the few records reported need one (ledger_times).
_PAYOUT_LEDGER = ("id", "transaction_id", "amount", "status")
_PAYMENT_LEDGER = ("id", "receipt", "amount", "status")
CHUNK = 5000


def ledger_payouts_in_period(*, start: datetime, end: datetime) -> Iterator[LedgerEntry]:
    """Payouts holding an M-Pesa receipt that completed in [start, end], streamed: by M-Pesa's completion time
    when we have it, else ours, else (a payout in review) its last status change."""
    in_period = (
        Q(mpesa_completed_at__gte=start, mpesa_completed_at__lte=end)
        | Q(mpesa_completed_at__isnull=True, completed_at__gte=start, completed_at__lte=end)
        | Q(
            mpesa_completed_at__isnull=True,
            completed_at__isnull=True,
            status_changed_at__gte=start,
            status_changed_at__lte=end,
        )
    )
    rows = Payout.objects.filter(in_period, transaction_id__isnull=False).order_by().values_list(*_PAYOUT_LEDGER)
    return _payout_entries(rows.iterator(chunk_size=CHUNK))


def ledger_payments_in_period(*, start: datetime, end: datetime) -> Iterator[LedgerEntry]:
    """Payments holding a receipt whose M-Pesa time (else creation time) is in [start, end], streamed."""
    in_period = Q(transaction_time__gte=start, transaction_time__lte=end) | Q(
        transaction_time__isnull=True, created_at__gte=start, created_at__lte=end
    )
    rows = Payment.objects.filter(in_period, receipt__isnull=False).order_by().values_list(*_PAYMENT_LEDGER)
    return _payment_entries(rows.iterator(chunk_size=CHUNK))


def ledger_times(kind: str, ids: Iterable[int]) -> dict[int, datetime | None]:
    """The time the statement knows each record by: for a payout M-Pesa's completion time, else ours, else
    its last status change; for a payment M-Pesa's transaction time, else its creation."""
    ids = list(ids)
    times: dict[int, datetime | None] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        if kind == "payout":
            rows = Payout.objects.filter(pk__in=chunk).values_list(
                "id", "mpesa_completed_at", "completed_at", "status_changed_at"
            )
            times.update((pk, a or b or c) for pk, a, b, c in rows)
        else:
            rows = Payment.objects.filter(pk__in=chunk).values_list("id", "transaction_time", "created_at")
            times.update((pk, a or b) for pk, a, b in rows)
    return times


def ledger_by_receipts(receipts: Iterable[str]) -> Iterator[LedgerEntry]:
    """Our payouts and payments holding any of these receipts, whatever their time (a few queries per
    thousand receipts)."""
    receipts = list(receipts)
    for i in range(0, len(receipts), CHUNK):
        chunk = receipts[i : i + CHUNK]
        yield from _payout_entries(Payout.objects.filter(transaction_id__in=chunk).values_list(*_PAYOUT_LEDGER))
        yield from _payment_entries(Payment.objects.filter(receipt__in=chunk).values_list(*_PAYMENT_LEDGER))
