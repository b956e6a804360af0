"""Celery tasks. Each takes ids (or nothing), loads rows and calls the outbox: safe to run twice, safe under
acks_late (a redelivered task finds the row sent, or claimed, and does nothing). As in payments/tasks.py, a
task imports its service inside its body; the outbox imports the tasks at module level."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import current_app, shared_task

logger = logging.getLogger("notifications")


@shared_task(name="notifications.tasks.deliver_notification", acks_late=True, ignore_result=True)
def deliver_notification(notification_id: int) -> str:
    """Send one notification; on a retryable error queue the next attempt after the backoff."""
    from notifications.outbox import AttemptOutcome, enqueue, notification_deliver

    delivery = notification_deliver(notification_id=notification_id)
    if delivery.status == AttemptOutcome.RETRY and not current_app.conf.task_always_eager:
        # A fresh message with a countdown rather than self.retry(): the row holds the attempt count and the
        # due time, so if this cannot be queued the pick-up task still delivers it when it is due.
        enqueue([notification_id], countdown=delivery.retry_in)
    return delivery.status


@shared_task(name="notifications.tasks.deliver_pending", acks_late=True, ignore_result=True)
def deliver_pending() -> int:
    """Every minute (beat): queue pending rows whose delivery task was lost."""
    from notifications.outbox import enqueue, notifications_due

    ids = notifications_due()
    if not ids:
        return 0
    queued = enqueue(ids)
    logger.info("pick-up: %s overdue notification(s), %s queued", len(ids), queued)
    return queued


@shared_task(name="notifications.tasks.deliver_recent", acks_late=True, ignore_result=True)
def deliver_recent(since: str, after_id: int = 0) -> int:
    """Queue the rows a burst made (see outbox._Doorbell): every pending, due row created since `since`."""
    from notifications.outbox import enqueue, notifications_recent

    batch = 500
    ids = notifications_recent(since=datetime.fromisoformat(since), after_id=after_id, limit=batch)
    queued = enqueue(ids)
    if len(ids) == batch and queued == len(ids):
        # More than one batch: the next one starts after the last row of this one.
        deliver_recent.delay(since, ids[-1])
    return queued


@shared_task(name="notifications.tasks.send_daily_summary", acks_late=True, ignore_result=True)
def send_daily_summary() -> int:
    """Once a day (beat, DAILY_SUMMARY_HOUR Nairobi time): counts and totals to the admins."""
    from notifications.alerts import daily_summary_create

    return len(daily_summary_create())
