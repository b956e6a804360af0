"""Paying a saved recipient: a payout request whose payee is copied from an active recipient.

The recipient's row is locked while the payout is created, so a change of its payee (which voids its
approval) waits for the request or comes after it; the payout keeps the details it was requested with, and
its own approval (four eyes, limits) is the payout's as for any other request.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from core.errors import ErrorCode, InvalidState, PayoutError
from payments.audit_events import event_record
from payments.models import AuditAction, EventSource, Payout, PayoutBatch, Recipient, RecipientStatus
from payments.payouts.services import payout_request_disbursement
from payments.recipients.services import recipient_lock

_WHY_NOT = {
    RecipientStatus.PENDING_APPROVAL: "waits for approval of how it is paid",
    RecipientStatus.ARCHIVED: "is archived",
}


def unpayable_reason(recipient: Recipient) -> str | None:
    """Why this recipient cannot be paid now, or None when it can."""
    if recipient.status == RecipientStatus.ACTIVE:
        return None
    return f"Recipient #{recipient.pk} ({recipient.name}) {_WHY_NOT.get(recipient.status, recipient.status)}: " \
           "it cannot be paid until it is active."


def recipient_payout_request(*, recipient_id: int, requested_by, amount: Decimal, remarks: str,
                             occasion: str = "", command_id: str | None = None, reason: str = "",
                             batch: PayoutBatch | None = None, source: str = EventSource.API,
                             send_after=None) -> Payout:
    """Request a payout to an active recipient, with its rail and payee fields, name, reference and category
    copied onto the payout. A recipient pending approval or archived is refused (409), creating nothing."""
    with transaction.atomic():
        if not Recipient.objects.filter(pk=recipient_id).exists():
            raise PayoutError(f"No recipient #{recipient_id}.", code="invalid_recipient")
        recipient = recipient_lock(recipient_id)
        why_not = unpayable_reason(recipient)
        if why_not:
            raise InvalidState(why_not, code=ErrorCode.RECIPIENT_NOT_ACTIVE)
        payout = payout_request_disbursement(
            requested_by=requested_by, amount=amount, remarks=remarks, occasion=occasion, command_id=command_id,
            reason=reason, batch=batch, source=source, send_after=send_after, **recipient.payee(),
            recipient_name=recipient.name, recipient_reference=recipient.external_reference,
            recipient_type=recipient.category,
        )
        event_record(action=AuditAction.RECIPIENT_PAYOUT_REQUESTED, source=source, payout=payout,
                     recipient=recipient, actor=requested_by, details={"recipient": recipient.pk})
    return payout


def recipients_by_reference(references: set[str]) -> dict[str, Recipient]:
    """The live (not archived) recipient of each external reference named, in one query."""
    found = Recipient.objects.exclude(status=RecipientStatus.ARCHIVED).filter(
        external_reference__in=[r for r in references if r])
    return {recipient.external_reference: recipient for recipient in found}
