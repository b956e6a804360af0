"""Every request that reached a Daraja callback endpoint, stored raw before it is parsed, and what came of it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from payments.models.incoming import Payment
from payments.models.payouts import Payout


class CallbackKind(models.TextChoices):
    B2C_RESULT = "b2c_result", "B2C result"
    B2C_TIMEOUT = "b2c_timeout", "B2C queue timeout"
    # Paybill, till and float top-up payouts: the results of requests without our id.
    B2B_RESULT = "b2b_result", "B2B result"
    B2B_TIMEOUT = "b2b_timeout", "B2B queue timeout"
    # Reversals of a received payment (no id of ours either).
    REVERSAL_RESULT = "reversal_result", "Reversal result"
    REVERSAL_TIMEOUT = "reversal_timeout", "Reversal queue timeout"
    STATUS_RESULT = "status_result", "Transaction Status result"
    STATUS_TIMEOUT = "status_timeout", "Transaction Status timeout"
    BALANCE_RESULT = "balance_result", "Account Balance result"
    BALANCE_TIMEOUT = "balance_timeout", "Account Balance timeout"
    STK = "stk", "STK push callback"
    C2B_CONFIRMATION = "c2b_confirmation", "C2B confirmation"
    C2B_VALIDATION = "c2b_validation", "C2B validation"


class CallbackOutcome(models.TextChoices):
    RECEIVED = "received", "Received (not processed yet)"
    PROCESSED = "processed", "Processed"
    DUPLICATE = "duplicate", "Duplicate"
    UNMATCHED = "unmatched", "Unmatched"
    INVALID = "invalid", "Invalid"
    REJECTED = "rejected", "Rejected"
    # Stored, but processing raised (the database went away, a bug): retried by beat with backoff.
    ERROR = "error", "Error (processing failed; retried)"


class DarajaCallback(models.Model):
    """Every request that reached a callback endpoint, stored raw before it is parsed."""

    kind = models.CharField(max_length=20, choices=CallbackKind.choices, db_index=True)
    outcome = models.CharField(
        max_length=12, choices=CallbackOutcome.choices, default=CallbackOutcome.RECEIVED, db_index=True
    )
    raw_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    path = models.CharField(max_length=255, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    payout = models.ForeignKey(Payout, on_delete=models.SET_NULL, null=True, blank=True, related_name="callbacks")
    payment = models.ForeignKey(Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="callbacks")
    originator_conversation_id = models.CharField("our request reference", max_length=64, blank=True, db_index=True)
    conversation_id = models.CharField(max_length=64, blank=True, db_index=True)
    transaction_id = models.CharField(max_length=32, blank=True, db_index=True)
    result_code = models.CharField(max_length=32, blank=True)
    # The result disagreed with the payout (amount or phone), or contradicted a final state.
    mismatch = models.BooleanField(default=False)
    # Processing attempts that raised, and when beat tries the next one (null: none due; after
    # CALLBACK_REPROCESS_MAX_ATTEMPTS an `error` row waits for a person).
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        # The few mismatched requests, newest first (the admin's filter): a partial index, which the
        # callbacks that agree (nearly all) never write into, where an index on the flag took every row.
        indexes = [models.Index(fields=["-received_at"], condition=Q(mismatch=True), name="callback_mismatch_received")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.outcome})"
