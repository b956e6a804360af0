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
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

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

logger = logging.getLogger("notifications")

# A task that arrives a moment before its countdown is still on time.
_DUE_SLACK = timedelta(seconds=2)


# --- Writing ------------------------------------------------------------------------------------------


def notifications_create(
    *, message: Message, targets: Iterable[Target], key: str, payout=None, payment=None
) -> list[int]:
    """One pending row per target, keyed `<key>:<number>`; returns the ids of rows made now (a key that
    already exists makes nothing, which is what keeps a duplicate event from sending twice).

    Two round trips however many targets: the keys already there, then one INSERT of the rest. Two
    transactions racing on one key cannot both insert it: the unique index refuses the second, whose
    receiver savepoint rolls back its notification rows only."""
    by_key = {f"{key}:{target.phone}"[:191]: target for target in targets}
    if not by_key:
        return []
    existing = set(Notification.objects.filter(dedupe_key__in=list(by_key)).values_list("dedupe_key", flat=True))
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
        if dedupe_key not in existing
    ]
    created_ids = [row.pk for row in Notification.objects.bulk_create(rows)] if rows else []
    if created_ids:
        transaction.on_commit(partial(enqueue, created_ids), robust=True)
    return created_ids


def enqueue(notification_ids: Iterable[int], *, countdown: float | None = None) -> int:
    """Hand rows to the workers. Never raises: a row that cannot be queued now is picked up later."""
    from notifications.tasks import deliver_notification

    ids = list(notification_ids)
    queued = 0
    if not ids:
        return queued
    try:
        # One quick attempt: a callback must not wait on a broker that is down; the pick-up task retries.
        # `retry=False` alone is not enough: kombu still retries the connection itself for
        # broker_connection_timeout (about 6 s per call with Redis down), so connect first, without retries.
        with deliver_notification.app.pool.acquire(block=True, timeout=2) as connection:
            connection.ensure_connection(max_retries=0)
            for notification_id in ids:
                deliver_notification.apply_async(
                    (notification_id,), countdown=countdown, retry=False, connection=connection
                )
                queued += 1
    except Exception as exc:  # noqa: BLE001 - kombu/redis errors of every kind
        logger.warning(
            "could not queue notification %s (%s); the pick-up task will deliver it",
            ids[queued],
            type(exc).__name__,
        )
    return queued


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
            transaction.on_commit(partial(enqueue, ids), robust=True)
    return len(ids)


def notifications_due(*, limit: int = 500) -> list[int]:
    """Pending rows whose delivery task should have run a while ago: lost when the broker was down, or
    dropped with a dead worker."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.NOTIFICATIONS_PICKUP_AFTER_SECONDS)
    return list(
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=overdue)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


# --- Delivering -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    status: str  # "sent", "retry", "failed", "skipped"
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
    token = uuid.uuid4().hex
    claimed = (
        Notification.objects.filter(
            pk=notification_id, status=NotificationStatus.PENDING, next_attempt_at__lte=now + _DUE_SLACK
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        .update(
            locked_until=now + timedelta(seconds=settings.NOTIFICATIONS_CLAIM_SECONDS),
            claim_token=token,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            updated_at=now,
        )
    )
    if not claimed:
        return None, token
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
        return Delivery("skipped")
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
        provider_message_id=result.provider_message_id[:128],
        template_name=result.template_name[:100],
        last_error="",
    )
    logger.info(
        "notification sent %s attempts=%s message_id=%s", who, notification.attempts, result.provider_message_id
    )
    return Delivery("sent")


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
    return Delivery("retry", retry_in=delay, error=error)


def _give_up(notification: Notification, token: str, error: str, who: str) -> Delivery:
    _record(notification, token, status=NotificationStatus.FAILED, last_error=error[:2000])
    logger.error("notification failed %s attempts=%s: %s", who, notification.attempts, mask_numbers_in_text(error))
    return Delivery("failed", error=error)
