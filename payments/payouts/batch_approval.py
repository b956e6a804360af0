"""Approving a bulk batch in one step: the caller proves the second factor once (the API's X-OTP, the
console's signed-in session), then each payout of the batch still pending approval goes through
`services.payout_approve` on its own, so four eyes, the approval rules and every other check hold payout by
payout. One refused payout stops none of the others. The answer lists what was approved, what was recorded but
still needs another approver (and why), and what was refused (and why)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import ApplicationError, NotFound, PermissionDenied
from mpesa_payouts.effects import after_commit
from payments.models import EventSource, PayoutBatch, PayoutStatus
from payments.payouts import services
from payments.payouts.approval_rules import approvals_missing
from payments.roles import APPROVE_PERMISSION

# A CSV batch is at most 1,000 rows (payments/payouts/bulk.py).
MAX_PER_BATCH = 1000


@dataclass
class BatchApproval:
    batch_id: int
    approved: list[int] = field(default_factory=list)
    waiting: list[dict] = field(default_factory=list)  # {"id", "reason"}: approval recorded, more needed
    refused: list[dict] = field(default_factory=list)  # {"id", "code", "reason"}

    def as_dict(self) -> dict:
        return {"batch": self.batch_id, "approved": self.approved, "waiting": self.waiting, "refused": self.refused}


def batch_approve(*, batch_id: int, approved_by, source: str = EventSource.API) -> BatchApproval:
    """Approve every payout of the batch still pending approval, each on its own (its own transaction)."""
    if approved_by is None or not approved_by.is_active or not approved_by.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied("You do not have permission to approve payouts.")
    batch = PayoutBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        raise NotFound(f"No batch #{batch_id}.")
    pending = (batch.payouts.filter(status=PayoutStatus.PENDING_APPROVAL)
               .order_by("pk").values_list("pk", flat=True)[:MAX_PER_BATCH])
    result = BatchApproval(batch_id=batch_id)
    for payout_id in list(pending):
        try:
            payout = services.payout_approve(payout_id=payout_id, approved_by=approved_by, source=source,
                                             queue=False)
        except ApplicationError as exc:
            result.refused.append({"id": payout_id, "code": str(exc.code), "reason": exc.message})
            continue
        if payout.status == PayoutStatus.APPROVED:
            result.approved.append(payout_id)
        else:
            active = payout.approvals.filter(voided_at__isnull=True).select_related("approver")
            result.waiting.append({"id": payout_id, "reason": approvals_missing(payout, active)})
    if result.approved:
        approved = list(result.approved)
        after_commit(lambda: services.queue_sends(approved))
    return result
