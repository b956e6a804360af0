"""Settling a payout in needs_review: a money decision, made like an approval. Its requester and editors may not
make it; a resolution that contradicts what M-Pesa reported (failed after a success with a receipt, completed
without one) is only recorded (PayoutReview) until another approver confirms it (docs/security.md, "Review and
retries")."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import ErrorCode, InvalidState, PayoutError
from core.field_widths import truncate_to
from payments.audit_events import event_record
from payments.models import (
    AuditAction,
    EventSource,
    Payout,
    PayoutReview,
    PayoutStatus,
)
from payments.payouts.four_eyes import refuse_interested_reviewer
from payments.payouts.lifecycle import payout_lock, payout_transition
from payments.payouts.services import _require, _text
from payments.roles import APPROVE_PERMISSION

logger = logging.getLogger(__name__)


def review_contradiction(*, payout: Payout, resolution: str, receipt: str = "") -> str:
    """What M-Pesa reported that `resolution` contradicts, or "" when it agrees. A contradicting resolution
    needs a second person (payout_confirm_review): one person's word must not undo what M-Pesa said."""
    if resolution == PayoutStatus.FAILED and (payout.transaction_id or payout.result_code == "0"):
        return (
            f"M-Pesa reported this payout paid (result {payout.result_code or '-'}, receipt "
            f"{payout.transaction_id or 'none'}); it is resolved failed"
        )
    if resolution == PayoutStatus.COMPLETED and not payout.transaction_id:
        return "M-Pesa reported no receipt for this payout; it is resolved completed with one typed in"
    if resolution == PayoutStatus.COMPLETED and receipt and receipt != payout.transaction_id:
        return f"M-Pesa reported receipt {payout.transaction_id}; it is resolved completed with {receipt}"
    return ""


def open_review(payout: Payout) -> PayoutReview | None:
    return (
        payout.reviews.filter(confirmed_at__isnull=True, dropped_at__isnull=True).select_related("recorded_by").first()
    )


def _review_receipt(payout: Payout, resolution: str, transaction_id: str) -> str:
    if resolution != PayoutStatus.COMPLETED:
        return ""
    receipt = (transaction_id or payout.transaction_id or "").strip().upper()
    if not receipt:
        raise PayoutError("Give the M-Pesa receipt of the payment to mark it completed.")
    if Payout.objects.filter(transaction_id=receipt).exclude(pk=payout.pk).exists():
        raise PayoutError(f"Receipt {receipt} is already recorded on another payout.")
    return receipt


def _settle_review(
    payout: Payout, *, resolution: str, receipt: str, actor, source: str, details: dict[str, Any]
) -> None:
    fields: dict[str, Any] = {"completed_at": timezone.now()}
    if resolution == PayoutStatus.COMPLETED:
        fields["transaction_id"] = receipt
    payout_transition(
        locked=payout,
        to_status=resolution,
        action=AuditAction.REVIEWED,
        source=source,
        actor=actor,
        details={**details, "transaction_id": receipt},
        fields=fields,
    )


def payout_mark_reviewed(
    *, payout_id: int, reviewed_by, note: str, resolution: str, transaction_id: str = "",
    source: str = EventSource.ADMIN,
) -> Payout:
    """A person settles a `needs_review` payout after checking the M-Pesa portal: it was paid (with its
    receipt) or it was not. Nothing is ever sent again from here.

    Not its requester nor an editor. A resolution that agrees with what M-Pesa reported settles the payout;
    one that contradicts it is only recorded (a PayoutReview, shown on the payout's page) and waits for
    another person's payout_confirm_review: the payout stays in `needs_review` meanwhile."""
    _require(reviewed_by, APPROVE_PERMISSION, "review payouts")
    note = _text(note, field="Note", min_len=3, max_len=500)
    if resolution not in (PayoutStatus.COMPLETED, PayoutStatus.FAILED):
        raise PayoutError("Resolution must be completed or failed.")
    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status != PayoutStatus.NEEDS_REVIEW:
            raise InvalidState(f"Payout #{payout.pk} is {payout.status}, not needs_review.")
        refuse_interested_reviewer(payout, reviewed_by)
        receipt = _review_receipt(payout, resolution, transaction_id)
        contradicts = review_contradiction(payout=payout, resolution=resolution, receipt=receipt)
        if not contradicts:
            _settle_review(
                payout, resolution=resolution, receipt=receipt, actor=reviewed_by, source=source, details={"note": note}
            )
            return payout
        waiting = open_review(payout)
        if waiting is not None:
            raise InvalidState(
                f"A review of payout #{payout.pk} by {waiting.recorded_by} already waits for confirmation.",
                code=ErrorCode.REVIEW_WAITING,
            )
        PayoutReview.objects.create(
            payout=payout,
            resolution=resolution,
            transaction_id=receipt,
            note=note,
            contradicts=truncate_to(PayoutReview, "contradicts", contradicts),
            recorded_by=reviewed_by,
        )
        event_record(
            action=AuditAction.REVIEW_RECORDED,
            source=source,
            payout=payout,
            actor=reviewed_by,
            from_status=payout.status,
            to_status=payout.status,
            details={"resolution": resolution, "note": note, "transaction_id": receipt, "contradicts": contradicts},
        )
    return payout


def payout_confirm_review(*, payout_id: int, confirmed_by, source: str = EventSource.ADMIN) -> Payout:
    """The second person's confirmation of a recorded review that contradicts M-Pesa: not the payout's
    requester, an editor, nor the recorder. Settles the payout as recorded (the receipt is checked again)."""
    _require(confirmed_by, APPROVE_PERMISSION, "confirm reviews")
    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status != PayoutStatus.NEEDS_REVIEW:
            raise InvalidState(f"Payout #{payout.pk} is {payout.status}, not needs_review.")
        review = payout.reviews.select_for_update().filter(confirmed_at__isnull=True, dropped_at__isnull=True).first()
        if review is None:
            raise InvalidState(f"No review of payout #{payout.pk} waits for confirmation.", code=ErrorCode.NO_REVIEW)
        refuse_interested_reviewer(payout, confirmed_by, recorder_id=review.recorded_by_id)
        receipt = _review_receipt(payout, review.resolution, review.transaction_id)
        review.confirmed_by = confirmed_by
        review.confirmed_at = timezone.now()
        review.save(update_fields=["confirmed_by", "confirmed_at"])
        _settle_review(
            payout,
            resolution=review.resolution,
            receipt=receipt,
            actor=confirmed_by,
            source=source,
            details={
                "note": review.note,
                "recorded_by": review.recorded_by_id,
                "confirmed_by": confirmed_by.pk,
                "contradicts": review.contradicts,
            },
        )
    return payout
