"""Each person's inbox in the console: what concerns them, beside the WhatsApp outbox (Notification rows,
which are messages to numbers, the same for everyone who can see them).

- payouts waiting for their approval (payments.dashboard.awaiting_approval_of: the approve service's rule);
- what happened to payouts they requested, decided or seen by someone else: approved, rejected, completed,
  failed, needs review, reviewed.

Items are derived from the payouts and their audit trail, newest first; InboxRead records which were read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q

from notifications.models import InboxRead
from payments.dashboard import awaiting_approval_of
from payments.models import AuditAction, AuditEvent
from payments.roles import APPROVE_PERMISSION

LIMIT = 50
# What happened to a requester's payout, in their words.
OUTCOMES = {
    AuditAction.APPROVED: "approved",
    AuditAction.REJECTED: "rejected",
    AuditAction.EXPIRED: "expired without its approvals (rejected)",
    AuditAction.COMPLETED: "paid",
    AuditAction.FAILED: "failed: no money moved",
    AuditAction.REVIEWED: "reviewed",
    AuditAction.SUCCESS_AFTER_FAILURE: "paid after it was recorded failed",
}
NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True)
class InboxItem:
    key: str
    payout_id: int
    amount: Decimal
    recipient: str
    text: str
    when: datetime
    read: bool


def inbox_items(*, user, limit: int = LIMIT) -> list[InboxItem]:
    items: list[InboxItem] = []
    if user.has_perm(APPROVE_PERMISSION):
        for payout in awaiting_approval_of(user).order_by("-status_changed_at", "-id")[:limit]:
            items.append(
                InboxItem(
                    f"waiting:{payout.pk}",
                    payout.pk,
                    payout.amount,
                    payout.recipient_name or payout.phone,
                    "waits for your approval",
                    payout.status_changed_at,
                    False,
                )  # fmt: skip
            )
    events = AuditEvent.objects.filter(
        Q(action__in=list(OUTCOMES)) | Q(to_status=NEEDS_REVIEW), payout__requested_by=user
    )
    for event in events.exclude(actor=user).select_related("payout", "actor").order_by("-created_at", "-id")[:limit]:
        payout = event.payout
        text = OUTCOMES.get(event.action) or "needs review: M-Pesa's answer did not settle it"
        if event.actor is not None and event.action in (AuditAction.APPROVED, AuditAction.REJECTED):
            text = f"{text} by {event.actor}"
        items.append(
            InboxItem(
                f"event:{event.pk}",
                payout.pk,
                payout.amount,
                payout.recipient_name or payout.phone,
                f"your request was {text}",
                event.created_at,
                False,
            )  # fmt: skip
        )
    items.sort(key=lambda item: item.when, reverse=True)
    items = items[:limit]
    read = set(InboxRead.objects.filter(user=user, key__in=[i.key for i in items]).values_list("key", flat=True))
    return [InboxItem(**{**item.__dict__, "read": item.key in read}) for item in items]


def inbox_unread_count(*, user) -> int:
    return sum(1 for item in inbox_items(user=user) if not item.read)


def inbox_mark_read(*, user, keys: list[str]) -> int:
    """Mark these items read (an item already read stays as it was); returns how many were newly marked.
    Only keys of the user's own inbox count: anything else is ignored, never an error."""
    mine = {item.key for item in inbox_items(user=user)}
    made = 0
    for key in dict.fromkeys(keys):
        if key not in mine:
            continue
        try:
            with transaction.atomic():
                InboxRead.objects.create(user=user, key=key)
            made += 1
        except IntegrityError:  # read already (a second tab): nothing to do
            pass
    return made
