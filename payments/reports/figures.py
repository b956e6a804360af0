"""The figures of a report (docs/reports.md). A selector: it reads, never writes.

Each payout counts in the period of the Nairobi day it was requested (`created_at`, which never changes), and
is counted by where it stands now: a closed month's figures only move as its payouts settle, never between
periods. Each payment counts in the period of the day it was received. On PostgreSQL both come from running totals
per day that triggers keep (PayoutReportDay, PaymentReportDay: migration 0027); elsewhere the rows are summed. A
few rows per day reach Python and are folded into weeks or months here. bench/reports.py measures a month of a
million payouts: summing the payouts themselves took seconds.

An outcome nobody knows yet (verifying, needs_review, and sending/submitted past PAYOUT_RESULT_DEADLINE_MINUTES)
is counted apart: never as a failure, and left out of the success rate, which is completed out of completed and
failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from daraja import result_codes
from payments.models import (
    Payment,
    PaymentReportDay,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutRail,
    PayoutReportDay,
    PayoutStatus,
)
from payments.reports.params import ReportPeriod

ZERO = Decimal("0.00")
NAIROBI_ZONE = ZoneInfo("Africa/Nairobi")  # for SQL's date truncation, which wants the zone's name
WAITING_STATUSES = (PayoutStatus.SENDING, PayoutStatus.SUBMITTED)  # unknown once past the result deadline
NOT_SENT_STATUSES = (PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED)
NO_CODE = "-"


@dataclass
class Money:
    count: int = 0
    amount: Decimal = ZERO

    def add(self, count: int, amount: Decimal | None) -> None:
        self.count += count
        self.amount += amount or ZERO


@dataclass
class Bucket:
    """One period's figures (a day, a week or a month; or the whole report, as its totals)."""

    start: date
    end: date
    money_in: dict[str, Money] = field(default_factory=lambda: {s: Money() for s in PaymentSource.values})
    money_out: dict[str, Money] = field(default_factory=lambda: {r: Money() for r in PayoutRail.values})
    requested: int = 0
    sent: int = 0
    completed: Money = field(default_factory=Money)
    failed: Money = field(default_factory=Money)
    unknown: Money = field(default_factory=Money)
    in_flight: int = 0  # sent, within the result deadline
    not_sent: int = 0  # waiting for approval or to be sent
    rejected: int = 0
    charges: Decimal = ZERO
    approval_time: timedelta = timedelta(0)
    approvals: int = 0
    completion_time: timedelta = timedelta(0)
    completions: int = 0

    @property
    def success_rate(self) -> Decimal | None:
        """Completed out of those whose outcome is known (completed or failed), in percent; None when none is."""
        known = self.completed.count + self.failed.count
        if not known:
            return None
        return (Decimal(100 * self.completed.count) / known).quantize(Decimal("0.1"))

    @property
    def total_in(self) -> Decimal:
        return sum((m.amount for m in self.money_in.values()), ZERO)

    @property
    def total_out(self) -> Decimal:
        return sum((m.amount for m in self.money_out.values()), ZERO)

    @property
    def average_to_approval(self) -> timedelta | None:
        return self.approval_time / self.approvals if self.approvals else None

    @property
    def average_to_completion(self) -> timedelta | None:
        return self.completion_time / self.completions if self.completions else None


@dataclass
class FailureReason:
    code: str
    meaning: str
    action: str
    count: int = 0
    amount: Decimal = ZERO


@dataclass
class Report:
    period: ReportPeriod
    generated_at: datetime
    buckets: list[Bucket]
    totals: Bucket
    failures: list[FailureReason]


def bucket_start(day: date, period: ReportPeriod) -> date:
    """The first day of the period `day` is reported in: itself, its week's Monday or its month's first day,
    never before the report's start."""
    if period.group == "week":
        first = day - timedelta(days=day.weekday())
    elif period.group == "month":
        first = day.replace(day=1)
    else:
        first = day
    return max(first, period.start)


def _buckets(period: ReportPeriod) -> dict[date, Bucket]:
    buckets: dict[date, Bucket] = {}
    day = period.start
    while day <= period.end:
        start = bucket_start(day, period)
        bucket = buckets.setdefault(start, Bucket(start=start, end=day))
        bucket.end = day
        day += timedelta(days=1)
    return buckets


def _payout_rows(period: ReportPeriod) -> list[dict]:
    """(day, rail, status, failure_code) with the sums of their payouts: on PostgreSQL from the running totals a
    trigger keeps, elsewhere from the payouts."""
    return kept_rows(period) if connection.vendor == "postgresql" else summed_rows(period)


def kept_rows(period: ReportPeriod) -> list[dict]:
    """The running totals (PayoutReportDay), their connection shards added up by the query."""
    rows = (
        PayoutReportDay.objects.filter(day__gte=period.start, day__lte=period.end)
        .values("day", "rail", "status", "failure_code")
        .annotate(n=Sum("count"), amount=Sum("amount"), charge=Sum("charge"), approval_us=Sum("approval_us"),
                  approvals=Sum("approvals"), completion_us=Sum("completion_us"), completions=Sum("completions"))
        .order_by()
    )  # fmt: skip
    return [
        {**row, "approval_time": timedelta(microseconds=row["approval_us"]),
         "completion_time": timedelta(microseconds=row["completion_us"])}
        for row in rows if row["n"]
    ]  # fmt: skip


def summed_rows(period: ReportPeriod) -> list[dict]:
    """The same rows summed from the payouts themselves (SQLite keeps no running totals)."""
    to_approval = ExpressionWrapper(F("approved_at") - F("created_at"), output_field=DurationField())
    to_completion = ExpressionWrapper(F("completed_at") - F("approved_at"), output_field=DurationField())
    done = Q(status=PayoutStatus.COMPLETED, approved_at__isnull=False, completed_at__isnull=False)
    return list(
        _requested_in(period)
        .annotate(failure_code=Case(When(status=PayoutStatus.FAILED, then=F("result_code")), default=Value(""),
                                    output_field=CharField()))
        .values("day", "rail", "status", "failure_code")
        .annotate(
            n=Count("id"),
            amount=Sum("amount"),
            charge=Sum("charge"),
            approval_time=Sum(to_approval, filter=Q(approved_at__isnull=False)),
            approvals=Count("id", filter=Q(approved_at__isnull=False)),
            completion_time=Sum(to_completion, filter=done),
            completions=Count("id", filter=done),
        )
        .order_by()
    )  # fmt: skip


def _requested_in(period: ReportPeriod):
    return Payout.objects.filter(created_at__gte=period.starts_at, created_at__lt=period.ends_before).annotate(
        day=TruncDate("created_at", tzinfo=NAIROBI_ZONE)
    )


def _recent_rows(period: ReportPeriod, now: datetime):
    """Payouts sending or submitted within the result deadline, per day: still in flight (the others in those
    statuses are past it: their outcome is unknown). Read on the (status, status_changed_at) index, whose range
    holds only the last PAYOUT_RESULT_DEADLINE_MINUTES of changes."""
    deadline = now - timedelta(minutes=settings.PAYOUT_RESULT_DEADLINE_MINUTES)
    return (
        _requested_in(period)
        .filter(status__in=WAITING_STATUSES, status_changed_at__gte=deadline)
        .values("day")
        .annotate(n=Count("id"), amount=Sum("amount"))
        .order_by()
    )


def _payment_rows(period: ReportPeriod) -> list[dict]:
    """(day, source, n, amount) of the payments received: on PostgreSQL from the running totals a trigger keeps,
    elsewhere from the payments."""
    return kept_payment_rows(period) if connection.vendor == "postgresql" else summed_payment_rows(period)


def kept_payment_rows(period: ReportPeriod) -> list[dict]:
    rows = (
        PaymentReportDay.objects.filter(day__gte=period.start, day__lte=period.end)
        .values("day", "source")
        .annotate(n=Sum("count"), amount=Sum("amount"))
        .order_by()
    )
    return [row for row in rows if row["n"]]


def summed_payment_rows(period: ReportPeriod) -> list[dict]:
    return list(
        Payment.objects.filter(
            status__in=[PaymentStatus.COMPLETED, PaymentStatus.REVERSED],
            created_at__gte=period.starts_at,
            created_at__lt=period.ends_before,
        )
        .annotate(day=TruncDate("created_at", tzinfo=NAIROBI_ZONE))
        .values("day", "source")
        .annotate(n=Count("id"), amount=Sum("amount"))
        .order_by()
    )


@lru_cache(maxsize=512)  # the catalogue never changes while the process runs: one lookup per rail and code
def failure_text(rail: str, code: str) -> result_codes.ResultCodeInfo | None:
    """The catalogue's entry for a failed payout's code: a synchronous refusal's (dotted, or one of the client's
    own) from the `sync` table, a result's from its rail's table. None for no code (failed by a reviewer)."""
    if not code:
        return None
    info = result_codes.lookup(code)
    if info.namespace == result_codes.Namespace.SYNC:
        return info
    try:
        return result_codes.classify_rail(rail, code)
    except ValueError:  # a rail this version does not know: read as B2C
        return info


def _add_payout_row(bucket: Bucket, row: dict) -> None:
    status, n, amount = row["status"], row["n"], row["amount"]
    bucket.requested += n
    bucket.charges += row["charge"] or ZERO
    bucket.approval_time += row["approval_time"] or timedelta(0)
    bucket.approvals += row["approvals"]
    bucket.completion_time += row["completion_time"] or timedelta(0)
    bucket.completions += row["completions"]
    if status in NOT_SENT_STATUSES:
        bucket.not_sent += n
        return
    if status == PayoutStatus.REJECTED:
        bucket.rejected += n
        return
    bucket.sent += n
    if status == PayoutStatus.COMPLETED:
        bucket.completed.add(n, amount)
        bucket.money_out.setdefault(row["rail"], Money()).add(n, amount)
    elif status == PayoutStatus.FAILED:
        bucket.failed.add(n, amount)
    else:  # verifying, needs_review; sending and submitted until _recent_rows moves the recent ones
        bucket.unknown.add(n, amount)


def _add_failure(failures: dict[tuple, FailureReason], row: dict) -> None:
    info = failure_text(row["rail"], row["failure_code"])
    code = row["failure_code"] or NO_CODE
    meaning = info.admin_message if info else "Failed without a result code (marked by a reviewer)"
    action = info.action if info else "Read the payout's review note"
    reason = failures.setdefault((code, meaning), FailureReason(code=code, meaning=meaning, action=action))
    reason.count += row["n"]
    reason.amount += row["amount"] or ZERO


def _merge(into: Bucket, other: Bucket) -> None:
    for source, money in other.money_in.items():
        into.money_in.setdefault(source, Money()).add(money.count, money.amount)
    for rail, money in other.money_out.items():
        into.money_out.setdefault(rail, Money()).add(money.count, money.amount)
    for name in ("completed", "failed", "unknown"):
        getattr(into, name).add(getattr(other, name).count, getattr(other, name).amount)
    for name in ("requested", "sent", "in_flight", "not_sent", "rejected", "charges", "approval_time",
                 "approvals", "completion_time", "completions"):  # fmt: skip
        setattr(into, name, getattr(into, name) + getattr(other, name))


def report(period: ReportPeriod, *, now: datetime | None = None) -> Report:
    now = now or timezone.now()
    buckets = _buckets(period)
    failures: dict[tuple, FailureReason] = {}
    for row in _payout_rows(period):
        _add_payout_row(buckets[bucket_start(row["day"], period)], row)
        if row["status"] == PayoutStatus.FAILED:
            _add_failure(failures, row)
    for row in _recent_rows(period, now):  # sent within the result deadline: in flight, not unknown
        bucket = buckets[bucket_start(row["day"], period)]
        bucket.in_flight += row["n"]
        bucket.unknown.add(-row["n"], -row["amount"])
    for row in _payment_rows(period):
        bucket = buckets[bucket_start(row["day"], period)]
        bucket.money_in.setdefault(row["source"], Money()).add(row["n"], row["amount"])
    totals = Bucket(start=period.start, end=period.end)
    for bucket in buckets.values():
        _merge(totals, bucket)
    ordered = sorted(failures.values(), key=lambda f: (-f.count, -f.amount, f.code))
    return Report(period=period, generated_at=now, buckets=list(buckets.values()), totals=totals, failures=ordered)
