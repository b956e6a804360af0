"""Our records as an M-Pesa statement sees them (receipt, amount, status, time), streamed for matching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db.models import (
    Q,
)

from payments.models import (
    Payment,
    Payout,
)

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
