"""Two sends claimed at the same instant must not both pass the daily limit (each would sum today's sent
payouts without the other's uncommitted claim)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from daraja.client import B2CAccepted
from payments.models import Payout, PayoutStatus
from payments.payouts import dispatch
from tests.factories import make_approver, make_payout

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class AcceptingDaraja:
    def b2c_payment(self, *, originator_conversation_id: str, **kwargs) -> B2CAccepted:
        return B2CAccepted(f"AG_{originator_conversation_id[-10:]}", originator_conversation_id, "0", "Accepted")


def _approved(amount: Decimal, approver, phone: str) -> Payout:
    payout = make_payout(status=PayoutStatus.APPROVED, amount=amount, phone=phone)
    payout.approvals.create(approver=approver, requested_by=payout.requested_by, amount=payout.amount,
                            phone=payout.phone, command_id=payout.command_id)
    return payout


def test_simultaneous_claims_never_pass_the_daily_limit_together(settings, monkeypatch):
    settings.PAYOUTS_PAUSED = False
    settings.PAYOUT_DAILY_LIMIT = Decimal("150")
    settings.PAYOUT_RECIPIENT_DAILY_LIMIT = Decimal("1000000")
    monkeypatch.setattr(dispatch, "daraja_client", lambda **kwargs: AcceptingDaraja())
    approver = make_approver("race-approver")
    for round_ in range(15):
        Payout.objects.filter(status=PayoutStatus.SUBMITTED).update(submitted_at=None, status=PayoutStatus.FAILED)
        pair = [_approved(Decimal("100"), approver, f"2547120{round_:02d}{n:03d}") for n in range(2)]
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def send(payout_id: int, barrier=barrier, outcomes=outcomes) -> None:
            try:
                barrier.wait(timeout=10)
                outcomes.append(dispatch.payout_send(payout_id=payout_id).outcome)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(p.pk,)) for p in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        # KES 200 against a KES 150 limit: exactly one leaves, the other waits for tomorrow.
        assert sorted(outcomes) == ["held", "submitted"], (round_, outcomes)
