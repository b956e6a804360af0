"""The reconciliation API's reads: counts and totals of a period, and every discrepancy that needs a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import (
    Count,
    DecimalField,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.money import SUM
from payments.models import (
    CallbackOutcome,
    DarajaCallback,
    FloatBalance,
    Payment,
    PaymentStatus,
    Payout,
    PayoutKind,
    PayoutStatus,
    PullFinding,
)
from payments.selectors.payments import payment_list, stk_push_unanswered
from payments.selectors.payouts import payout_list
from payments.selectors.periods import ZERO, in_range, nairobi_range

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
    payments = Payment.objects.filter(in_range("created_at", lower, upper)).aggregate(
        total_payments=Count("id"),
        completed_payments=_count(status=PaymentStatus.COMPLETED),
        failed_payments=_count(status=PaymentStatus.FAILED),
        payment_revenue=_sum("amount", status=PaymentStatus.COMPLETED),
        # Given back whole by a reversal: no longer revenue; the reversal's payout is among the refunds.
        reversed_payments=_count(status=PaymentStatus.REVERSED),
        reversed_total=_sum("amount", status=PaymentStatus.REVERSED),
    )
    payouts = Payout.objects.filter(in_range("created_at", lower, upper)).aggregate(
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


PENDING_PAYMENT_AGE = timedelta(days=1)


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
    # What Pull Transactions found: a payment whose confirmation never came, a disagreement, an unreadable row.
    PULL_FINDING = "pull_finding"
    # From the ledger (docs/ledger.md).
    PAYOUT_IN_FLIGHT_LONG = "payout_in_flight_long"
    FLOAT_DRIFT = "float_drift"
    # A paid payout whose charge (its result's) differs from the tariff's expected charge (docs/charges.md).
    CHARGE_DIFFERS = "charge_differs"

    # Listing order: what is most likely money at risk first.
    ALL = (
        PAYOUT_NEEDS_REVIEW,
        PAYOUT_OVERDUE,
        PAYOUT_IN_FLIGHT_LONG,
        FLOAT_DRIFT,
        RESULT_MISMATCH,
        CHARGE_DIFFERS,
        CALLBACK_UNMATCHED,
        CALLBACK_INVALID,
        CALLBACK_ERROR,
        PULL_FINDING,
        PAYMENT_PENDING,
    )


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
            DiscrepancyKind.CHARGE_DIFFERS,
            payouts.filter(status=PayoutStatus.COMPLETED, charge__isnull=False, expected_charge__isnull=False)
            .exclude(charge=F("expected_charge")),
            "completed_at",
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
        DiscrepancySource(
            DiscrepancyKind.PULL_FINDING, PullFinding.objects.select_related("payment"), "created_at"
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
