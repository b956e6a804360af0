"""Reading the ledger: balances (now or as of any past time), the trial balance, statements, checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from ledger import accounts
from ledger.models import Account, DailyBalance, Entry, FloatCheck, JournalTransaction

ZERO = Decimal("0.00")


@dataclass
class BalanceLine:
    account: Account
    debits: Decimal = ZERO
    credits: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        """On the account's normal side: debits less credits for an asset or expense, the reverse otherwise."""
        net = self.debits - self.credits
        return net if self.account.debit_normal else -net

    @property
    def code(self) -> str:
        return self.account.code


@dataclass
class TrialBalance:
    at: datetime | None
    lines: list[BalanceLine] = field(default_factory=list)

    @property
    def debits(self) -> Decimal:
        return sum((line.debits for line in self.lines), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((line.credits for line in self.lines), ZERO)

    @property
    def balanced(self) -> bool:
        return self.debits == self.credits


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _totals(at: datetime | None, codes: list[str] | None = None) -> dict[str, tuple[Decimal, Decimal]]:
    """(debits, credits) per account code: the running totals of every whole UTC day before `at`, plus the
    entries of `at`'s own day up to `at` (every day when `at` is None)."""
    totals: dict[str, list[Decimal]] = {}
    days = DailyBalance.objects.all()
    if codes is not None:
        days = days.filter(account_id__in=codes)
    if at is not None:
        days = days.filter(day__lt=at.astimezone(UTC).date())
    for code, debits, credits in days.values("account").annotate(d=Sum("debits"), c=Sum("credits")).values_list(
        "account", "d", "c"
    ).order_by():
        totals[code] = [debits or ZERO, credits or ZERO]
    if at is not None:
        start = _day_start(at.astimezone(UTC).date())
        for code, debits, credits in _entries_between(start, at, codes):
            current = totals.setdefault(code, [ZERO, ZERO])
            current[0] += debits or ZERO
            current[1] += credits or ZERO
    return {code: (d, c) for code, (d, c) in totals.items()}


def _entries_between(start: datetime, end: datetime, codes: list[str] | None):
    if connection.vendor == "postgresql":
        # One index range per account (ledger_entry_account_time), not a scan of every entry of the period.
        where = "WHERE a.code = ANY(%s)" if codes is not None else ""
        params = [start, end] + ([list(codes)] if codes is not None else [])
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.code, s.d, s.c FROM ledger_account a CROSS JOIN LATERAL ("
                " SELECT sum(e.debit) AS d, sum(e.credit) AS c FROM ledger_entry e"
                " WHERE e.account_id = a.code AND e.posted_at >= %s AND e.posted_at <= %s) s "
                f"{where}",
                params,
            )
            return cursor.fetchall()
    entries = Entry.objects.filter(posted_at__gte=start, posted_at__lte=end)
    if codes is not None:
        entries = entries.filter(account_id__in=codes)
    return entries.values("account").annotate(d=Sum("debit"), c=Sum("credit")).values_list("account", "d", "c")


def trial_balance(*, at: datetime | None = None) -> TrialBalance:
    totals = _totals(at)
    result = TrialBalance(at=at)
    for account in Account.objects.order_by("code"):
        debits, credits = totals.get(account.code, (ZERO, ZERO))
        result.lines.append(BalanceLine(account, debits, credits))
    return result


def account_balance(code: str, *, at: datetime | None = None) -> Decimal:
    account = Account.objects.get(code=code)
    debits, credits = _totals(at, [code]).get(code, (ZERO, ZERO))
    return BalanceLine(account, debits, credits).balance


def account_balances(codes: list[str], *, at: datetime | None = None) -> dict[str, Decimal]:
    found = {a.code: a for a in Account.objects.filter(code__in=codes)}
    totals = _totals(at, codes)
    return {code: BalanceLine(found[code], *totals.get(code, (ZERO, ZERO))).balance for code in codes if code in found}


def account_list() -> list[BalanceLine]:
    return trial_balance().lines


def account_entries(*, code: str, start: datetime | None = None, end: datetime | None = None) -> QuerySet[Entry]:
    entries = Entry.objects.filter(account_id=code).select_related("transaction")
    if start is not None:
        entries = entries.filter(posted_at__gte=start)
    if end is not None:
        entries = entries.filter(posted_at__lt=end)
    return entries


def journal_between(*, start: datetime, end: datetime) -> QuerySet[Entry]:
    """Every entry of the transactions posted in [start, end), transaction by transaction."""
    return (
        Entry.objects.filter(transaction__posted_at__gte=start, transaction__posted_at__lt=end)
        .select_related("transaction", "account")
        .order_by("transaction__posted_at", "transaction_id", "id")
    )


# --- Checks against M-Pesa ---------------------------------------------------------------------------------


def in_flight_stale(*, now: datetime | None = None) -> QuerySet[JournalTransaction]:
    """`sent` postings still in payouts_in_flight (never cleared nor reversed) for longer than
    PAYOUT_IN_FLIGHT_ALERT_HOURS: payouts whose money has been on its way too long."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.PAYOUT_IN_FLIGHT_ALERT_HOURS)
    return (
        JournalTransaction.objects.filter(kind="sent", posted_at__lt=cutoff)
        .exclude(Exists(JournalTransaction.objects.filter(clears=OuterRef("pk"))))
        .exclude(Exists(JournalTransaction.objects.filter(reverses=OuterRef("pk"))))
        .select_related("payout")
        .order_by("posted_at", "id")
    )


def float_drifts() -> QuerySet[FloatCheck]:
    """The latest float reading, when it drifts from the ledger (a later reading that agrees resolves it)."""
    latest = FloatCheck.objects.order_by("-observed_at", "-id").values_list("pk", flat=True)[:1]
    return FloatCheck.objects.filter(flagged=True, pk__in=latest).select_related("reading")


def in_flight_balance() -> Decimal:
    return account_balance(accounts.PAYOUTS_IN_FLIGHT)


@dataclass(frozen=True)
class FloatAdvice:
    """What the float must cover next: payouts approved (sent as soon as a worker takes them) and payouts
    waiting for approval (sent the moment they are approved), against the latest Utility Account reading."""

    approved: Decimal
    pending_approval: Decimal
    latest_float: Decimal | None
    observed_at: datetime | None

    @property
    def committed(self) -> Decimal:
        return self.approved + self.pending_approval

    @property
    def shortfall(self) -> Decimal:
        """How much to top up so every one of them can be paid (0 when the float covers them); without any
        reading, the whole of them."""
        return max(self.committed - (self.latest_float or Decimal("0")), Decimal("0"))


def float_advice() -> FloatAdvice:
    from payments.models import FloatBalance, Payout, PayoutStatus

    waiting = Payout.objects.filter(status__in=[PayoutStatus.APPROVED, PayoutStatus.PENDING_APPROVAL])
    totals = {row["status"]: row["total"] for row in waiting.values("status").annotate(total=Sum("amount"))}
    latest = FloatBalance.objects.of_utility().order_by("-observed_at", "-id").first()
    return FloatAdvice(
        approved=totals.get(PayoutStatus.APPROVED) or Decimal("0"),
        pending_approval=totals.get(PayoutStatus.PENDING_APPROVAL) or Decimal("0"),
        latest_float=latest.utility_available if latest else None,
        observed_at=latest.observed_at if latest else None,
    )
