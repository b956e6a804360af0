"""Recording events: one `WebhookEvent` and one pending `WebhookDelivery` per subscribed, enabled endpoint,
written inside the caller's transaction (the change the event reports), queued to the workers after commit.

The hooks in the payments code are one call each:
  * `payout_status_webhook` from payments/payouts/lifecycle.py `_in_transaction` (every status change);
  * `payout_requested_webhook` when a refund or disbursement is created;
  * `payment_received_webhook` where a Payment becomes completed, `payment_reversed_webhook` where it becomes
    reversed (payments/incoming/lifecycle.py `_in_transaction`).
None of them ever raises: the work runs in a savepoint, and an error rolls back only the webhook rows (and is
logged), never the payout, the callback or the approval that caused it.
"""

from __future__ import annotations

import json
import logging
from functools import partial

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from mpesa_payouts.effects import after_commit
from payments.models import Payment, Payout, PayoutKind, PayoutStatus
from webhooks.event_sql import event_with_deliveries_insert
from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services.delivery import deliveries_enqueue

logger = logging.getLogger("webhooks")

# The status a payout moves to -> the event it raises (payout.approved only from pending_approval: a payout
# that goes back to `approved` after a refusal that proves nothing left is not approved again).
STATUS_EVENTS = {
    PayoutStatus.REJECTED: EventType.PAYOUT_REJECTED,
    PayoutStatus.SUBMITTED: EventType.PAYOUT_SENT,
    PayoutStatus.COMPLETED: EventType.PAYOUT_COMPLETED,
    PayoutStatus.FAILED: EventType.PAYOUT_FAILED,
    PayoutStatus.NEEDS_REVIEW: EventType.PAYOUT_NEEDS_REVIEW,
}


def payout_event_type(*, old_status: str, new_status: str) -> str | None:
    if old_status == new_status:
        return None
    if new_status == PayoutStatus.APPROVED:
        return EventType.PAYOUT_APPROVED if old_status == PayoutStatus.PENDING_APPROVAL else None
    return STATUS_EVENTS.get(new_status)


def payout_status_webhook(*, payout: Payout, old_status: str) -> None:
    """After a payout's status changed (the row already holds the new one)."""
    event_type = payout_event_type(old_status=old_status, new_status=payout.status)
    if event_type:
        webhook_event_record(event_type=event_type, payout=payout)


def payout_requested_webhook(*, payout: Payout) -> None:
    """A refund (refund.requested) or a disbursement (payout.requested) was created."""
    kind = EventType.REFUND_REQUESTED if payout.kind == PayoutKind.REFUND else EventType.PAYOUT_REQUESTED
    webhook_event_record(event_type=kind, payout=payout)


def payment_received_webhook(*, payment: Payment) -> None:
    webhook_event_record(event_type=EventType.PAYMENT_RECEIVED, payment=payment)


def payment_reversed_webhook(*, payment: Payment) -> None:
    """A payment's reversal completed: the money is back with the customer (payment.reversed)."""
    webhook_event_record(event_type=EventType.PAYMENT_REVERSED, payment=payment)


def event_data(*, payout: Payout | None = None, payment: Payment | None = None) -> dict:
    """The REST API's detail representation of the object, as `GET /api/payouts/{id}/` (or payments) gives it."""
    from webhooks.representation import payment_data, payout_data

    return payout_data(payout) if payout is not None else payment_data(payment)


def _body(event: WebhookEvent, data: dict) -> str:
    created = timezone.localtime(event.created_at).isoformat()
    return json.dumps(
        {"id": event.event_id, "type": event.type, "created": created, "data": data},
        cls=JSONEncoder,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def webhook_event_record(
    *, event_type: str, payout: Payout | None = None, payment: Payment | None = None
) -> WebhookEvent | None:
    """The event and its deliveries, in a savepoint of the caller's transaction. Never raises; None when it
    could not be recorded (logged)."""
    try:
        with transaction.atomic():
            return _record(event_type=event_type, payout=payout, payment=payment)
    except Exception:  # noqa: BLE001 - the money matters more than its webhook
        logger.exception("could not record webhook event %s; the change itself is unaffected", event_type)
        return None


def _record(*, event_type: str, payout: Payout | None, payment: Payment | None) -> WebhookEvent:
    event = WebhookEvent(
        type=event_type,
        payout=payout,
        payment=payment,
        object_key=f"payout:{payout.pk}" if payout is not None else f"payment:{payment.pk}",
    )
    event.body = _body(event, event_data(payout=payout, payment=payment))
    if connection.vendor == "postgresql":
        ids = event_with_deliveries_insert(event)  # one statement (webhooks/event_sql.py)
        if ids:
            after_commit(partial(deliveries_enqueue, ids))
        return event
    event.save()
    endpoints = [e for e in WebhookEndpoint.objects.filter(enabled=True) if e.wants(event_type)]
    deliveries_create(event=event, endpoints=endpoints)
    return event


def deliveries_create(*, event: WebhookEvent, endpoints: list[WebhookEndpoint]) -> list[int]:
    """A pending delivery of `event` to each endpoint, queued after commit."""
    if not endpoints:
        return []
    rows = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(endpoint=e, event=event, object_key=event.object_key) for e in endpoints]
    )
    ids = [row.pk for row in rows]
    after_commit(partial(deliveries_enqueue, ids))
    return ids
