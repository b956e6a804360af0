"""The notifications outbox: one row per (event, recipient), written in the transaction of the event that
causes it and delivered after commit by a Celery task; and the people who receive admin alerts.

A row's `dedupe_key` is unique in the database, so a second delivery of the same callback, a second run of
the daily summary or two workers racing can never make a second message for the same recipient.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Alert(models.TextChoices):
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    APPROVAL_REQUESTED = "approval_requested", "Refund/payout waiting for approval"
    PAYOUT_COMPLETED = "payout_completed", "Payout completed"
    PAYOUT_FAILED = "payout_failed", "Payout failed"
    PAYOUT_NEEDS_REVIEW = "payout_needs_review", "Payout needs review"
    LOW_BALANCE = "low_balance", "Float balance low"
    FLOAT_DRIFT = "float_drift", "Float disagrees with the ledger"
    PAYOUT_IN_FLIGHT_LONG = "payout_in_flight_long", "Payout in flight too long"
    CALLBACKS_REJECTED = "callbacks_rejected", "Burst of rejected callbacks"
    CALLBACK_ERROR = "callback_error", "Callback could not be processed"
    DAILY_SUMMARY = "daily_summary", "Daily summary"
    SECOND_FACTOR_CHANGED = "second_factor_changed", "Second factor added or removed"
    OPERATOR_DOWN = "operator_down", "M-Pesa refused the operator credentials"
    CUSTOMER_REFUND_APPROVED = "customer_refund_approved", "Customer: refund approved"
    CUSTOMER_REFUND_PAID = "customer_refund_paid", "Customer: refund paid"


# Alerts that go to the customer of a refund (NOTIFY_CUSTOMERS), never to admins.
CUSTOMER_ALERTS = frozenset({Alert.CUSTOMER_REFUND_APPROVED, Alert.CUSTOMER_REFUND_PAID})
ADMIN_ALERTS = tuple(alert for alert in Alert if alert not in CUSTOMER_ALERTS)


def all_admin_alerts() -> list[str]:
    return [str(alert) for alert in ADMIN_ALERTS]


class NotificationRecipient(models.Model):
    """An admin's WhatsApp number and the alerts it receives. A row for a number that is also in
    ADMIN_WHATSAPP_NUMBERS overrides it: unticking alerts or deactivating the row narrows or silences it."""

    name = models.CharField(max_length=150)
    # Digits only, international form without "+" (2547XXXXXXXX): what the Cloud API's `to` takes.
    phone = models.CharField(max_length=16, unique=True)
    alerts = models.JSONField(default=all_admin_alerts, blank=True, help_text="The alerts this number receives.")
    # When set, approval requests skip this number if its user cannot approve or asked for the payout.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Optional: the admin user who owns this number. Approval requests are then sent only if "
        "that user may approve payouts, and never for a payout they requested.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "WhatsApp recipient"

    def __str__(self) -> str:
        return f"{self.name} (+{self.phone})"

    def receives(self, alert: str) -> bool:
        return self.is_active and alert in (self.alerts or [])


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One message to one number. `sent` is final: a row is sent at most once."""

    alert = models.CharField(max_length=32, choices=Alert.choices, db_index=True)
    # "<alert>:<what caused it>:<number>", e.g. "payout_failed:payout:42:254712345678".
    dedupe_key = models.CharField("sent once for", max_length=191, unique=True)
    to = models.CharField("to number", max_length=16, db_index=True)
    recipient = models.ForeignKey(
        NotificationRecipient, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    body = models.TextField(help_text="The text message, as sent when no approved template is configured.")
    # Ordered values for the {{1}}, {{2}}... of an approved template (WHATSAPP_TEMPLATES), if one is used.
    template_params = models.JSONField("values filled into the template", default=list, blank=True)
    template_name = models.CharField(max_length=100, blank=True, help_text="The template last used to send.")
    # Indexed by notification_due (status first).
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Not before this time (backoff, Retry-After); the pick-up task looks for rows well past it.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker's claim: while it lies in the future nobody else sends this row.
    locked_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    provider_message_id = models.CharField(max_length=128, blank=True, db_index=True)
    last_error = models.TextField(blank=True)
    payout = models.ForeignKey(
        "payments.Payout", on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="notification_sent_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_alert_display()} #{self.pk} ({self.status})"


class InboxRead(models.Model):
    """That a person read one item of their console inbox (notifications.inbox). The items themselves are
    derived from the payouts and their audit trail, so nothing is written on a payout's path to build them;
    only reading them is recorded."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # "waiting:<payout id>" or "event:<audit event id>" (notifications.inbox.InboxItem.key).
    key = models.CharField(max_length=40)
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="notifications_inbox_read_once")]

    def __str__(self) -> str:
        return f"{self.key} read by {self.user_id}"
