"""The append-only audit trail: who or what changed what, and from where."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from payments.models.callbacks import DarajaCallback
from payments.models.incoming import Payment
from payments.models.payouts import Payout
from payments.models.recipients import Recipient


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
    EXPIRED = "expired", "Expired without its approvals"
    # A payout's decisions that leave its status as it is.
    APPROVAL = "approval", "Approval"
    EDITED = "edited", "Edited"
    HELD = "held", "Held"
    STATUS_QUERY = "status_query", "Status query sent"
    REVIEW_RECORDED = "review_recorded", "Review recorded (waits for a second person)"
    REQUESTED_AGAIN = "requested_again", "Requested again (a failed payout's new request)"
    RETRIED = "retried", "Requested again as a new payout"
    # A payment's lifecycle (C2B and STK push; each a row of payments.incoming.lifecycle.PAYMENT_TRANSITIONS).
    PAYMENT_COMPLETED = "payment_completed", "Payment completed"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    PAYMENT_RESULT_UNKNOWN = "payment_result_unknown", "Payment result proves no outcome"
    PUSH_OUTCOME_UNKNOWN = "push_outcome_unknown", "STK push outcome unknown"
    PAYMENT_REVERSED = "payment_reversed", "Payment reversed"
    PAYMENT_RECOVERED = "payment_recovered", "Payment recorded from Pull Transactions"
    STK_QUERY_PAID = "stk_query_paid", "STK query says paid, receipt awaited"
    # A saved recipient (payments/recipients/): its four eyes, and the payouts requested to it.
    RECIPIENT_CREATED = "recipient_created", "Recipient created"
    RECIPIENT_CHANGED = "recipient_changed", "Recipient changed"
    RECIPIENT_PAYEE_CHANGED = "recipient_payee_changed", "Recipient's payee changed (approval voided)"
    RECIPIENT_APPROVED = "recipient_approved", "Recipient approved"
    RECIPIENT_REJECTED = "recipient_rejected", "Recipient rejected"
    RECIPIENT_ARCHIVED = "recipient_archived", "Recipient archived"
    RECIPIENTS_IMPORTED = "recipients_imported", "Recipients imported"
    RECIPIENT_PAYOUT_REQUESTED = "recipient_payout_requested", "Payout requested to a recipient"
    # A payout plan (payments/plans/): its four eyes, pauses and runs. The plan's id is in `details["plan"]`.
    PLAN_CREATED = "plan_created", "Payout plan created"
    PLAN_CHANGE_PROPOSED = "plan_change_proposed", "Payout plan change proposed"
    PLAN_APPROVED = "plan_approved", "Payout plan approved"
    PLAN_CHANGE_APPROVED = "plan_change_approved", "Payout plan change approved"
    PLAN_REJECTED = "plan_rejected", "Payout plan rejected"
    PLAN_CHANGE_REJECTED = "plan_change_rejected", "Payout plan change rejected"
    PLAN_PAUSED = "plan_paused", "Payout plan paused"
    PLAN_RESUMED = "plan_resumed", "Payout plan resumed"
    PLAN_RUN_CREATED = "plan_run_created", "Payout plan run created"
    # Controls, credentials, finance jobs.
    PAYOUTS_PAUSED = "payouts_paused", "Payouts paused"
    APPROVAL_RULE_ADDED = "approval_rule_added", "Approval rule added"
    APPROVAL_RULE_CHANGED = "approval_rule_changed", "Approval rule changed"
    APPROVAL_RULE_DELETED = "approval_rule_deleted", "Approval rule deleted"
    TARIFF_CHANGED = "tariff_changed", "Tariff band changed"
    PAYOUTS_RESUMED = "payouts_resumed", "Payouts resumed"
    CREDENTIALS_ADDED = "credentials_added", "Credentials added"
    CREDENTIALS_CHANGED = "credentials_changed", "Credentials changed"
    CREDENTIALS_DELETED = "credentials_deleted", "Credentials deleted"
    OPERATOR_REFUSED = "operator_refused", "M-Pesa refused the operator credentials"
    OPERATOR_DOWN = "operator_down", "Operator credentials marked down"
    OPERATOR_PROBE_REFUSED = "operator_probe_refused", "Operator reinstatement probe refused"
    OPERATOR_REINSTATED = "operator_reinstated", "Operator credentials reinstated"
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
    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, null=True, blank=True, related_name="events")
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=12, choices=EventSource.choices)
    details = models.JSONField(default=dict, blank=True)
    callback = models.ForeignKey(DarajaCallback, on_delete=models.PROTECT, null=True, blank=True, related_name="events")
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
