"""Money out: a B2C payout (a refund of a payment, or a disbursement), its batch, the people who requested,
edited, approved and reviewed it, its case-file notes, and the kill switch that holds every send.

State moves only through the lifecycle's door (payments/payouts/lifecycle.py), which changes status by
conditional update or under a row lock and writes an AuditEvent in the same transaction."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.money import MONEY, kes
from payments.models.incoming import Payment
from payments.tokens import payout_token


def new_originator_conversation_id() -> str:
    # Ours, unique per payout, fixed at creation: Daraja dedupes on it and results are matched by it.
    return f"PO-{uuid.uuid4().hex}"


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
# Statuses whose payout amount no longer counts against a payment's refundable remainder, nor against a day's
# limits (payments/payouts/limits.py).
RELEASED_STATUSES = frozenset({PayoutStatus.FAILED, PayoutStatus.REJECTED})
# Statuses in which a payout may still be changed (what is paid, or who approves): nothing has left yet.
EDITABLE_STATUSES = (PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED)
# Statuses in which the payout has left, or may have left, for M-Pesa: they count against the limits at send.
SENT_STATUSES = (
    PayoutStatus.SENDING,
    PayoutStatus.SUBMITTED,
    PayoutStatus.VERIFYING,
    PayoutStatus.COMPLETED,
    PayoutStatus.NEEDS_REVIEW,
)
# The sent ones that carry a submitted_at (a `sending` payout has none yet), in this order: the condition of the
# partial indexes payout_sent_submitted and payout_sent_phone_submitted below, the set the SentHour trigger
# counts (migration 0007; tests/payments/payouts/test_sent_hours.py fails if the two part) and the set the
# limits at send and the console's volume series read.
SUBMITTED_STATUSES = tuple(s for s in SENT_STATUSES if s != PayoutStatus.SENDING)


class PayoutRail(models.TextChoices):
    """How the money leaves: which Daraja API sends it, from which of our accounts, and what the payout names.

    `mobile` (B2C) and `pochi` pay a phone from the B2C Utility account; `paybill` and `till` (B2B) pay a
    business number (`party_b`) from the Working account; `float_topup` moves our own money from Working into
    Utility; `reversal` gives a received payment back. docs/rails.md says which Safaricom roles each needs."""

    MOBILE = "mobile", "M-Pesa number"
    PAYBILL = "paybill", "Paybill"
    TILL = "till", "Till (Buy Goods)"
    POCHI = "pochi", "Pochi la Biashara"
    FLOAT_TOPUP = "float_topup", "Float top-up"
    REVERSAL = "reversal", "Reversal"


# Rails that pay a phone number (B2C v3 and B2Pochi; both leave the Utility account).
PHONE_RAILS = frozenset({PayoutRail.MOBILE, PayoutRail.POCHI})
# Rails that pay a business number through the B2B API (both leave the Working account).
BUSINESS_RAILS = frozenset({PayoutRail.PAYBILL, PayoutRail.TILL})
# Rails whose request carries no id of ours: Daraja's synchronous answer gives the ids, and only the per-payout
# ResultURL token binds a result to its payout until then.
NO_CALLER_ID_RAILS = frozenset({PayoutRail.PAYBILL, PayoutRail.TILL, PayoutRail.FLOAT_TOPUP, PayoutRail.REVERSAL})


class NameCheckStatus(models.TextChoices):
    """What M-Pesa said of the payee's name (payments/payouts/name_check.py, docs/name-check.md)."""

    NOT_CHECKED = "not_checked", "Not checked"  # off, a rail without a lookup, or the lookup failed
    PENDING = "pending", "Checking"  # queued to a worker
    MATCH = "match", "Name matches"
    MISMATCH = "mismatch", "Name differs"
    NOT_FOUND = "not_found", "M-Pesa does not know this number"
    NO_NAME = "no_name", "Found; we hold no name to compare"


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
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds")
    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="payouts")
    # A payout requested again after this one failed (payout_request_again): a new request with its own
    # OriginatorConversationID and its own approvals. Indexed only where set (most payouts are not retries).
    retry_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="retries", db_index=False
    )
    recipient_name = models.CharField(max_length=150, blank=True)
    recipient_type = models.CharField(max_length=30, blank=True, help_text="e.g. customer, trainer, client")
    recipient_reference = models.CharField(max_length=100, blank=True, db_index=True)
    rail = models.CharField(max_length=16, choices=PayoutRail.choices, default=PayoutRail.MOBILE)
    # `mobile` and `pochi`: the number paid; empty on the other rails.
    phone = models.CharField(max_length=12, db_index=True, blank=True)
    # `paybill` and `till`: the business number paid (5-7 digits); `float_topup`: our own B2C shortcode.
    party_b = models.CharField("paybill or till number", max_length=12, blank=True)
    # `paybill`: the account at the business (1-13 characters, required); `till`: optional.
    account_reference = models.CharField(max_length=13, blank=True)
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
    # The OriginatorConversationID Daraja's synchronous answer gave, for the rails whose request carries none of
    # ours (NO_CALLER_ID_RAILS); a Transaction Status query may ask by it.
    answered_originator_conversation_id = models.CharField(max_length=64, blank=True)
    transaction_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    result_code = models.CharField(max_length=32, blank=True, db_index=True)
    result_description = models.CharField(max_length=255, blank=True)
    receiver_name = models.CharField(max_length=150, blank=True)
    # The name check before approval (MPESA_NAME_CHECK): what M-Pesa answered for the payee, and when. A mismatch
    # needs the approver's "I have checked the name"; nothing here blocks a payout on its own.
    name_check_status = models.CharField(
        max_length=12, choices=NameCheckStatus.choices, default=NameCheckStatus.NOT_CHECKED
    )
    name_check_name = models.CharField("name M-Pesa reports", max_length=150, blank=True)
    name_checked_at = models.DateTimeField(null=True, blank=True)
    # No payout to this payee (phone; paybill and account; till) had completed when this one was requested.
    first_time_payee = models.BooleanField(default=False)
    # What M-Pesa charged for this payout when its result says (B2B DebitPartyCharges, a reversal's Charge).
    charge = models.DecimalField(**MONEY, null=True, blank=True)
    # The credential set that sent it (set at the claim; NULL: the environment's credentials, or not sent):
    # its refusals count against that set (payments/payouts/operator_health.py).
    sent_with = models.ForeignKey(
        "payments.DarajaCredentialSet", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_payouts", db_index=False
    )
    required_approvals = models.PositiveSmallIntegerField(default=1)
    # The approval rule that decided `required_approvals`, copied when the payout was requested (or its amount
    # edited): {"rule": id or None, "name", "approvals", "manager_group", "source"}. A later rule change
    # changes no payout (payments/payouts/approval_rules.py).
    approval_rule = models.JSONField(default=dict, blank=True)
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
                condition=Q(status__in=list(SUBMITTED_STATUSES)),
                name="payout_sent_submitted",
            ),
            models.Index(
                fields=["phone", "submitted_at"],
                include=["amount", "id"],
                condition=Q(status__in=list(SUBMITTED_STATUSES)),
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
            # What left the Working account today (B2B, top-ups, reversals), for the limits at send of both
            # accounts (payments/payouts/limits.py): few rows a day, so a small index.
            models.Index(
                fields=["submitted_at"],
                include=["amount", "id", "party_b"],
                condition=Q(
                    rail__in=[PayoutRail.PAYBILL, PayoutRail.TILL, PayoutRail.FLOAT_TOPUP, PayoutRail.REVERSAL],
                    status__in=list(SUBMITTED_STATUSES),
                ),
                name="payout_working_submitted",
            ),
            # The first-time payee flag (payments/payouts/name_check.py) asks whether a business number was ever
            # paid: only completed business payouts are in it (a phone is asked through the phone index).
            models.Index(
                fields=["party_b", "account_reference"],
                condition=Q(status="completed", rail__in=["paybill", "till"]),
                name="payout_paid_business",
            ),
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
            # What each rail names, so no path (API, console, bulk file, a bug) can store a payout that the
            # send could not address.
            models.CheckConstraint(
                condition=~Q(rail__in=[PayoutRail.MOBILE, PayoutRail.POCHI]) | ~Q(phone=""),
                name="payout_phone_rail_has_phone",
            ),
            models.CheckConstraint(
                condition=~Q(rail__in=[PayoutRail.PAYBILL, PayoutRail.TILL]) | Q(party_b__regex=r"^[0-9]{5,7}$"),
                name="payout_business_rail_has_party_b",
            ),
            models.CheckConstraint(
                condition=~Q(rail=PayoutRail.PAYBILL) | ~Q(account_reference=""),
                name="payout_paybill_has_account",
            ),
            models.CheckConstraint(
                condition=~Q(rail=PayoutRail.REVERSAL) | Q(payment__isnull=False),
                name="payout_reversal_has_payment",
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
    """One approver's consent, bound to what they saw: amount, rail, who is paid (phone, or business number and
    account) and CommandID."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # A copy of the payout's requester, so the database can refuse a self-approval on its own.
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(**MONEY)
    rail = models.CharField(max_length=16, default=PayoutRail.MOBILE)
    phone = models.CharField(max_length=12, blank=True)
    party_b = models.CharField(max_length=12, blank=True)
    account_reference = models.CharField(max_length=13, blank=True)
    command_id = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The four-eyes rule of payments/payouts/four_eyes.py, held by the database too (with the trigger
            # payments_approval_not_by_editor of migration 0010).
            models.CheckConstraint(condition=~Q(approver=F("requested_by")), name="approval_not_by_requester"),
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
