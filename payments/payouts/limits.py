"""Payout limits and holds: checked when a payout is created and again when it is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from core.errors import PayoutError
from core.money import kes
from payments.models import (
    RELEASED_STATUSES,
    SUBMITTED_STATUSES,
    FloatBalance,
    Payout,
    PayoutControl,
    PayoutRail,
    PayoutStatus,
    SentHour,
)
from payments.payouts.rails import RAILS, RAILS_LEAVING, Account

# Payouts that count against a day's limit once requested (until they fail or are rejected).
_COMMITTED = [s for s in PayoutStatus.values if s not in RELEASED_STATUSES]


def _today_bounds() -> tuple[datetime, datetime]:
    today = timezone.localdate()
    start = timezone.make_aware(datetime.combine(today, time.min))
    return start, start + timedelta(days=1)


def required_approvals(amount: Decimal) -> int:
    return 2 if amount >= settings.PAYOUT_DUAL_APPROVAL_THRESHOLD else 1


def validate_amount(amount: Decimal, *, rail: str = PayoutRail.MOBILE) -> Decimal:
    """The amount as stored, or PayoutError: whole shillings within the limits of the account `rail` leaves."""
    if not isinstance(amount, Decimal):
        raise PayoutError("Amount must be a decimal number of shillings.")
    if not amount.is_finite() or amount <= 0:
        raise PayoutError("Amount must be a positive number of shillings.")
    if amount != amount.to_integral_value():
        raise PayoutError("M-Pesa pays whole shillings: enter an amount without cents.")
    spec = RAILS[rail]
    what = "payout" if rail == PayoutRail.MOBILE else f"{rail} payout"
    if amount < spec.min_amount():
        raise PayoutError(f"The smallest {what} M-Pesa allows is {kes(spec.min_amount())}.")
    if amount > spec.max_amount():
        raise PayoutError(f"The largest single {what} allowed is {kes(spec.max_amount())}.")
    return amount.quantize(Decimal("0.01"))


def _sum(queryset) -> Decimal:
    return queryset.aggregate(total=Sum("amount"))["total"] or Decimal("0")


def check_daily_limits_at_creation(
    *, phone: str = "", amount: Decimal, exclude_pk: int | None = None, rail: str = PayoutRail.MOBILE, party_b: str = ""
) -> None:
    """Refuse a payout that would take today's total out of the account its rail leaves (Utility for B2C and
    Pochi, Working for B2B, top-ups and reversals) above that account's daily limit, or today's total to one
    payee (a phone, or a paybill or till) above the per-payee limit."""
    start, end = _today_bounds()
    spec = RAILS[rail]
    today = Payout.objects.filter(
        created_at__gte=start, created_at__lt=end, status__in=_COMMITTED, rail__in=RAILS_LEAVING[spec.leaves]
    )
    if exclude_pk:
        today = today.exclude(pk=exclude_pk)
    account = "B2C (Utility)" if spec.leaves == Account.UTILITY else "Working account"
    if _sum(today) + amount > spec.daily_limit():
        raise PayoutError(
            f"This payout would take today's total from the {account} above its daily limit "
            f"({kes(spec.daily_limit())})."
        )
    if phone and _sum(today.filter(phone=phone)) + amount > settings.PAYOUT_RECIPIENT_DAILY_LIMIT:
        raise PayoutError(
            "This payout would take today's total to this phone above "
            f"{kes(settings.PAYOUT_RECIPIENT_DAILY_LIMIT)}."
        )
    if party_b and rail in (PayoutRail.PAYBILL, PayoutRail.TILL) and (
        _sum(today.filter(party_b=party_b)) + amount > settings.B2B_RECIPIENT_DAILY_LIMIT
    ):
        raise PayoutError(
            f"This payout would take today's total to {party_b} above {kes(settings.B2B_RECIPIENT_DAILY_LIMIT)}."
        )


def payouts_paused() -> bool:
    if settings.PAYOUTS_PAUSED:
        return True
    return PayoutControl.objects.filter(paused=True).exists()


def latest_float() -> FloatBalance | None:
    return FloatBalance.objects.of_utility().order_by("-observed_at", "-id").first()


# --- At send: one round trip --------------------------------------------------------------------------------
#
# The payouts that count against today's limits at send are those in SENT_STATUSES (payments/models/payouts.py)
# that were submitted today, or are `sending` now (whenever they were claimed). That set is split in two
# disjoint parts, each read through an index instead of a scan of every payout: the `sending` ones (the status
# index; a handful at any moment) and the others submitted today (the partial indexes `payout_sent_submitted`
# and `payout_sent_phone_submitted`, whose condition is SUBMITTED_STATUSES, written out below as literals so the
# planner can match it). The same set is what the SentHour trigger counts and what the console's volume series
# reads on SQLite.


def _literals(values) -> str:
    assert all(str(v).replace("_", "").isalnum() for v in values)  # our own constants, never input
    return ", ".join(f"'{v}'" for v in values)


@dataclass(frozen=True)
class SendFigures:
    """What the limits at send are decided on, read in one statement (see send_figures_sql), for the account
    the payout leaves: Utility (B2C, Pochi) or Working (B2B, top-ups, reversals)."""

    paused: bool
    sent_today: Decimal  # from the same account, excluding the payout itself
    sent_today_to_payee: Decimal  # to the same phone (Utility) or business number (Working)
    float_available: Decimal | None  # the account's latest reading, None when there is none


def _decimal(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def send_figures_sql(payout: Payout) -> tuple[list[str], list]:
    """Select-list expressions (in SendFigures' order, 6 columns) and their parameters, for a statement that
    may carry other columns too. Read after the payout's row lock is taken, as before."""
    if RAILS[payout.rail].leaves == Account.WORKING:
        return _working_figures_sql(payout)
    qn = connection.ops.quote_name
    payouts, control, floats = (qn(m._meta.db_table) for m in (Payout, PayoutControl, FloatBalance))
    today = _today_bounds()  # once: the choice below and the parameters must name the same day
    start, end = (connection.ops.adapt_datetimefield_value(t) for t in today)
    utility = _literals(RAILS_LEAVING[Account.UTILITY])
    sending = (
        f"SELECT COALESCE(SUM(amount), 0) FROM {payouts} WHERE status = '{PayoutStatus.SENDING}'"
        f" AND rail IN ({utility}) AND id <> %s"
    )
    submitted = (
        f"SELECT COALESCE(SUM(amount), 0) FROM {payouts} WHERE status IN ({_literals(SUBMITTED_STATUSES)})"
        " AND submitted_at >= %s AND submitted_at < %s AND id <> %s"
    )
    # What left the Working account today is not the Utility account's: read from the small partial index
    # payout_working_submitted (migration 0029), it is taken off the day's total.
    working = (
        f"SELECT COALESCE(SUM(amount), 0) FROM {payouts} WHERE rail IN ({_literals(RAILS_LEAVING[Account.WORKING])})"
        f" AND status IN ({_literals(SUBMITTED_STATUSES)}) AND submitted_at >= %s AND submitted_at < %s"
    )
    total_sql, total_params = f"(({submitted} AND rail IN ({utility})))", [start, end, payout.pk]
    if _hour_totals_cover(*today):
        # The running total per UTC hour (SentHour, kept by a trigger, every rail): at most 24 rows, however
        # many payouts left today; less what left the Working account, less the payout itself, should it count.
        hours = qn(SentHour._meta.db_table)
        total_sql = (
            f"((SELECT COALESCE(SUM(amount), 0) FROM {hours} WHERE hour >= %s AND hour < %s)"
            f" - ({working})"
            f" - (SELECT COALESCE(SUM(amount), 0) FROM {payouts} WHERE id = %s"
            f" AND status IN ({_literals(SUBMITTED_STATUSES)}) AND submitted_at >= %s AND submitted_at < %s))"
        )
        total_params = [start, end, start, end, payout.pk, start, end]
    columns = [
        f"EXISTS (SELECT 1 FROM {control} WHERE paused)",
        f"({sending})",
        total_sql,
        f"({sending} AND phone = %s)",
        f"({submitted} AND phone = %s)",
        f"(SELECT utility_available FROM {floats} WHERE utility_available IS NOT NULL"
        " ORDER BY observed_at DESC, id DESC LIMIT 1)",
    ]
    params = [
        payout.pk,
        *total_params,
        payout.pk, payout.phone,
        start, end, payout.pk, payout.phone,
    ]
    return columns, params


def _working_figures_sql(payout: Payout) -> tuple[list[str], list]:
    """send_figures_sql for a payout leaving the Working account: few payouts a day, summed from the partial
    index payout_working_submitted, and the Working account's latest reading."""
    qn = connection.ops.quote_name
    payouts, control, floats = (qn(m._meta.db_table) for m in (Payout, PayoutControl, FloatBalance))
    start, end = (connection.ops.adapt_datetimefield_value(t) for t in _today_bounds())
    working = _literals(RAILS_LEAVING[Account.WORKING])
    sending = (
        f"SELECT COALESCE(SUM(amount), 0) FROM {payouts} WHERE status = '{PayoutStatus.SENDING}'"
        f" AND rail IN ({working}) AND id <> %s"
    )
    submitted = (
        f"SELECT COALESCE(SUM(amount), 0) FROM {payouts} WHERE rail IN ({working})"
        f" AND status IN ({_literals(SUBMITTED_STATUSES)}) AND submitted_at >= %s AND submitted_at < %s AND id <> %s"
    )
    columns = [
        f"EXISTS (SELECT 1 FROM {control} WHERE paused)",
        f"({sending})",
        f"({submitted})",
        f"({sending} AND party_b = %s)",
        f"({submitted} AND party_b = %s)",
        f"(SELECT working_available FROM {floats} WHERE working_available IS NOT NULL"
        " ORDER BY observed_at DESC, id DESC LIMIT 1)",
    ]
    params = [payout.pk, start, end, payout.pk, payout.pk, payout.party_b, start, end, payout.pk, payout.party_b]
    return columns, params


def _hour_totals_cover(start: datetime, end: datetime) -> bool:
    """Whether today can be read from the hourly totals: on PostgreSQL (which keeps them), and when the local
    day starts and ends on whole UTC hours (Africa/Nairobi does; a zone offset by :30 or :45 does not)."""
    return connection.vendor == "postgresql" and all(
        (moment.astimezone(UTC).minute, moment.second, moment.microsecond) == (0, 0, 0) for moment in (start, end)
    )


def send_figures_from(values) -> SendFigures:
    paused, sending, submitted, payee_sending, payee_submitted, balance = values
    return SendFigures(
        paused=bool(paused),
        sent_today=_decimal(sending) + _decimal(submitted),
        sent_today_to_payee=_decimal(payee_sending) + _decimal(payee_submitted),
        float_available=None if balance is None else _decimal(balance).quantize(Decimal("0.01")),
    )


def hold_reason_from(payout: Payout, figures: SendFigures) -> str:
    """Why this approved payout must wait instead of leaving now ("" when it may go)."""
    if settings.PAYOUTS_PAUSED or figures.paused:
        return "Payouts are paused (kill switch)."
    rail = RAILS[payout.rail]
    if figures.sent_today + payout.amount > rail.daily_limit():
        if rail.leaves == Account.WORKING:
            return f"The Working account's daily limit of {kes(rail.daily_limit())} reached; waits for tomorrow."
        return f"Daily limit of {kes(rail.daily_limit())} reached; waits for tomorrow."
    if rail.leaves == Account.UTILITY:
        if figures.sent_today_to_payee + payout.amount > settings.PAYOUT_RECIPIENT_DAILY_LIMIT:
            limit = settings.PAYOUT_RECIPIENT_DAILY_LIMIT
            return f"This phone's daily limit of {kes(limit)} reached; waits for tomorrow."
        if figures.float_available is not None and payout.amount > figures.float_available:
            return f"The B2C float ({kes(figures.float_available)}) is below this payout; waits for a top-up."
        return ""
    if payout.party_b and payout.rail in (PayoutRail.PAYBILL, PayoutRail.TILL) and (
        figures.sent_today_to_payee + payout.amount > settings.B2B_RECIPIENT_DAILY_LIMIT
    ):
        return (f"The daily limit of {kes(settings.B2B_RECIPIENT_DAILY_LIMIT)} to {payout.party_b} reached; "
                "waits for tomorrow.")
    if figures.float_available is not None and payout.amount > figures.float_available:
        return (f"The Working account ({kes(figures.float_available)}) is below this payout; waits for money "
                "to be moved in (M-Pesa org portal).")
    return ""


# The statuses of a failed payout that M-Pesa then reported paid: completed, or in review after that success.
ORIGINAL_REPORTED_PAID = (PayoutStatus.COMPLETED, PayoutStatus.NEEDS_REVIEW)


def retry_hold_reason(*, original_id: int, original_status: str) -> str:
    """Why a request again of payout `original_id` must not leave: its original, recorded failed, was then
    reported paid (completed, or in review after that success), so sending it would pay the recipient twice.
    "" when the original is still failed. It waits, approved or not, until a person settles the original;
    if the original was paid, an approver rejects it."""
    if original_status not in ORIGINAL_REPORTED_PAID:
        return ""
    return (
        f"PAID TWICE? Payout #{original_id}, requested again as this one, was reported paid by M-Pesa "
        f"({original_status}): this one is not sent while that stands; reject it if the original was paid."
    )


def send_hold_reason(payout: Payout) -> str:
    """Why this approved payout must wait instead of leaving now ("" when it may go). One statement: the
    kill switch, today's sent totals (all and to this phone) and the latest float reading."""
    columns, params = send_figures_sql(payout)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)}", params)
        values = cursor.fetchone()
    return hold_reason_from(payout, send_figures_from(values))
