"""Delivering the outbox: at least once, in order of creation per (endpoint, object), with exponential backoff
and jitter for up to WEBHOOK_RETRY_FOR_HOURS (3 days).

A delivery is claimed by conditional update (pending, due, unclaimed, its endpoint enabled, no earlier
delivery of the same object to the same endpoint still pending), sent outside any transaction, and its
outcome recorded only while the claim is still its own:
  * 2xx: delivered; the endpoint's failure streak is reset; the next delivery of the same object is queued;
  * 410 Gone: failed, and the endpoint is disabled (the receiver said it is gone);
  * anything else (another status, a timeout, a refused connection, a refused address): retried after the
    backoff, until WEBHOOK_RETRY_FOR_HOURS after the event; then failed, and the object's next delivery goes.
WEBHOOK_DISABLE_AFTER_FAILURES failed attempts in a row to one endpoint disable it; the admins are alerted.
A disabled endpoint's pending deliveries wait; enabling it again queues them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.field_widths import truncate_to
from mpesa_payouts.celery import publish_each
from mpesa_payouts.effects import after_commit
from mpesa_payouts.outbox_claims import outbox_row_claim
from webhooks.addresses import RefusedURL
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.secrets import decrypt_secret, signature_header
from webhooks.tasks import deliver_webhook as deliver_webhook_task

logger = logging.getLogger("webhooks")

SIGNATURE_HEADER = "X-Payouts-Signature"
_DUE_SLACK = timedelta(seconds=2)


# --- Queueing ----------------------------------------------------------------------------------------------


def deliveries_enqueue(delivery_ids: Iterable[int], *, countdown: float | None = None) -> int:
    """One delivery task per id, one quick attempt at the broker. Never raises: what cannot be queued now is
    found by the sweep (`deliveries_due`)."""
    ids = list(delivery_ids)
    queued: list = []
    if not ids:
        return 0
    try:
        publish_each(deliver_webhook_task, [(i,) for i in ids], countdown=countdown, queued=queued)
    except Exception as exc:  # noqa: BLE001 - kombu/redis errors of every kind
        logger.warning("could not queue webhook delivery %s (%s); the sweep will send it", ids[len(queued)],
                       type(exc).__name__)
    return len(queued)


def _deliverable() -> Q:
    return Q(status=DeliveryStatus.PENDING, endpoint__enabled=True)


def deliveries_due(*, limit: int = 500) -> list[int]:
    """Pending deliveries of enabled endpoints whose task should have run a while ago (lost with the broker
    or a dead worker): the first pending one of each (endpoint, object), oldest due first."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.WEBHOOK_PICKUP_AFTER_SECONDS)
    rows = (
        WebhookDelivery.objects.filter(_deliverable(), next_attempt_at__lte=overdue)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now))
        .order_by("next_attempt_at", "id")
        .values_list("pk", "endpoint_id", "object_key")[: limit * 4]
    )
    ids, seen = [], set()
    for pk, endpoint_id, object_key in rows:
        if (endpoint_id, object_key) in seen:
            continue
        seen.add((endpoint_id, object_key))
        ids.append(pk)
        if len(ids) >= limit:
            break
    return ids


def _next_of_object(delivery: WebhookDelivery) -> int | None:
    return (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id, object_key=delivery.object_key, status=DeliveryStatus.PENDING,
            pk__gt=delivery.pk,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


# --- Sending -----------------------------------------------------------------------------------------------


class AttemptOutcome(StrEnum):
    """What one attempt did. A StrEnum: the task returns (and logs) the same strings as before."""

    DELIVERED = "delivered"
    RETRY = "retry"  # a failed attempt; the next one is due after the backoff
    FAILED = "failed"  # given up (attempts spent, or the receiver answered 410)
    WAITING = "waiting"  # not due yet, or an earlier event of its endpoint goes first
    SKIPPED = "skipped"  # nothing to send (delivered, given up, or the endpoint is off)


@dataclass(frozen=True)
class Outcome:
    status: AttemptOutcome
    retry_in: float | None = None
    error: str = ""


def backoff_seconds(attempts: int) -> float:
    """Exponential (base * 2^(n-1), capped at WEBHOOK_RETRY_MAX_SECONDS) with +-20% jitter."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    delay = min(settings.WEBHOOK_RETRY_MAX_SECONDS, base * (2 ** max(0, min(attempts, 40) - 1)))
    return round(max(0.5, delay * random.uniform(0.8, 1.2)), 1)  # spreads retries; not security


def _claim(delivery_id: int) -> tuple[WebhookDelivery | None, str]:
    now = timezone.now()
    due = WebhookDelivery.objects.filter(_deliverable(), pk=delivery_id, next_attempt_at__lte=now + _DUE_SLACK)
    token = outbox_row_claim(due, now=now, hold_seconds=settings.WEBHOOK_CLAIM_SECONDS)
    if token is None:
        return None, ""
    return WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id), token


def _error_to_store(error: str) -> str:
    return truncate_to(WebhookDelivery, "last_error", error)


def _record(delivery: WebhookDelivery, token: str, **fields) -> bool:
    fields.update(locked_until=None, claim_token="", updated_at=timezone.now())
    updated = WebhookDelivery.objects.filter(
        pk=delivery.pk, claim_token=token, status=DeliveryStatus.PENDING
    ).update(**fields)
    if not updated:
        logger.warning("webhook delivery %s: claim lost before its outcome was recorded", delivery.pk)
    return bool(updated)


def live_secrets(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> list[str]:
    """The secrets that sign now: the current one, and during a rotation the previous one."""
    now = now or timezone.now()
    values = [decrypt_secret(endpoint.secret_encrypted)]
    if endpoint.previous_secret_encrypted and endpoint.previous_secret_expires_at and (
        endpoint.previous_secret_expires_at > now
    ):
        values.append(decrypt_secret(endpoint.previous_secret_encrypted))
    return values


def signed_headers(endpoint: WebhookEndpoint, body: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "Content-Type": "application/json",
        "User-Agent": "mpesa-payouts-webhooks/1",
        SIGNATURE_HEADER: signature_header(secrets=live_secrets(endpoint), timestamp=timestamp, body=body),
    }


def webhook_deliver(*, delivery_id: int) -> Outcome:
    """Send one delivery if it is pending, due and first in line for its object. Safe to call any number of
    times from any worker."""
    from webhooks import transport

    head = WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint_id", "object_key").first()
    if head is None:
        return Outcome(AttemptOutcome.SKIPPED)
    if WebhookDelivery.objects.filter(
        endpoint_id=head[0], object_key=head[1], status=DeliveryStatus.PENDING, pk__lt=delivery_id
    ).exists():
        # An earlier event of the same object has not reached this endpoint yet: this one waits for it (its
        # outcome queues this one).
        return Outcome(AttemptOutcome.WAITING)
    delivery, token = _claim(delivery_id)
    if delivery is None:
        return Outcome(AttemptOutcome.SKIPPED)
    endpoint, body = delivery.endpoint, delivery.event.body.encode()
    who = f"delivery={delivery.pk} endpoint={endpoint.pk} event={delivery.event.event_id}"
    try:
        answer = transport.post(url=endpoint.url, body=body, headers=signed_headers(endpoint, body))
    except RefusedURL as exc:
        return _failed_attempt(delivery, token, f"Refused: {exc}", who)
    except transport.DeadlinePassed:
        return _failed_attempt(
            delivery, token, f"No answer within {settings.WEBHOOK_DELIVERY_DEADLINE_SECONDS:g} s "
            "(WEBHOOK_DELIVERY_DEADLINE_SECONDS)", who,
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return _failed_attempt(delivery, token, f"Network error: {type(exc).__name__}", who)
    except Exception as exc:  # noqa: BLE001 - a bug: keep the row and try again later
        logger.exception("webhook delivery error %s", who)
        return _failed_attempt(delivery, token, f"{type(exc).__name__}", who)

    answered = {"response_status": answer.status, "latency_ms": answer.latency_ms,
                "response_excerpt": truncate_to(WebhookDelivery, "response_excerpt", answer.excerpt)}
    if 200 <= answer.status < 300:
        now = timezone.now()
        if _record(delivery, token, status=DeliveryStatus.DELIVERED, delivered_at=now, last_error="", **answered):
            WebhookEndpoint.objects.filter(pk=endpoint.pk).exclude(consecutive_failures=0).update(
                consecutive_failures=0
            )
            _queue_next_of_object(delivery)
        logger.info("webhook delivered %s status=%s attempts=%s", who, answer.status, delivery.attempts)
        return Outcome(AttemptOutcome.DELIVERED)
    if answer.status == 410:
        # Only a worker that still holds its claim speaks for the endpoint (an expired claim's answer is stale).
        if _record(delivery, token, status=DeliveryStatus.FAILED, last_error="HTTP 410 Gone", **answered):
            endpoint_disable(endpoint_id=endpoint.pk, reason="The receiver answered 410 Gone.")
            logger.warning("webhook endpoint %s disabled: 410 Gone (%s)", endpoint.pk, who)
        return Outcome(AttemptOutcome.FAILED, error="HTTP 410")
    return _failed_attempt(delivery, token, f"HTTP {answer.status}", who, **answered)


def _queue_next_of_object(delivery: WebhookDelivery) -> None:
    following = _next_of_object(delivery)
    if following is not None:
        deliveries_enqueue([following])


def _failed_attempt(delivery: WebhookDelivery, token: str, error: str, who: str, **answered) -> Outcome:
    endpoint = delivery.endpoint
    now = timezone.now()
    delay = backoff_seconds(delivery.attempts)
    give_up_at = delivery.event.created_at + timedelta(hours=settings.WEBHOOK_RETRY_FOR_HOURS)
    if now + timedelta(seconds=delay) > give_up_at:
        error = f"{error} (gave up after {delivery.attempts} attempts)"
        recorded = _record(
            delivery, token, status=DeliveryStatus.FAILED, last_error=_error_to_store(error), **answered
        )
        if recorded:
            _queue_next_of_object(delivery)
        logger.error("webhook failed %s: %s", who, error)
        outcome = Outcome(AttemptOutcome.FAILED, error=error)
    else:
        retry_at = now + timedelta(seconds=delay)
        recorded = _record(delivery, token, last_error=_error_to_store(error), next_attempt_at=retry_at, **answered)
        logger.warning("webhook not delivered %s attempt=%s retry_in=%ss: %s", who, delivery.attempts, delay, error)
        outcome = Outcome(AttemptOutcome.RETRY, retry_in=delay, error=error)
    # A worker whose claim expired meanwhile recorded nothing: its failure does not count against the endpoint.
    if recorded:
        streak = _count_failure(endpoint.pk)
        if streak >= settings.WEBHOOK_DISABLE_AFTER_FAILURES:
            endpoint_disable(endpoint_id=endpoint.pk, reason=f"{streak} failed deliveries in a row (last: {error})")
    return outcome


def _count_failure(endpoint_id: int) -> int:
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=F("consecutive_failures") + 1)
        return WebhookEndpoint.objects.values_list("consecutive_failures", flat=True).get(pk=endpoint_id)


# --- Disabling, enabling, replaying ------------------------------------------------------------------------


def endpoint_disable(*, endpoint_id: int, reason: str) -> bool:
    """Disable an enabled endpoint and alert the admins (once: only the caller that disables it)."""
    from webhooks.alerts import endpoint_disabled_alert

    now = timezone.now()
    with transaction.atomic():
        changed = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).update(
            enabled=False,
            disabled_reason=truncate_to(WebhookEndpoint, "disabled_reason", reason),
            disabled_at=now,
            updated_at=now,
        )
        if changed:
            endpoint_disabled_alert(endpoint=WebhookEndpoint.objects.get(pk=endpoint_id))
    return bool(changed)


def endpoint_enabled(*, endpoint: WebhookEndpoint) -> None:
    """After an endpoint is enabled again: a fresh failure streak, and its waiting deliveries queued."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0, disabled_reason="", disabled_at=None)
    now = timezone.now()
    firsts = _first_pending_per_object(endpoint.pk)
    WebhookDelivery.objects.filter(pk__in=firsts).update(next_attempt_at=now, locked_until=None)
    after_commit(partial(deliveries_enqueue, firsts))


def _first_pending_per_object(endpoint_id: int) -> list[int]:
    firsts: dict[str, int] = {}
    for pk, object_key in (
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING)
        .order_by("pk")
        .values_list("pk", "object_key")
    ):
        firsts.setdefault(object_key, pk)
    return sorted(firsts.values())


def webhook_replay(*, events: Iterable[WebhookEvent], endpoint: WebhookEndpoint | None = None) -> int:
    """Send events again (same `id`, same body; new delivery rows, at the back of each object's line): to
    `endpoint`, or to every enabled endpoint subscribed to each. Returns the number of deliveries made."""
    from webhooks.services.events import deliveries_create

    made = 0
    with transaction.atomic():
        targets = [endpoint] if endpoint is not None else list(WebhookEndpoint.objects.filter(enabled=True))
        for event in events:
            made += len(deliveries_create(event=event, endpoints=[e for e in targets if e.wants(event.type)]))
    return made


def webhook_replay_since(*, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Every event since `since` that the endpoint subscribes to, sent to it again, oldest first."""
    return webhook_replay(
        events=WebhookEvent.objects.filter(created_at__gte=since).order_by("id").iterator(), endpoint=endpoint
    )
