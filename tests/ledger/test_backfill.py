"""`manage.py ledger_backfill`: the history that predates the ledger, posted once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledger import accounts
from ledger.models import JournalTransaction
from payments.models import PaymentStatus, PayoutStatus
from tests.factories import advance, make_payment, make_payout
from tests.ledger.conftest import assert_balanced, balances

pytestmark = pytest.mark.django_db


def backfill() -> str:
    out = StringIO()
    call_command("ledger_backfill", stdout=out)
    return out.getvalue()


@pytest.fixture
def history():
    """Payouts and payments written before the ledger existed (straight into their tables)."""
    long_ago = timezone.now() - timedelta(days=40)
    payment = make_payment(amount=Decimal("1000.00"), created_at=long_ago)
    make_payment(status=PaymentStatus.PENDING, receipt=None, amount=Decimal("5.00"))
    return {
        "refund": make_payout(kind="refund", payment=payment, status=PayoutStatus.COMPLETED, transaction_id="R1",
                              amount=Decimal("300.00"), completed_at=long_ago),
        "paid": make_payout(status=PayoutStatus.COMPLETED, transaction_id="R2", amount=Decimal("40.00"),
                            completed_at=long_ago),
        "failed": make_payout(status=PayoutStatus.FAILED, amount=Decimal("70.00")),
        "verifying": make_payout(status=PayoutStatus.VERIFYING, amount=Decimal("25.00")),
        "review": make_payout(status=PayoutStatus.NEEDS_REVIEW, amount=Decimal("5.00")),
        "pending": make_payout(status=PayoutStatus.PENDING_APPROVAL, amount=Decimal("9.00")),
    }


def test_backfill_posts_the_history_once(history):
    assert "Posted 4 payout transactions (KES 370.00) and 1 payments (KES 1,000.00)." in backfill()
    now = balances()
    assert now[accounts.CUSTOMER_REFUNDS] == Decimal("300.00")
    assert now[accounts.DISBURSEMENTS] == Decimal("40.00")
    assert now[accounts.PAYOUTS_IN_FLIGHT] == Decimal("30.00")  # verifying + needs review
    assert now[accounts.MPESA_UTILITY] == Decimal("-370.00")
    assert now[accounts.PAYMENTS_RECEIVED] == Decimal("1000.00")
    assert_balanced()
    refund = JournalTransaction.objects.get(payout_id=history["refund"].pk)
    assert (refund.source, refund.kind) == ("backfill", "completed")
    assert refund.posted_at == history["refund"].completed_at  # dated when it happened

    assert "Posted 0 payout transactions (KES 0.00) and 0 payments (KES 0.00)." in backfill()
    assert JournalTransaction.objects.count() == 5


def test_a_payout_backfilled_in_flight_is_cleared_by_its_live_settlement(history):
    backfill()
    verifying = history["verifying"]
    advance(verifying.pk, "failed")
    assert balances()[accounts.PAYOUTS_IN_FLIGHT] == Decimal("5.00")
    live = JournalTransaction.objects.get(payout_id=verifying.pk, kind="returned")
    assert live.clears_id == JournalTransaction.objects.get(payout_id=verifying.pk, source="backfill").pk
    assert "Posted 0 payout" in backfill()


def test_a_payout_settled_live_before_the_backfill_gets_only_what_is_missing(history):
    """In flight when the ledger was deployed, completed before the backfill ran: its live `completed`
    posting took money out of flight that the ledger never saw go in; the backfill posts just that."""
    verifying = history["verifying"]
    advance(verifying.pk, "needs_review")
    payout = advance(verifying.pk, "completed", fields={"transaction_id": "LIVE1"})
    assert payout.status == PayoutStatus.COMPLETED
    assert balances()[accounts.PAYOUTS_IN_FLIGHT] == Decimal("-25.00")
    backfill()
    adjustment = JournalTransaction.objects.get(payout_id=verifying.pk, source="backfill")
    assert adjustment.kind == "adjustment"
    assert balances()[accounts.PAYOUTS_IN_FLIGHT] == Decimal("5.00")  # only the one in review
    assert balances()[accounts.DISBURSEMENTS] == Decimal("65.00")
    assert_balanced()
    assert "Posted 0 payout" in backfill()
