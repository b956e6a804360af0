"""The outbox: writing notification rows with the event that causes them, and delivering each exactly once.

Writing (`notifications_create`) happens inside the caller's transaction; the delivery task is queued only
after that transaction commits, and a failure to queue it (broker down) loses nothing: the row stays
`pending` and the pick-up task queues it later.

Delivering (`notification_deliver`) claims the row by conditional update (status still `pending`, due, not
claimed by someone else), sends outside any transaction, then records the outcome only if the claim is still
its own. Two workers given the same id cannot both send; a `sent` row is never claimed again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.field_widths import truncate_to
from core.sql_row_writes import insert_rows
from mpesa_payouts.celery import publish_each, publish_now
from mpesa_payouts.effects import after_commit
from mpesa_payouts.outbox_claims import outbox_row_claim
from notifications.backends import (
    OutgoingMessage,
    PermanentSendError,
    RetryableSendError,
    get_backend,
)
from notifications.messages import Message
from notifications.models import Notification, NotificationStatus
from notifications.numbers import mask_number, mask_numbers_in_text
from notifications.recipients import Target
from notifications.tasks import deliver_notification as deliver_notification_task
from notifications.tasks import deliver_recent as deliver_recent_task

logger = logging.getLogger("notifications")

# A task that arrives a moment before its countdown is still on time.
_DUE_SLACK = timedelta(seconds=2)


# --- Writing ------------------------------------------------------------------------------------------


def notifications_create(
    *, message: Message, targets: Iterable[Target], key: str, payout=None, payment=None
) -> list[int]:
    """One pending row per target, keyed `<key>:<number>`; returns the ids of rows made now (a key that
    already exists makes nothing, which is what keeps a duplicate event from sending twice).

    One statement however many targets: `INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`. Two
    transactions racing on one key cannot both insert it: the second waits for the first and inserts
    nothing."""
    by_key = {truncate_to(Notification, "dedupe_key", f"{key}:{target.phone}"): target for target in targets}
    if not by_key:
        return []
    rows = [
        Notification(
            dedupe_key=dedupe_key,
            alert=message.alert,
            to=target.phone,
            recipient_id=target.recipient_id,
            body=message.body,
            template_params=message.params,
            payout=payout,
            payment=payment,
        )
        for dedupe_key, target in by_key.items()
    ]
    created_ids = _insert_new(rows)
    if created_ids:
        after_commit(partial(doorbell.ring, created_ids))
    return created_ids


def _insert_new(rows: list[Notification]) -> list[int]:
    """Insert the rows whose dedupe_key is new; the ids made. (Django's bulk_create cannot return ids when
    it ignores conflicts.)"""
    return sorted(insert_rows(rows, skip_conflicts_on="dedupe_key"))


def enqueue(notification_ids: Iterable[int], *, countdown: float | None = None) -> int:
    """Hand rows to the workers, one delivery task each. Never raises: a row that cannot be queued now is
    picked up later."""
    ids = list(notification_ids)
    queued: list = []
    if not ids:
        return 0
    try:
        # One quick attempt: a callback must not wait on a broker that is down; the pick-up task retries.
        publish_each(deliver_notification_task, [(notification_id,) for notification_id in ids], countdown=countdown,
                     queued=queued)
    except Exception as exc:  # noqa: BLE001 - kombu/redis errors of every kind
        logger.warning(
            "could not queue notification %s (%s); the pick-up task will deliver it",
            ids[len(queued)],
            type(exc).__name__,
        )
    return len(queued)


class _Doorbell:
    """Coalesces the queueing of new rows within one process.

    A lone alert is queued at once (one delivery task per row, as `enqueue`). Within the
    NOTIFICATIONS_QUEUE_WINDOW_SECONDS after that, new rows are not queued one by one: the first of them
    schedules one `deliver_recent` task for the end of the window, which queues every row made since. A burst
    of two thousand B2C results then costs two broker messages a second instead of two thousand, and no
    callback waits on the broker. A row whose task is lost either way is found by the pick-up task."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_now = float("-inf")
        self._scheduled_until = float("-inf")

    def ring(self, ids: list[int]) -> None:
        window = settings.NOTIFICATIONS_QUEUE_WINDOW_SECONDS
        if window <= 0:
            enqueue(ids)
            return
        now = time.monotonic()
        with self._lock:
            if now >= self._last_now + window:
                self._last_now = now
                delay = None
            elif now < self._scheduled_until:
                return  # the task already scheduled for the end of this window will queue these rows
            else:
                self._scheduled_until = self._last_now + window
                delay = self._scheduled_until - now
        if delay is None:
            enqueue(ids)
        else:
            self._schedule(delay)

    def _schedule(self, delay: float) -> None:
        # Rows made from a few seconds before now: created_at is set before the commit this follows.
        since = (timezone.now() - timedelta(seconds=5)).isoformat()
        try:
            publish_now(deliver_recent_task, since, countdown=delay)
        except Exception as exc:  # noqa: BLE001 - kombu/redis errors of every kind
            with self._lock:
                self._scheduled_until = float("-inf")  # let the next row try again
            logger.warning("could not schedule delivery of new notifications (%s); the pick-up task will",
                           type(exc).__name__)

    def reset(self) -> None:
        with self._lock:
            self._last_now = self._scheduled_until = float("-inf")


doorbell = _Doorbell()


def _unclaimed_pending(now) -> Q:
    """Pending rows no worker holds a live claim on."""
    return Q(status=NotificationStatus.PENDING) & (Q(locked_until__isnull=True) | Q(locked_until__lte=now))


def notifications_recent(*, since, after_id: int = 0, limit: int = 500) -> list[int]:
    """Pending rows made since `since` that are due now (what a `deliver_recent` task queues), by id."""
    now = timezone.now()
    return list(
        Notification.objects.filter(created_at__gte=since, pk__gt=after_id, next_attempt_at__lte=now + _DUE_SLACK)
        .filter(_unclaimed_pending(now))
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )


def notifications_resend(*, notification_ids: Iterable[int]) -> int:
    """Make failed (or stuck pending) rows due again and queue them. A `sent` row is never sent again."""
    now = timezone.now()
    with transaction.atomic():
        rows = Notification.objects.filter(
            pk__in=list(notification_ids), status__in=[NotificationStatus.FAILED, NotificationStatus.PENDING]
        ).filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        ids = list(rows.values_list("pk", flat=True))
        Notification.objects.filter(pk__in=ids).update(
            status=NotificationStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            locked_until=None,
            claim_token="",
            updated_at=now,
        )
        if ids:
            after_commit(partial(enqueue, ids))
    return len(ids)


def notifications_due(*, limit: int = 500) -> list[int]:
    """Pending rows whose delivery task should have run a while ago: lost when the broker was down, or
    dropped with a dead worker."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.NOTIFICATIONS_PICKUP_AFTER_SECONDS)
    return list(
        Notification.objects.filter(next_attempt_at__lte=overdue)
        .filter(_unclaimed_pending(now))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


# --- Delivering -------------------------------------------------------------------------------------


class AttemptOutcome(StrEnum):
    """What one attempt did. A StrEnum: the task returns (and logs) the same strings as before."""

    SENT = "sent"
    RETRY = "retry"  # a retryable error; the next attempt is due after the backoff
    FAILED = "failed"  # given up
    SKIPPED = "skipped"  # nothing to send (sent already, or not due)


@dataclass(frozen=True)
class Delivery:
    status: AttemptOutcome
    retry_in: float | None = None
    error: str = ""


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; Retry-After, when the provider gives one, is honoured as the floor."""
    base = settings.NOTIFICATIONS_RETRY_BASE_SECONDS
    cap = settings.NOTIFICATIONS_RETRY_MAX_SECONDS
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = delay * random.uniform(0.8, 1.2)  # spreads retries; not security
    if retry_after is not None:
        delay = max(delay, min(retry_after, 24 * 3600))
    return round(max(1.0, delay), 1)


def _claim(notification_id: int) -> tuple[Notification | None, str]:
    now = timezone.now()
    due = Notification.objects.filter(
        pk=notification_id, status=NotificationStatus.PENDING, next_attempt_at__lte=now + _DUE_SLACK
    )
    token = outbox_row_claim(due, now=now, hold_seconds=settings.NOTIFICATIONS_CLAIM_SECONDS)
    if token is None:
        return None, ""
    return Notification.objects.get(pk=notification_id), token


def _record(notification: Notification, token: str, **fields) -> bool:
    fields.setdefault("locked_until", None)
    fields.setdefault("claim_token", "")
    fields["updated_at"] = timezone.now()
    updated = Notification.objects.filter(
        pk=notification.pk, claim_token=token, status=NotificationStatus.PENDING
    ).update(**fields)
    if not updated:
        logger.warning("notification %s: claim lost before its outcome was recorded", notification.pk)
    return bool(updated)


def notification_deliver(*, notification_id: int, backend=None) -> Delivery:
    """Send one row if it is still pending and due. Safe to call any number of times, from any worker."""
    notification, token = _claim(notification_id)
    if notification is None:
        return Delivery(AttemptOutcome.SKIPPED)
    message = OutgoingMessage(
        to=notification.to,
        alert=notification.alert,
        body=notification.body,
        template_params=list(notification.template_params or []),
        reference=str(notification.pk),
    )
    who = f"notification={notification.pk} alert={notification.alert} to={mask_number(notification.to)}"
    try:
        result = (backend or get_backend()).send(message)
    except PermanentSendError as exc:
        return _give_up(notification, token, str(exc), who)
    except RetryableSendError as exc:
        return _retry_or_give_up(notification, token, str(exc), who, retry_after=exc.retry_after)
    except Exception as exc:  # noqa: BLE001 - a backend bug: keep the row and try again later
        logger.exception("notification backend error %s", who)
        return _retry_or_give_up(notification, token, f"{type(exc).__name__}: {exc}"[:1000], who)

    now = timezone.now()
    _record(
        notification,
        token,
        status=NotificationStatus.SENT,
        sent_at=now,
        provider_message_id=truncate_to(Notification, "provider_message_id", result.provider_message_id),
        template_name=truncate_to(Notification, "template_name", result.template_name),
        last_error="",
    )
    logger.info(
        "notification sent %s attempts=%s message_id=%s", who, notification.attempts, result.provider_message_id
    )
    return Delivery(AttemptOutcome.SENT)


def _retry_or_give_up(
    notification: Notification, token: str, error: str, who: str, *, retry_after: float | None = None
) -> Delivery:
    if notification.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
        return _give_up(notification, token, f"{error} (gave up after {notification.attempts} attempts)", who)
    delay = backoff_seconds(notification.attempts, retry_after)
    _record(
        notification,
        token,
        last_error=error[:2000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    logger.warning(
        "notification not sent %s attempt=%s retry_in=%ss: %s",
        who,
        notification.attempts,
        delay,
        mask_numbers_in_text(error),
    )
    return Delivery(AttemptOutcome.RETRY, retry_in=delay, error=error)


def _give_up(notification: Notification, token: str, error: str, who: str) -> Delivery:
    _record(notification, token, status=NotificationStatus.FAILED, last_error=error[:2000])
    logger.error("notification failed %s attempts=%s: %s", who, notification.attempts, mask_numbers_in_text(error))
    return Delivery(AttemptOutcome.FAILED, error=error)
