"""A payout that waits too long for its approvals expires: PAYOUT_APPROVAL_EXPIRY_MINUTES after it was
requested, still `pending_approval`, it is rejected with the reason "expired" through the lifecycle's door
(action `expired`), which gives a refund's amount back to its payment. Its requester reads it in their inbox
(notifications/inbox.py). The payout sweep (payments/tasks.py) runs `payouts_expire()`; so does
`manage.py expire_payouts`, at once.

Only `pending_approval` expires: an approved payout has its approvals (it waits for the kill switch, a limit or
the float, and is sent or rejected by a person)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from payments.models import AuditAction, EventSource, Payout, PayoutStatus
from payments.payouts.lifecycle import payout_transition

EXPIRED_REASON = "expired"


def expiry_cutoff():
    """Payouts requested at or before this moment have waited too long."""
    return timezone.now() - timedelta(minutes=settings.PAYOUT_APPROVAL_EXPIRY_MINUTES)


def payouts_due_to_expire() -> list[int]:
    return list(
        Payout.objects.filter(status=PayoutStatus.PENDING_APPROVAL, created_at__lte=expiry_cutoff())
        .order_by("pk").values_list("pk", flat=True)
    )


def payout_expire(*, payout_id: int, source: str = EventSource.TASK) -> bool:
    """Reject one payout as expired; False when it is no longer pending approval (approved or decided since:
    the door, under the row lock, writes nothing then)."""
    minutes = settings.PAYOUT_APPROVAL_EXPIRY_MINUTES
    moved = payout_transition(
        payout_id=payout_id,
        to_status=PayoutStatus.REJECTED,
        action=AuditAction.EXPIRED,
        source=source,
        details={"reason": EXPIRED_REASON, "expiry_minutes": minutes},
        fields={"review_reason": EXPIRED_REASON, "completed_at": timezone.now()},
    )
    return moved is not None


def payouts_expire(*, source: str = EventSource.TASK) -> list[int]:
    """Expire every payout due; returns the ids rejected."""
    return [payout_id for payout_id in payouts_due_to_expire() if payout_expire(payout_id=payout_id, source=source)]
