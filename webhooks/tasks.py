"""Celery tasks: ids in, the outbox does the work; safe to run twice, safe under acks_late.

The house convention: a service imports its task at module level (as `<name>_task`), and a task imports its
service inside its body, so importing either module never needs the other half-loaded."""

from __future__ import annotations

import logging

from celery import current_app, shared_task

logger = logging.getLogger("webhooks")


@shared_task(name="webhooks.tasks.deliver_webhook", acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> str:
    """Send one delivery; after a failed attempt queue the next one after the backoff."""
    from webhooks.services.delivery import AttemptOutcome, deliveries_enqueue, webhook_deliver

    outcome = webhook_deliver(delivery_id=delivery_id)
    if outcome.status == AttemptOutcome.RETRY and not current_app.conf.task_always_eager:
        # A fresh message with a countdown: the row holds the due time, so if this cannot be queued the sweep
        # still sends it when it is due.
        deliveries_enqueue([delivery_id], countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="webhooks.tasks.deliver_pending_webhooks", acks_late=True, ignore_result=True)
def deliver_pending_webhooks() -> int:
    """Beat, every WEBHOOK_SWEEP_INTERVAL_SECONDS: queue pending deliveries whose task was lost."""
    from webhooks.services.delivery import deliveries_due, deliveries_enqueue

    ids = deliveries_due()
    if not ids:
        return 0
    queued = deliveries_enqueue(ids)
    logger.info("webhook sweep: %s overdue deliveries, %s queued", len(ids), queued)
    return queued
