"""Reads for the console's overview (the admin index) and `GET /api/dashboard/`: one selector feeds both, so
the page and the JSON always show the same figures.

Every query is bounded, whatever the size of the payout table (bench/dashboard.py measures it on a million):

- the period figures (today, this week) are the per-day totals of payouts that ended (`PayoutDay`, kept by
  a trigger on PostgreSQL: at most 28 rows for a week);
- the current queues (waiting for approval, in flight, in review) are counts of one open status each on the
  `(status, status_changed_at)` index (the approval queue on a partial index of the pending payouts alone):
  they hold the open payouts only, never the history;
- the daily payout volume comes from the hourly running totals a trigger keeps (`SentHour`, at most 720 rows
  for 30 days) on PostgreSQL, and the float series is one index probe per day on `FloatBalance.observed_at`.

No full-table COUNT runs on the request path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils import timezone

from core.nairobi_time import NAIROBI
from daraja import result_codes
from payments.models import (
    IN_FLIGHT_STATUSES,
    SUBMITTED_STATUSES,
    CallbackOutcome,
    DarajaCallback,
    FloatBalance,
    Payout,
    PayoutApproval,
    PayoutControl,
    PayoutDay,
    PayoutKind,
    PayoutStatus,
    SentHour,
)
from payments.payouts.four_eyes import without_interested
from payments.payouts.operator_health import OperatorState, operator_state
from payments.roles import APPROVE_PERMISSION

ZERO = Decimal("0.00")
SERIES_DAYS = 30


@dataclass
class Period:
    """What happened in one period (today, this week)."""

    start: datetime
    paid_count: int = 0
    paid_amount: Decimal = ZERO
    failed: int = 0
    refunds_count: int = 0
    refunds_amount: Decimal = ZERO
    callbacks_refused: int = 0

    @property
    def success_rate(self) -> float | None:
        """Completed out of those that ended (completed or failed); None when none ended."""
        ended = self.paid_count + self.failed
        return None if ended == 0 else round(100 * self.paid_count / ended, 1)


@dataclass
class FailureReason:
    code: str
    count: int
    meaning: str
    action: str


@dataclass
class Day:
    day: date
    float_balance: Decimal | None
    payout_volume: Decimal


@dataclass
class Overview:
    now: datetime
    can_approve: bool
    awaiting_my_approval: int
    pending_approval: int
    needs_review: int
    in_flight: int
    today: Period
    week: Period
    failures_today: list[FailureReason]
    float_latest: FloatBalance | None
    low_balance_threshold: Decimal
    paused: bool
    paused_by_environment: bool
    paused_reason: str
    series: list[Day] = field(default_factory=list)
    # The latest reading of the Working account (B2B results, balance queries): paybill, till and top-up leave it.
    working_latest: FloatBalance | None = None
    # Whether M-Pesa refuses the active credential set's operator (payments/payouts/operator_health.py).
    operator: OperatorState = field(default_factory=lambda: OperatorState("up", None, "", None))

    @property
    def float_low(self) -> bool:
        return self.float_latest is not None and self.float_latest.utility_available < self.low_balance_threshold


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=NAIROBI)


def awaiting_approval_of(user):
    """Payouts `user` may approve now: pending, not requested by them, not already approved by them, and not
    one whose amount, phone or CommandID they changed (the four-eyes rule, payments/payouts/four_eyes.py)."""
    approved_by_user = PayoutApproval.objects.filter(payout=OuterRef("pk"), approver=user, voided_at__isnull=True)
    pending = Payout.objects.filter(status=PayoutStatus.PENDING_APPROVAL)
    return without_interested(pending, user).exclude(Exists(approved_by_user))


def _status_count(*statuses: str) -> int:
    return Payout.objects.filter(status__in=statuses).count()


def _ended_by_day(first_day: date, now: datetime) -> list[tuple[date, str, str, int, Decimal]]:
    """(day, kind, status, count, amount) of the payouts that completed or failed from `first_day` (Nairobi)
    on: on PostgreSQL the per-day totals a trigger keeps (PayoutDay: at most 4 totals a day, their connection
    shards added up by the query), elsewhere the
    payouts themselves."""
    if connection.vendor == "postgresql":
        return list(
            PayoutDay.objects.filter(day__gte=first_day, day__lte=now.astimezone(NAIROBI).date())
            .values("day", "kind", "status")  # the connections' shards of each total, added up
            .annotate(n=Sum("count"), total=Sum("amount"))
            .values_list("day", "kind", "status", "n", "total")
        )
    rows = (
        Payout.objects.filter(
            status__in=[PayoutStatus.COMPLETED, PayoutStatus.FAILED],
            status_changed_at__gte=day_start(first_day),
            status_changed_at__lte=now,
        )
        .values_list("status_changed_at", "kind", "status", "amount")
        .iterator()
    )
    totals: dict[tuple, list] = {}
    for moment, kind, status, amount in rows:
        entry = totals.setdefault((moment.astimezone(NAIROBI).date(), kind, status), [0, ZERO])
        entry[0] += 1
        entry[1] += amount
    return [(*key, count, amount) for key, (count, amount) in totals.items()]


def _periods(today_start: datetime, week_start: datetime, now: datetime) -> tuple[Period, Period]:
    today_period, week_period = Period(start=today_start), Period(start=week_start)
    today = today_start.date()
    for day, kind, status, count, amount in _ended_by_day(week_start.date(), now):
        periods = [week_period] + ([today_period] if day == today else [])
        for period in periods:
            if status == PayoutStatus.COMPLETED:
                period.paid_count += count
                period.paid_amount += amount
                if kind == PayoutKind.REFUND:
                    period.refunds_count += count
                    period.refunds_amount += amount
            else:
                period.failed += count
    refused = DarajaCallback.objects.filter(
        outcome=CallbackOutcome.REJECTED, received_at__gte=week_start, received_at__lte=now
    ).aggregate(today=Count("id", filter=Q(received_at__gte=today_start)), week=Count("id"))
    today_period.callbacks_refused, week_period.callbacks_refused = refused["today"], refused["week"]
    return today_period, week_period


def _failures_today(today_start: datetime, now: datetime) -> list[FailureReason]:
    rows = (
        Payout.objects.filter(
            status=PayoutStatus.FAILED, status_changed_at__gte=today_start, status_changed_at__lte=now
        )
        .values("result_code")
        .annotate(count=Count("id"))
        .order_by("-count", "result_code")
    )
    reasons = []
    for row in rows:
        code = row["result_code"] or ""
        info = result_codes.lookup(code) if code else None
        reasons.append(
            FailureReason(
                code=code or "-",
                count=row["count"],
                meaning=info.admin_message if info else "Failed without a result code (marked by a reviewer)",
                action=info.action if info else "Read the payout's review note",
            )
        )
    return reasons


def _volume_by_day(first_day: date, end: datetime) -> dict[date, Decimal]:
    """What left for M-Pesa per Nairobi day: the hourly totals kept by a trigger on PostgreSQL (each hour's
    connection shards added up by the query, so at most 24 rows a day reach Python); on SQLite, where no
    trigger keeps them, the payouts submitted in the range."""
    start = day_start(first_day)
    totals: dict[date, Decimal] = {}
    if connection.vendor == "postgresql":
        rows = (
            SentHour.objects.filter(hour__gte=start, hour__lt=end)
            .values("hour")
            .annotate(total=Sum("amount"))
            .values_list("hour", "total")
        )
    else:
        rows = Payout.objects.filter(
            submitted_at__gte=start, submitted_at__lt=end, status__in=SUBMITTED_STATUSES
        ).values_list("submitted_at", "amount")
    for moment, amount in rows:
        day = moment.astimezone(NAIROBI).date()
        totals[day] = totals.get(day, ZERO) + amount
    return totals


def _float_by_day(days: list[date]) -> dict[date, Decimal | None]:
    """The last reading at or before the end of each day: one index probe per day."""
    found = {}
    for day in days:
        reading = (
            FloatBalance.objects.of_utility()
            .filter(observed_at__lt=day_start(day + timedelta(days=1)))
            .order_by("-observed_at", "-id")
            .values_list("utility_available", flat=True)
            .first()
        )
        found[day] = reading
    return found


def _series(today: date, now: datetime) -> list[Day]:
    days = [today - timedelta(days=n) for n in range(SERIES_DAYS - 1, -1, -1)]
    volume = _volume_by_day(days[0], day_start(today + timedelta(days=1)))
    floats = _float_by_day(days)
    return [Day(day=d, float_balance=floats[d], payout_volume=volume.get(d, ZERO)) for d in days]


def dashboard_overview(*, user, now: datetime | None = None) -> Overview:
    """The figures of the console's overview for `user` (their approvals queue is their own)."""
    now = now or timezone.now()
    local_now = now.astimezone(NAIROBI)
    today = local_now.date()
    today_start = day_start(today)
    week_start = day_start(today - timedelta(days=today.weekday()))  # Monday
    can_approve = user.has_perm(APPROVE_PERMISSION)
    today_period, week_period = _periods(today_start, week_start, now)
    control = PayoutControl.objects.filter(paused=True).first()
    return Overview(
        now=now,
        can_approve=can_approve,
        awaiting_my_approval=awaiting_approval_of(user).count() if can_approve else 0,
        pending_approval=_status_count(PayoutStatus.PENDING_APPROVAL),
        needs_review=_status_count(PayoutStatus.NEEDS_REVIEW),
        in_flight=_status_count(*IN_FLIGHT_STATUSES),
        today=today_period,
        week=week_period,
        failures_today=_failures_today(today_start, now),
        float_latest=FloatBalance.objects.of_utility()
        .filter(observed_at__lte=now)
        .order_by("-observed_at", "-id")
        .first(),
        low_balance_threshold=settings.LOW_BALANCE_THRESHOLD,
        paused=bool(settings.PAYOUTS_PAUSED or control),
        paused_by_environment=bool(settings.PAYOUTS_PAUSED),
        paused_reason=control.reason if control else "",
        series=_series(today, now),
        working_latest=FloatBalance.objects.of_working()
        .filter(observed_at__lte=now)
        .order_by("-observed_at", "-id")
        .first(),
        operator=operator_state(),
    )
