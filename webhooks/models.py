"""Outgoing webhooks: the endpoints a business registers, the events we record, and one delivery row per
(event, endpoint) in a durable outbox.

An event is written in the same transaction as the change it reports (see webhooks/services/events.py);
its body is serialised once, so every attempt (and every replay) sends the same bytes with the same `id`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from payments.roles import MANAGE_WEBHOOKS

MANAGE_PERMISSION = MANAGE_WEBHOOKS  # spelled once, in payments/roles.py


class EventType(models.TextChoices):
    PAYMENT_RECEIVED = "payment.received", "Payment received"
    PAYMENT_REVERSED = "payment.reversed", "Payment reversed"
    PAYOUT_REQUESTED = "payout.requested", "Payout requested"
    REFUND_REQUESTED = "refund.requested", "Refund requested"
    PAYOUT_APPROVED = "payout.approved", "Payout approved"
    PAYOUT_REJECTED = "payout.rejected", "Payout rejected"
    PAYOUT_SENT = "payout.sent", "Payout sent"
    PAYOUT_COMPLETED = "payout.completed", "Payout completed"
    PAYOUT_FAILED = "payout.failed", "Payout failed"
    PAYOUT_NEEDS_REVIEW = "payout.needs_review", "Payout needs review"


ALL_EVENTS = "*"


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text='Event types to send, or ["*"] for all.')
    description = models.CharField(max_length=255, blank=True)
    enabled = models.BooleanField(default=True)
    # The signing secrets, Fernet-encrypted (webhooks/secrets.py); the plain value is shown once.
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=255, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        permissions = [("manage_webhooks", "Can manage webhook endpoints and read the events feed")]

    def __str__(self) -> str:
        return f"{self.url} (#{self.pk})"

    def wants(self, event_type: str) -> bool:
        events = self.events or []
        return ALL_EVENTS in events or event_type in events


class WebhookEvent(models.Model):
    """What happened, as sent. `event_id` is the public id (`evt_...`); the feed is in `id` order."""

    event_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    type = models.CharField(max_length=32, choices=EventType.choices, db_index=True)
    # The object it is about, e.g. "payout:42": deliveries for one object go out in order of creation.
    object_key = models.CharField(max_length=40)
    payout = models.ForeignKey("payments.Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    body = models.TextField(help_text="The JSON body exactly as every delivery sends it.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event to one endpoint. `delivered` and `failed` are final."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    object_key = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    locked_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True, help_text="The first bytes of the answer.")
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sweep: pending rows by due time.
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            # Per-object order: "is an earlier delivery of this object to this endpoint still pending?"
            models.Index(
                fields=["endpoint", "object_key", "id"],
                condition=Q(status="pending"),
                name="webhook_delivery_pending_obj",
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk} ({self.status})"
