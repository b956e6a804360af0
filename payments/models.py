"""The payouts ledger: incoming payments, B2C payouts, their approvals, every Daraja callback, and an
append-only audit of every state change.

Money is Decimal with two places. State moves only through the service layer (`payments/payouts/`), which
changes status by conditional update or under a row lock and writes an AuditEvent in the same transaction.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.money import MONEY, RUNNING_TOTAL, SUM, kes
from payments.tokens import payout_token


def new_originator_conversation_id() -> str:
    # Ours, unique per payout, fixed at creation: Daraja dedupes on it and results are matched by it.
    return f"PO-{uuid.uuid4().hex}"


class PaymentSource(models.TextChoices):
    STK_PUSH = "stk_push", "STK push"
    C2B = "c2b", "C2B (paybill/till)"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class Payment(models.Model):
    """An incoming M-Pesa payment (STK push or C2B confirmation)."""

    source = models.CharField(max_length=16, choices=PaymentSource.choices)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    receipt = models.CharField(max_length=32, unique=True, null=True, blank=True)
    # As Daraja gave it: a C2B confirmation may carry a masked MSISDN ("2547 ***** 126") or, since 2025, a
    # 64-character SHA-256 hex of it (core.phone.is_hashed_msisdn), kept whole.
    phone = models.CharField(max_length=64, db_index=True)
    amount = models.DecimalField(**MONEY)
    # Sum of this payment's refunds that are not failed or rejected; kept under a row lock by the refund
    # service and bounded by a CHECK constraint, so the database itself refuses an over-refund.
    refunded_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    account_reference = models.CharField(max_length=100, blank=True, db_index=True)
    description = models.CharField(max_length=200, blank=True)
    payer_name = models.CharField(max_length=150, blank=True)
    checkout_request_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    merchant_request_id = models.CharField(max_length=64, blank=True)
    # STK push only: set, and committed, before the push request leaves us; a redelivered task finds it set and
    # sends nothing, so a customer is prompted at most once per payment.
    push_sent_at = models.DateTimeField(null=True, blank=True)
    result_code = models.CharField(max_length=32, blank=True)
    result_description = models.CharField(max_length=255, blank=True)
    transaction_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="payment_status_created")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0), name="payment_refunded_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("amount")), name="payment_refunded_not_above_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt or self.checkout_request_id or self.pk} {kes(self.amount)}"

    @property
    def refundable_amount(self) -> Decimal:
        if self.status != PaymentStatus.COMPLETED:
            return Decimal("0.00")
        return self.amount - self.refunded_amount


class PayoutKind(models.TextChoices):
    REFUND = "refund", "Refund"
    DISBURSEMENT = "disbursement", "Disbursement"


class PayoutStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SENDING = "sending", "Sending"
    SUBMITTED = "submitted", "Submitted"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    VERIFYING = "verifying", "Verifying"
    NEEDS_REVIEW = "needs_review", "Needs review"


FINAL_STATUSES = frozenset({PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.REJECTED})
# Statuses in which money may be on its way: a result may settle them.
IN_FLIGHT_STATUSES = frozenset({PayoutStatus.SENDING, PayoutStatus.SUBMITTED, PayoutStatus.VERIFYING})
# Statuses in which the money has left the float and is not yet final: in flight, or with a person who checks
# the M-Pesa portal. The ledger keeps these payouts' amounts in its `payouts_in_flight` account.
UNSETTLED_STATUSES = IN_FLIGHT_STATUSES | {PayoutStatus.NEEDS_REVIEW}
# Statuses whose payout amount no longer counts against a payment's refundable remainder.
RELEASED_STATUSES = frozenset({PayoutStatus.FAILED, PayoutStatus.REJECTED})


class CommandID(models.TextChoices):
    BUSINESS_PAYMENT = "BusinessPayment", "Business payment"
    SALARY_PAYMENT = "SalaryPayment", "Salary payment"
    PROMOTION_PAYMENT = "PromotionPayment", "Promotion payment"


class PayoutBatch(models.Model):
    """A bulk disbursement uploaded as one CSV."""

    name = models.CharField(max_length=150)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The rows of the upload that did not become payouts, each {"line", "problem", "cells": {column: text}} as
    # uploaded: kept with the batch so they can still be fixed and uploaded again after the preview is gone.
    refused_rows = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "payout batches"

    def __str__(self) -> str:
        return self.name


class Payout(models.Model):
    """One B2C payment request: a refund of a Payment, or a disbursement to someone we pay."""

    kind = models.CharField(max_length=16, choices=PayoutKind.choices)
    # Indexed by payout_status_changed (status first), like created_at by payout_created_desc and requested_by
    # by payout_requester_created: a single-column copy of an index's first column serves no query the
    # composite does not, and every status change (a non-HOT update) writes into every index of the row.
    status = models.CharField(max_length=20, choices=PayoutStatus.choices, default=PayoutStatus.PENDING_APPROVAL)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    batch = models.ForeignKey(
        PayoutBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts"
    )
    # A payout requested again after this one failed (payout_request_again): a new request with its own
    # OriginatorConversationID and its own approvals. Indexed only where set (most payouts are not retries).
    retry_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="retries", db_index=False
    )
    recipient_name = models.CharField(max_length=150, blank=True)
    recipient_type = models.CharField(max_length=30, blank=True, help_text="e.g. customer, trainer, client")
    recipient_reference = models.CharField(max_length=100, blank=True, db_index=True)
    phone = models.CharField(max_length=12, db_index=True)
    # True when a refund goes to another number than the one that paid: approvers must see it.
    phone_differs_from_payment = models.BooleanField(default=False)
    amount = models.DecimalField(**MONEY)
    command_id = models.CharField(
        "payment type", max_length=20, choices=CommandID.choices, default=CommandID.BUSINESS_PAYMENT
    )
    remarks = models.CharField(max_length=100)
    occasion = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    # Labels in finance words; the API keeps Daraja's field names (OriginatorConversationID, CommandID).
    originator_conversation_id = models.CharField(
        "our request reference", max_length=64, unique=True, default=new_originator_conversation_id, editable=False
    )
    # Secret path segment of this payout's ResultURL/QueueTimeOutURL, bound to its OriginatorConversationID.
    callback_token = models.CharField(max_length=64, unique=True, editable=False)
    conversation_id = models.CharField(max_length=64, blank=True, db_index=True)
    transaction_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    result_code = models.CharField(max_length=32, blank=True, db_index=True)
    result_description = models.CharField(max_length=255, blank=True)
    receiver_name = models.CharField(max_length=150, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_payouts", db_index=False
    )
    required_approvals = models.PositiveSmallIntegerField(default=1)
    review_reason = models.TextField(blank=True)
    # Why an approved payout is waiting instead of leaving (kill switch, limits, float); "" when free to go.
    hold_reason = models.CharField(max_length=255, blank=True)
    # Times the payout was claimed for sending; above 1 only after answers that prove nothing was sent.
    send_attempts = models.PositiveSmallIntegerField(default=0)
    # True for a refund recorded failed (its amount given back to the payment) that M-Pesa then reported
    # paid when the payment had no room to take the amount again: it is not in the payment's refunded
    # total, so a later failure must not give it back a second time.
    refund_unreserved = models.BooleanField(default=False)
    status_queries_sent = models.PositiveIntegerField(default=0)
    last_status_query_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # TransactionCompletedDateTime from M-Pesa (Nairobi time, stored aware).
    mpesa_completed_at = models.DateTimeField("paid at (M-Pesa's time)", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "status_changed_at"], name="payout_status_changed"),
            models.Index(fields=["-created_at", "-id"], name="payout_created_desc"),
            models.Index(fields=["requested_by", "created_at"], name="payout_requester_created"),
            # The daily limits at send (payments/payouts/limits.py) sum the payouts submitted today in these
            # statuses (`sending` ones are read through the status index): one index range per send instead
            # of a scan of every payout in these statuses, ever. amount and id (the payout being sent is left
            # out by id) are included so the sums are index-only scans.
            models.Index(
                fields=["submitted_at"],
                include=["amount", "id"],
                condition=Q(status__in=["submitted", "verifying", "completed", "needs_review"]),
                name="payout_sent_submitted",
            ),
            models.Index(
                fields=["phone", "submitted_at"],
                include=["amount", "id"],
                condition=Q(status__in=["submitted", "verifying", "completed", "needs_review"]),
                name="payout_sent_phone_submitted",
            ),
            # The approval queue (the console's "waiting for your approval"): the pending payouts and who asked
            # for each, read from the index alone; only pending rows are in it.
            models.Index(
                fields=["requested_by", "id"],
                condition=Q(status="pending_approval"),
                name="payout_pending_requester",
            ),
            models.Index(fields=["retry_of"], condition=Q(retry_of__isnull=False), name="payout_retry_of"),
        ]
        permissions = [
            ("request_payout", "Can request refunds and payouts"),
            ("approve_payout", "Can approve or reject payouts"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(
                condition=~Q(kind="refund") | Q(payment__isnull=False), name="payout_refund_has_payment"
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(transaction_id__isnull=False),
                name="payout_completed_has_receipt",
            ),
        ]

    def __str__(self) -> str:
        return f"Payout #{self.pk} {kes(self.amount)} ({self.get_status_display().lower()})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def save(self, *args, **kwargs):
        if not self.callback_token:
            self.callback_token = payout_token(self.originator_conversation_id)
        super().save(*args, **kwargs)


class PayoutNote(models.Model):
    """A line in a payout's case file: what someone who can see the payout found or did about it (called the
    recipient, checked the portal). Notes decide nothing; they are shown in order with the payout's events."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note on payout #{self.payout_id} by {self.author}"


class PayoutApproval(models.Model):
    """One approver's consent, bound to what they saw: amount, phone and CommandID."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # A copy of the payout's requester, so the database can refuse a self-approval on its own.
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(**MONEY)
    phone = models.CharField(max_length=12)
    command_id = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(approver=F("requested_by")), name="approval_not_by_requester"
            ),
            models.UniqueConstraint(
                fields=["payout", "approver"],
                condition=Q(voided_at__isnull=True),
                name="one_active_approval_per_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver} approved payout #{self.payout_id}"


class PayoutEditor(models.Model):
    """Someone who changed a payout after it was requested, one row per person. Whoever changed what is paid
    (amount, phone or CommandID) may not approve it, as its requester may not: the approve service refuses
    it, a PostgreSQL trigger refuses the approval row (migration 0010), and the send-time check refuses to
    send on such an approval. Every edit's old and new values are in the payout's events."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="editors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # True once this person changed the amount, phone or CommandID: they may no longer approve it.
    changed_bound = models.BooleanField(default=False)
    # Every field they changed, in the order they first changed it.
    fields = models.JSONField(default=list, blank=True)
    first_edited_at = models.DateTimeField(default=timezone.now)
    last_edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["first_edited_at", "id"]
        constraints = [models.UniqueConstraint(fields=["payout", "user"], name="one_editor_row_per_user")]

    def __str__(self) -> str:
        return f"{self.user} edited payout #{self.payout_id}"


class PayoutReview(models.Model):
    """A review resolution that contradicts what M-Pesa reported (failed after a success, completed without
    M-Pesa's receipt), recorded by one person and waiting for another to confirm it: until then the payout
    stays in `needs_review`. Neither may be the payout's requester or an editor, and the confirmer is not the
    recorder (the services refuse it; the CHECK below refuses it in the database too)."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="reviews")
    resolution = models.CharField(max_length=20, choices=PayoutStatus.choices)
    transaction_id = models.CharField(max_length=32, blank=True)
    note = models.TextField()
    # What M-Pesa reported that this resolution contradicts, as the recorder was shown it.
    contradicts = models.CharField(max_length=255)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # Set when the payout left `needs_review` another way (M-Pesa's answer, an agreeing review) before anyone
    # confirmed this: it can no longer be confirmed.
    dropped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["recorded_at", "id"]
        constraints = [
            # One resolution waits at a time: two recorders cannot each leave one for the other to confirm.
            models.UniqueConstraint(
                fields=["payout"],
                condition=Q(confirmed_at__isnull=True, dropped_at__isnull=True),
                name="one_open_review_per_payout",
            ),
            models.CheckConstraint(condition=~Q(confirmed_by=F("recorded_by")), name="review_confirmed_by_another"),
        ]

    def __str__(self) -> str:
        return f"Review of payout #{self.payout_id}: {self.resolution} by {self.recorded_by}"


class CallbackKind(models.TextChoices):
    B2C_RESULT = "b2c_result", "B2C result"
    B2C_TIMEOUT = "b2c_timeout", "B2C queue timeout"
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
    payout = models.ForeignKey(
        Payout, on_delete=models.SET_NULL, null=True, blank=True, related_name="callbacks"
    )
    payment = models.ForeignKey(
        Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="callbacks"
    )
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
        indexes = [
            models.Index(fields=["-received_at"], condition=Q(mismatch=True), name="callback_mismatch_received")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.outcome})"


class EventSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    TASK = "task", "Task"
    CALLBACK = "callback", "Callback"
    COMMAND = "command", "Management command"


class AuditAction(models.TextChoices):
    """What an audit event records. A payout's status changes are the actions of the lifecycle's table
    (payments/payouts/lifecycle.py); the rest are decisions that leave the status as it is, and the
    events of payments, credentials, finance jobs and logins."""

    # A payout's lifecycle (each a row of lifecycle.TRANSITIONS).
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    APPROVAL_VOIDED = "approval_voided", "Approvals voided"
    SENDING = "sending", "Sending"
    SUBMITTED = "submitted", "Submitted"
    SEND_RETRY = "send_retry", "Send to be retried"
    OUTCOME_UNKNOWN = "outcome_unknown", "Send outcome unknown"
    QUEUE_TIMEOUT = "queue_timeout", "Queue timeout"
    RESULT_UNKNOWN = "result_unknown", "Result proves no outcome"
    RESULT_FOR_UNSENT_PAYOUT = "result_for_unsent_payout", "Result for a payout never sent"
    RESULT_MISMATCH = "result_mismatch", "Result disagrees with the payout"
    SUCCESS_AFTER_FAILURE = "success_after_failure", "Paid after recorded failed"
    UNANSWERED = "unanswered", "Status queries unanswered"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    REVIEWED = "reviewed", "Reviewed"
    # A payout's decisions that leave its status as it is.
    APPROVAL = "approval", "Approval"
    EDITED = "edited", "Edited"
    HELD = "held", "Held"
    STATUS_QUERY = "status_query", "Status query sent"
    REVIEW_RECORDED = "review_recorded", "Review recorded (waits for a second person)"
    REQUESTED_AGAIN = "requested_again", "Requested again (a failed payout's new request)"
    RETRIED = "retried", "Requested again as a new payout"
    # Payments (C2B and STK push).
    PAYMENT_COMPLETED = "payment_completed", "Payment completed"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    PAYMENT_RESULT_UNKNOWN = "payment_result_unknown", "Payment result proves no outcome"
    # Controls, credentials, finance jobs.
    PAYOUTS_PAUSED = "payouts_paused", "Payouts paused"
    PAYOUTS_RESUMED = "payouts_resumed", "Payouts resumed"
    CREDENTIALS_ADDED = "credentials_added", "Credentials added"
    CREDENTIALS_CHANGED = "credentials_changed", "Credentials changed"
    CREDENTIALS_DELETED = "credentials_deleted", "Credentials deleted"
    LEDGER_EXPORT_REQUESTED = "ledger_export_requested", "Ledger export requested"
    STATEMENT_RECONCILE_REQUESTED = "statement_reconcile_requested", "Statement reconciliation requested"
    STATEMENT_DISCREPANCY_RESOLVED = "statement_discrepancy_resolved", "Statement discrepancy resolved"
    # A statement's charges and transfers: proposed by its upload, posted only when another person accepts.
    STATEMENT_POSTINGS_PROPOSED = "statement_postings_proposed", "Statement postings proposed"
    STATEMENT_POSTING_ACCEPTED = "statement_posting_accepted", "Statement posting accepted"
    STATEMENT_POSTING_REJECTED = "statement_posting_rejected", "Statement posting rejected"
    # Logins (payments/login_audit.py, payments/second_factor.py).
    LOGIN = "login", "Login"
    LOGIN_FAILED = "login_failed", "Login failed"
    LOGIN_LOCKED_OUT = "login_locked_out", "Login locked out"
    SECOND_FACTOR_REFUSED = "second_factor_refused", "Second factor refused"
    # payments/devices.py: an authenticator or a set of backup codes, added or removed.
    SECOND_FACTOR_DEVICE_ADDED = "second_factor_device_added", "Second factor added"
    SECOND_FACTOR_DEVICE_REMOVED = "second_factor_device_removed", "Second factor removed"


class AppendOnlyError(RuntimeError):
    pass


class AuditEvent(models.Model):
    """The audit log: one append-only row per state change or decision, written in the same transaction.

    Most rows are a payout's (its lifecycle, approvals, edits); others record a payment (received, refund
    reserved), a credential set's change, or a sign-in (login, failure, lock-out). `action` is an AuditAction."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, null=True, blank=True, related_name="events")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="events")
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=12, choices=EventSource.choices)
    details = models.JSONField(default=dict, blank=True)
    callback = models.ForeignKey(
        DarajaCallback, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.from_status}->{self.to_status}"

    @property
    def actor_label(self) -> str:
        return str(self.actor) if self.actor_id else "system"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")


class FloatSource(models.TextChoices):
    BALANCE_QUERY = "balance_query", "Account Balance query"
    B2C_RESULT = "b2c_result", "B2C result"


class FloatBalanceQuerySet(models.QuerySet):
    def of_utility(self):
        """Readings that report the Utility Account (the float B2C draws on): a shortcode's balance may
        answer with its Working Account only."""
        return self.filter(utility_available__isnull=False)


class FloatBalance(models.Model):
    """A reading of the B2C accounts: the Utility Account (the float payouts are drawn from) and, when the
    answer names it, the Working Account. Either may be missing from an answer: what is there is stored."""

    utility_available = models.DecimalField(**SUM, null=True, blank=True)
    working_available = models.DecimalField(**SUM, null=True, blank=True)
    source = models.CharField(max_length=16, choices=FloatSource.choices)
    callback = models.ForeignKey(DarajaCallback, on_delete=models.SET_NULL, null=True, blank=True)
    observed_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = FloatBalanceQuerySet.as_manager()

    class Meta:
        ordering = ["-observed_at", "-id"]
        get_latest_by = "observed_at"

    def __str__(self) -> str:
        at = f"{timezone.localtime(self.observed_at):%-d %b %Y, %H:%M}"
        if self.utility_available is None:
            return f"Working Account {kes(self.working_available or 0)} at {at}"
        return f"{kes(self.utility_available)} at {at}"


class SentHour(models.Model):
    """What has left for M-Pesa, per UTC hour of `submitted_at`: the sum of the amounts of payouts submitted,
    verifying, completed or in review (payments.payouts.limits.SUBMITTED_STATUSES).

    Kept by a PostgreSQL trigger on the payout table (migration 0007), whatever writes the row, so the
    daily limit at send reads at most 24 of these rows instead of summing every payout sent today (a
    payroll of 10,000 made that sum most of PostgreSQL's work per send). Not kept on SQLite, where the
    limit sums the payouts themselves.

    Each database connection adds to its own `shard` of an hour (its backend pid modulo 16, migration 0015),
    and readers sum the shards, as PayoutDay's do: one row per hour made every send of the hour wait for the
    previous one's COMMIT."""

    hour = models.DateTimeField()
    shard = models.PositiveSmallIntegerField(default=0)
    amount = models.DecimalField(**SUM, default=0)

    class Meta:
        verbose_name = "amount sent per hour"
        constraints = [models.UniqueConstraint(fields=["hour", "shard"], name="sent_hour_shard_unique")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} UTC: KES {self.amount}"


class PayoutDay(models.Model):
    """Payouts that ended (completed or failed) per Nairobi day of their last status change, kind and status:
    how many and how much. Kept by a PostgreSQL trigger on the payout table (migration 0011), whatever writes
    the row, so the console's "today" and "this week" read at most 28 of these rows instead of every payout
    that ended this week. Not kept on SQLite, where the overview sums the payouts themselves.

    Each database connection adds to its own `shard` of a day's totals (its backend pid modulo 16, migration
    0015), and readers sum the shards. With one row per day, every settlement of the day waited for the one
    before it to commit: the row's lock is taken at the status UPDATE and held to the COMMIT, and under
    load that queue was most of a result's time (bench/README.md, session 7)."""

    day = models.DateField()
    kind = models.CharField(max_length=16, choices=PayoutKind.choices)
    status = models.CharField(max_length=20, choices=PayoutStatus.choices)
    shard = models.PositiveSmallIntegerField(default=0)
    count = models.IntegerField(default=0)
    amount = models.DecimalField(**RUNNING_TOTAL, default=0)

    class Meta:
        verbose_name = "payouts ended per day"
        constraints = [
            models.UniqueConstraint(fields=["day", "kind", "status", "shard"], name="payout_day_shard_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.status} #{self.shard}: {self.count}, KES {self.amount}"


class PayoutControl(models.Model):
    """The kill switch, as switched from the admin (PAYOUTS_PAUSED in the environment also holds sends).
    One row; every switch is also written to the audit trail."""

    paused = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "payout kill switch"
        verbose_name_plural = "payout kill switch"

    def __str__(self) -> str:
        return "Payouts PAUSED" if self.paused else "Payouts running"


class IdempotencyRecord(models.Model):
    """The first answer to an API request made with an Idempotency-Key, replayed on a retry."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "scope", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class FormSubmission(models.Model):
    """One submit of a console form that creates money movements (bulk upload confirmation, refund,
    disbursement, ledger funding): the one-time token rendered into the form, stored in the transaction that
    creates what it asks for. The UNIQUE constraint makes a double click or six concurrent confirms of one
    render create one thing; the others wait on the index and are answered with what the first made."""

    form = models.CharField(max_length=40)
    nonce = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The page of what the first submit created (a batch, a payout, a funding request).
    result_url = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["form", "nonce"], name="form_submitted_once")]

    def __str__(self) -> str:
        return f"{self.form} {self.created_at:%Y-%m-%d %H:%M}"


class DarajaCredentialSet(models.Model):
    """B2C credentials an operator keeps in the admin instead of the environment (rotating the initiator
    password, or switching to another B2C shortcode, without a deploy). Secrets are Fernet-encrypted with
    FIELD_ENCRYPTION_KEY and never shown back; blank values fall back to the environment."""

    name = models.CharField(max_length=100)
    active = models.BooleanField(default=False)
    b2c_shortcode = models.CharField(max_length=20, blank=True)
    initiator_name = models.CharField(max_length=100, blank=True)
    b2c_consumer_key_encrypted = models.TextField(blank=True)
    b2c_consumer_secret_encrypted = models.TextField(blank=True)
    initiator_password_encrypted = models.TextField(blank=True)
    security_credential_encrypted = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Daraja B2C credential set"
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="one_active_credential_set")
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (active)' if self.active else ''}"


class FinanceJobKind(models.TextChoices):
    EXPORT = "export", "Export"
    RECONCILE = "reconcile", "Statement reconciliation"


class FinanceJobStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class FinanceJob(models.Model):
    """An export or a statement reconciliation asked for in the console and run by a Celery worker: who asked
    for what and when (with an AuditEvent written in the same transaction), its progress, and its file.

    Files live under CONSOLE_FILES_DIR; the paths here are relative to it."""

    kind = models.CharField(max_length=16, choices=FinanceJobKind.choices)
    status = models.CharField(max_length=16, choices=FinanceJobStatus.choices, default=FinanceJobStatus.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # export: {"kind", "start", "end", "format"}; reconcile: {"file_name", "size"}
    params = models.JSONField(default=dict, blank=True)
    input_file = models.CharField(max_length=255, blank=True)
    output_file = models.CharField(max_length=255, blank=True)
    output_name = models.CharField(max_length=255, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    # reconcile: the summary and the first discrepancies, for the page (the file holds them all)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "finance export or reconciliation"
        verbose_name_plural = "finance exports and reconciliations"
        permissions = [
            ("export_ledger", "Can export payouts and payments"),
            ("reconcile_statement", "Can reconcile an M-Pesa statement"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"
