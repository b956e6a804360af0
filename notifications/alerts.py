"""Which alert an event raises, for whom, under which dedupe key. Called by the signal receivers (inside the
transaction of the event) and by the daily summary task.

Dedupe keys, `<alert>:<cause>:<number>` (unique in the database):
  payment_received:payment:<payment id>         a payment is received once
  approval_requested:event:<AuditEvent id>      each request (and each re-request after an edit)
  approval_requested:batch:<PayoutBatch id>      a CSV upload: once for the whole batch
  payout_completed:payout:<payout id>            final states are never left: once per payout
  payout_failed:payout:<payout id>
  payout_needs_review:event:<AuditEvent id>     each time a payout is handed to a person
  customer_refund_approved:payout:<payout id>    once per refund, even if re-approved after an edit
  customer_refund_paid:payout:<payout id>
  low_balance:float:<first low reading id>:<n>   a low streak alerts at once, then every N hours (n = 1, 2...)
  float_drift:check:<ledger FloatCheck id>       the first reading of a drift from the ledger (ledger.services.checks)
  payout_in_flight_long:sent:<journal tx id>     once per sending whose money stays in flight too long
  callbacks_rejected:window:<window start>       at most once per window
  callback_error:callback:<callback id>:<n>      a stored callback that ran out of retries (n: its attempts)
  second_factor_changed:event:<AuditEvent id>   each device added or removed
  operator_down:set:<set id>:<down since>        once each time a credential set goes down
  daily_summary:day:<Nairobi date>
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from mpesa_payouts.effects import after_commit
from notifications import messages
from notifications.models import Alert
from notifications.outbox import notifications_create
from notifications.recipients import admin_targets, customer_target
from payments.models import (
    IN_FLIGHT_STATUSES,
    UNSETTLED_STATUSES,
    AuditEvent,
    CallbackOutcome,
    DarajaCallback,
    FloatBalance,
    Payment,
    PaymentStatus,
    Payout,
    PayoutKind,
    PayoutStatus,
)

logger = logging.getLogger("notifications")


def _to_admins(alert: str, build, *, key: str, requester_id: int | None = None, **links) -> list[int]:
    targets = admin_targets(alert, requester_id=requester_id)
    if not targets:
        return []
    return notifications_create(message=build(), targets=targets, key=key, **links)


def _to_customer(payout: Payout, build, *, key: str) -> list[int]:
    if payout.kind != PayoutKind.REFUND:
        return []
    target = customer_target(payout.phone)
    if target is None:
        return []
    return notifications_create(message=build(), targets=[target], key=key, payout=payout, payment=payout.payment)


# --- Payouts and payments ---------------------------------------------------------------------------


# The statuses that raise an admin alert (payout_alerts_create) and a customer message (customer_alerts_create):
# the receiver skips every other change without opening a savepoint (a send's sending and submitted steps).
ADMIN_ALERT_STATUSES = frozenset(
    {PayoutStatus.PENDING_APPROVAL, PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.NEEDS_REVIEW}
)
CUSTOMER_ALERT_STATUSES = frozenset({PayoutStatus.APPROVED, PayoutStatus.COMPLETED})


def payout_alerts_create(*, payout: Payout, event: AuditEvent, new_status: str, old_status: str = "") -> list[int]:
    if new_status == PayoutStatus.PENDING_APPROVAL and payout.batch_id and not old_status:
        # A CSV upload: one message for the batch, however many rows it has.
        return _to_admins(
            Alert.APPROVAL_REQUESTED,
            lambda: messages.approval_requested_batch(payout, event),
            key=f"{Alert.APPROVAL_REQUESTED}:batch:{payout.batch_id}",
            requester_id=event.actor_id or payout.requested_by_id,
        )
    if new_status == PayoutStatus.PENDING_APPROVAL:
        return _to_admins(
            Alert.APPROVAL_REQUESTED,
            lambda: messages.approval_requested(payout, event),
            key=f"{Alert.APPROVAL_REQUESTED}:event:{event.pk}",
            requester_id=event.actor_id or payout.requested_by_id,
            payout=payout,
        )
    if new_status == PayoutStatus.COMPLETED:
        return _to_admins(
            Alert.PAYOUT_COMPLETED,
            lambda: messages.payout_completed(payout),
            key=f"{Alert.PAYOUT_COMPLETED}:payout:{payout.pk}",
            payout=payout,
        )
    if new_status == PayoutStatus.FAILED:
        return _to_admins(
            Alert.PAYOUT_FAILED,
            lambda: messages.payout_failed(payout, (event.details or {}).get("namespace"), event),
            key=f"{Alert.PAYOUT_FAILED}:payout:{payout.pk}",
            payout=payout,
        )
    if new_status == PayoutStatus.NEEDS_REVIEW:
        return _to_admins(
            Alert.PAYOUT_NEEDS_REVIEW,
            lambda: messages.payout_needs_review(payout),
            key=f"{Alert.PAYOUT_NEEDS_REVIEW}:event:{event.pk}",
            payout=payout,
        )
    return []


def customer_alerts_create(*, payout: Payout, new_status: str) -> list[int]:
    if new_status == PayoutStatus.APPROVED:
        return _to_customer(
            payout,
            lambda: messages.customer_refund_approved(payout),
            key=f"{Alert.CUSTOMER_REFUND_APPROVED}:payout:{payout.pk}",
        )
    if new_status == PayoutStatus.COMPLETED:
        return _to_customer(
            payout,
            lambda: messages.customer_refund_paid(payout),
            key=f"{Alert.CUSTOMER_REFUND_PAID}:payout:{payout.pk}",
        )
    return []


def payment_alerts_create(*, payment: Payment) -> list[int]:
    return _to_admins(
        Alert.PAYMENT_RECEIVED,
        lambda: messages.payment_received(payment),
        key=f"{Alert.PAYMENT_RECEIVED}:payment:{payment.pk}",
        payment=payment,
    )


# --- Float ------------------------------------------------------------------------------------------


def _after(reading: FloatBalance) -> Q:
    return Q(observed_at__gt=reading.observed_at) | Q(observed_at=reading.observed_at, pk__gt=reading.pk)


def _before(reading: FloatBalance) -> Q:
    return Q(observed_at__lt=reading.observed_at) | Q(observed_at=reading.observed_at, pk__lt=reading.pk)


def low_balance_alert_create(*, balance: FloatBalance) -> list[int]:
    """Alert when the float is below LOW_BALANCE_THRESHOLD: at the first low reading of a streak, then at
    most once per LOW_BALANCE_ALERT_REPEAT_HOURS while it stays low (0: only once per streak)."""
    threshold: Decimal = settings.LOW_BALANCE_THRESHOLD
    if balance.utility_available >= threshold:
        return []
    last_ok = (
        FloatBalance.objects.filter(utility_available__gte=threshold)
        .filter(_before(balance))
        .order_by("-observed_at", "-pk")
        .first()
    )
    streak = FloatBalance.objects.filter(utility_available__lt=threshold).exclude(_after(balance))
    if last_ok is not None:
        streak = streak.filter(_after(last_ok))
    start = streak.order_by("observed_at", "pk").first() or balance
    repeat_hours = settings.LOW_BALANCE_ALERT_REPEAT_HOURS
    elapsed = (balance.observed_at - start.observed_at).total_seconds()
    reminder = int(elapsed // (repeat_hours * 3600)) if repeat_hours > 0 else 0
    return _to_admins(
        Alert.LOW_BALANCE,
        lambda: messages.low_balance(balance, threshold),
        key=f"{Alert.LOW_BALANCE}:float:{start.pk}:{reminder}",
    )


def float_drift_alert_create(*, check) -> list[int]:
    """A float reading that disagrees with the ledger's mpesa_utility by more than FLOAT_DRIFT_ALERT_KES."""
    return _to_admins(
        Alert.FLOAT_DRIFT, lambda: messages.float_drift(check), key=f"{Alert.FLOAT_DRIFT}:check:{check.pk}"
    )


def payout_in_flight_alert_create(*, payout: Payout, sent_transaction_id: int, since: datetime) -> list[int]:
    """A payout whose money has been in payouts_in_flight longer than PAYOUT_IN_FLIGHT_ALERT_HOURS."""
    return _to_admins(
        Alert.PAYOUT_IN_FLIGHT_LONG,
        lambda: messages.payout_in_flight_long(payout, since, settings.PAYOUT_IN_FLIGHT_ALERT_HOURS),
        key=f"{Alert.PAYOUT_IN_FLIGHT_LONG}:sent:{sent_transaction_id}",
        payout=payout,
    )


# --- Rejected callbacks -----------------------------------------------------------------------------


def _window_cache_key(window_start: int) -> str:
    return f"notifications:callbacks-rejected-alerted:{window_start}"


def rejected_callbacks_alert_create(*, callback: DarajaCallback) -> list[int]:
    """Alert once per window when at least CALLBACK_REJECTION_ALERT_THRESHOLD callbacks were refused in the
    last CALLBACK_REJECTION_ALERT_WINDOW_MINUTES."""
    threshold = settings.CALLBACK_REJECTION_ALERT_THRESHOLD
    minutes = settings.CALLBACK_REJECTION_ALERT_WINDOW_MINUTES
    if threshold <= 0 or minutes <= 0:
        return []
    now = callback.received_at or timezone.now()
    seconds = minutes * 60
    window_start = int(now.timestamp() // seconds) * seconds
    if _cache_get(_window_cache_key(window_start)):
        return []  # already alerted: spare the database during a flood
    recent = DarajaCallback.objects.filter(
        outcome=CallbackOutcome.REJECTED, received_at__gt=now - timedelta(minutes=minutes), received_at__lte=now
    )
    count = recent.count()
    if count < threshold:
        return []
    sources = [
        (row["source_ip"] or "unknown", row["n"])
        for row in recent.values("source_ip").annotate(n=Count("id")).order_by("-n", "source_ip")[:5]
    ]
    reasons = Counter(recent.values_list("error", flat=True)).most_common(3)
    reasons = [(reason or "no reason recorded", n) for reason, n in reasons]
    created = _to_admins(
        Alert.CALLBACKS_REJECTED,
        lambda: messages.callbacks_rejected(
            count=count, window_minutes=minutes, threshold=threshold, sources=sources, reasons=reasons
        ),
        key=f"{Alert.CALLBACKS_REJECTED}:window:{window_start}",
    )
    after_commit(lambda: _cache_set(_window_cache_key(window_start), 1, seconds * 2))
    return created


def _cache_get(key: str):
    """The flood shortcut through the cache; with the cache (Redis) down, None: the alert's dedupe key in the
    database still makes it once per window (logged, never raised)."""
    try:
        return cache.get(key)
    except Exception as exc:  # noqa: BLE001 - a throttle must not stop the refusal it counts
        logger.warning("cache unavailable (%s); counting rejected callbacks in the database", exc.__class__.__name__)
        return None


def _cache_set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001 - see _cache_get
        pass


def callback_error_alert_create(*, callback: DarajaCallback) -> list[int]:
    """A stored callback whose processing failed CALLBACK_REPROCESS_MAX_ATTEMPTS times: beat stops retrying it;
    a person must look (it is also in the discrepancies list)."""
    return _to_admins(
        Alert.CALLBACK_ERROR,
        lambda: messages.callback_error(callback),
        key=f"{Alert.CALLBACK_ERROR}:callback:{callback.pk}:{callback.attempts}",
        payout=callback.payout if callback.payout_id else None,
        payment=callback.payment if callback.payment_id else None,
    )


# --- Second factor ---------------------------------------------------------------------------------


def second_factor_alert_create(*, event: AuditEvent) -> list[int]:
    """An authenticator or backup codes added or removed (payments/devices.py): a device nobody expected is
    how a stolen session would become an approver's second factor."""
    return _to_admins(
        Alert.SECOND_FACTOR_CHANGED,
        lambda: messages.second_factor_changed(event),
        key=f"{Alert.SECOND_FACTOR_CHANGED}:event:{event.pk}",
    )


def operator_down_alert_create(*, credential_set) -> list[int]:
    """M-Pesa refused a credential set's operator twice in a row: sends stop until a superuser reinstates it
    (payments/payouts/operator_health.py). Once per time it goes down."""
    since = int(credential_set.operator_down_since.timestamp())
    return _to_admins(
        Alert.OPERATOR_DOWN,
        lambda: messages.operator_down(credential_set),
        key=f"{Alert.OPERATOR_DOWN}:set:{credential_set.pk}:{since}",
    )


# --- Daily summary ----------------------------------------------------------------------------------


def daily_summary_stats(*, until: datetime | None = None) -> dict:
    until = until or timezone.now()
    since = until - timedelta(hours=24)
    payments = Payment.objects.filter(status=PaymentStatus.COMPLETED, created_at__gte=since, created_at__lt=until)
    finished = Payout.objects.filter(completed_at__gte=since, completed_at__lt=until)
    completed = finished.filter(status=PayoutStatus.COMPLETED)
    paid = payments.aggregate(n=Count("id"), total=Sum("amount"))
    sent = completed.aggregate(n=Count("id"), total=Sum("amount"))
    open_counts = dict(
        Payout.objects.filter(
            status__in=[PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED, *UNSETTLED_STATUSES]
        )
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    in_flight = sum(open_counts.get(status, 0) for status in IN_FLIGHT_STATUSES)
    latest_float = FloatBalance.objects.of_utility().order_by("-observed_at", "-pk").first()
    stats = {
        "since": since,
        "until": until,
        "day": timezone.localdate(until).strftime("%a %d %b %Y"),
        "payments_count": paid["n"] or 0,
        "payments_total": paid["total"] or Decimal("0"),
        "payouts_count": sent["n"] or 0,
        "payouts_total": sent["total"] or Decimal("0"),
        "failed_count": finished.filter(status=PayoutStatus.FAILED).count(),
        "rejected_count": finished.filter(status=PayoutStatus.REJECTED).count(),
        "pending_approval_count": open_counts.get(PayoutStatus.PENDING_APPROVAL, 0),
        "approved_count": open_counts.get(PayoutStatus.APPROVED, 0),
        "in_flight_count": in_flight,
        "needs_review_count": open_counts.get(PayoutStatus.NEEDS_REVIEW, 0),
        "float_balance": latest_float.utility_available if latest_float else None,
        "float_observed": latest_float.observed_at if latest_float else None,
    }
    stats["open_count"] = (
        stats["pending_approval_count"] + stats["approved_count"] + in_flight + stats["needs_review_count"]
    )
    return stats


def daily_summary_create(*, until: datetime | None = None) -> list[int]:
    until = until or timezone.now()
    with transaction.atomic():
        stats = daily_summary_stats(until=until)
        return _to_admins(
            Alert.DAILY_SUMMARY,
            lambda: messages.daily_summary(stats),
            key=f"{Alert.DAILY_SUMMARY}:day:{timezone.localdate(until).isoformat()}",
        )
