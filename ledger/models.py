"""The double-entry ledger under every shilling: accounts, journal transactions and their entries.

A journal transaction is one money movement: two or more entries whose debits equal their credits, written
in the same database transaction as the state change that causes it, at most once per (source, source_id,
kind). Entries and transactions are never updated or deleted (on PostgreSQL triggers refuse it, and a
deferred constraint trigger refuses an unbalanced transaction at commit); a mistake is corrected by a
reversing transaction. Balances are derived from the entries; `DailyBalance` keeps running totals per
account, UTC day and shard so a balance or the trial balance never sums every entry ever written.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.money import LEDGER_MONEY, RUNNING_TOTAL, kes


class AccountType(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    INCOME = "income", "Income"
    EXPENSE = "expense", "Expense"


DEBIT_NORMAL = frozenset({AccountType.ASSET, AccountType.EXPENSE})


class Account(models.Model):
    """An account, named by a stable code (its primary key, so an entry names its account without a lookup)."""

    code = models.CharField(max_length=40, primary_key=True)
    name = models.CharField(max_length=150)
    type = models.CharField(max_length=10, choices=AccountType.choices)
    # The account's code in the accounting system (Xero, QuickBooks); the export uses it when set.
    external_code = models.CharField(max_length=60, blank=True)
    # False for an account whose balance (on its normal side) can never honestly be below zero.
    may_go_negative = models.BooleanField(default=False)
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"

    @property
    def debit_normal(self) -> bool:
        return self.type in DEBIT_NORMAL


class JournalTransaction(models.Model):
    """One balanced money movement, once per (source, source_id, kind)."""

    source = models.CharField(max_length=20)  # payout, payment, mpesa (a receipt), funding, backfill, correction
    source_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=40)
    posted_at = models.DateTimeField(default=timezone.now, db_index=True)
    memo = models.CharField(max_length=255, blank=True)
    # Plain references (no foreign-key constraint): the ledger never blocks or cascades from a payments row.
    payout = models.ForeignKey(
        "payments.Payout", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
        related_name="+", db_index=False,  # indexed with id: ledger_tx_payout
    )
    payment = models.ForeignKey(
        "payments.Payment", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
        related_name="+", db_index=False,
    )
    # The transaction this one reverses (a correction, or a send M-Pesa proved it never received).
    reverses = models.ForeignKey(
        "self", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="reversed_by",
        db_index=False,
    )
    # The `sent` transaction whose money this one takes out of payouts_in_flight.
    clears = models.ForeignKey(
        "self", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="cleared_by",
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
        related_name="+", db_index=False,
    )

    class Meta:
        ordering = ["-posted_at", "-id"]
        verbose_name = "journal transaction"
        # Most transactions link to nothing: partial indexes keep those NULLs out of the write path.
        indexes = [
            # A payout's postings, newest first: the posting that clears a payout's money from flight finds its
            # latest `sent` here (with the payout id alone, PostgreSQL preferred walking the primary key
            # backwards from the newest transaction: 0.5 s at a million).
            models.Index(fields=["payout", "id"], name="ledger_tx_payout"),
            models.Index(fields=["reverses"], condition=Q(reverses__isnull=False), name="ledger_tx_reverses"),
            models.Index(fields=["clears"], condition=Q(clears__isnull=False), name="ledger_tx_clears"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source", "source_id", "kind"], name="ledger_one_transaction_per_source")
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} ({self.source} {self.source_id})"


class Entry(models.Model):
    """One side of a journal transaction: a debit or a credit of one account, never both."""

    # No foreign-key constraints: every posting would take a KEY SHARE lock on its (hot) account rows and run
    # two referential checks per entry. The posting function writes entries only with their transaction, to
    # the accounts the chart creates; the balance trigger checks the transaction they belong to.
    transaction = models.ForeignKey(
        JournalTransaction, on_delete=models.DO_NOTHING, db_constraint=False, related_name="entries"
    )
    account = models.ForeignKey(
        Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="entries", db_index=False
    )
    debit = models.DecimalField(**LEDGER_MONEY, default=0)
    credit = models.DecimalField(**LEDGER_MONEY, default=0)
    posted_at = models.DateTimeField(default=timezone.now)  # the transaction's, copied for statements by date

    class Meta:
        ordering = ["posted_at", "id"]
        verbose_name_plural = "entries"
        indexes = [models.Index(fields=["account", "posted_at", "id"], name="ledger_entry_account_time")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0) & Q(credit=0)) | (Q(credit__gt=0) & Q(debit=0)),
                name="ledger_entry_one_side_positive",
            )
        ]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.account_id} {side}"

    @property
    def amount(self):
        return self.debit - self.credit


class DailyBalance(models.Model):
    """Running totals of one account's entries posted on one UTC day, kept by the posting statement itself.
    Each database connection adds to its own shard (its backend pid modulo LEDGER_BALANCE_SHARDS), so
    concurrent postings rarely wait for each other on a hot account."""

    account = models.ForeignKey(
        Account, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    day = models.DateField()
    shard = models.PositiveSmallIntegerField(default=0)
    debits = models.DecimalField(**RUNNING_TOTAL, default=0)
    credits = models.DecimalField(**RUNNING_TOTAL, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "shard"], name="ledger_daily_balance_key")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day} #{self.shard}: Dr {self.debits} Cr {self.credits}"


class FundingKind(models.TextChoices):
    TOP_UP = "top_up", "Top-up of the B2C float"
    OPENING_BALANCE = "opening_balance", "Opening balance"


class FundingStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPROVED = "approved", "Approved and posted"
    REJECTED = "rejected", "Rejected"


class FundingRequest(models.Model):
    """A top-up or an opening balance entered by a person; posted only when another person approves it."""

    kind = models.CharField(max_length=20, choices=FundingKind.choices)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", default="mpesa_utility")
    amount = models.DecimalField(**LEDGER_MONEY)
    # The M-Pesa receipt of the transfer, when there is one: a statement row with it is then not posted again.
    receipt = models.CharField(max_length=32, blank=True)
    effective_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=FundingStatus.choices, default=FundingStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    transaction = models.ForeignKey(
        JournalTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_fundingrequest", "Can approve top-ups and opening balances")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_funding_amount_positive"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="ledger_funding_not_decided_by_requester",
            ),
        ]

    def __str__(self) -> str:
        # Names it in breadcrumbs and messages: "Top-up of the B2C float KES 1,000,000.00 (pending)".
        return f"{self.get_kind_display()} {kes(self.amount)} ({self.status})"


class ProposalKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    FUNDING = "funding", "Transfer"


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", "Waiting for approval"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class StatementProposal(models.Model):
    """A charge or a transfer only an uploaded statement knows. A statement is one person's file: what it
    proposes is posted only when another person accepts it (ledger.services.statement), never on upload.
    Until then it is in no balance and holds its receipt against nothing: a four-eyes top-up carrying the same
    receipt still posts, and accepting this one afterwards posts nothing again (the journal's key)."""

    receipt = models.CharField(max_length=64)  # as long as the journal's source_id it is posted under
    kind = models.CharField(max_length=10, choices=ProposalKind.choices)
    # Signed, as on the statement: paid into the account (> 0) or withdrawn from it (< 0).
    amount = models.DecimalField(**LEDGER_MONEY)
    at = models.DateTimeField()
    details = models.CharField(max_length=255, blank=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED)
    # Who uploaded the statement (none when read by the `reconcile_statement` command), and from which job.
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    job = models.ForeignKey("payments.FinanceJob", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The journal transaction under the receipt once accepted: this one's, or the one already there.
    transaction = models.ForeignKey(
        JournalTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = "statement posting"
        verbose_name_plural = "statement postings"
        permissions = [("accept_statementproposal", "Can accept a statement's charges and transfers")]
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="ledger_statement_proposal_not_decided_by_proposer",
            ),
            # A statement uploaded twice proposes each receipt once while it waits.
            models.UniqueConstraint(
                fields=["receipt", "kind"], condition=Q(status="proposed"), name="ledger_statement_proposal_waiting"
            ),
        ]
        indexes = [models.Index(fields=["status", "at"], name="ledger_stmt_proposal_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.receipt} KES {self.amount} ({self.status})"


class FloatCheck(models.Model):
    """A float reading compared with the ledger's mpesa_utility balance at that moment."""

    reading = models.OneToOneField("payments.FloatBalance", on_delete=models.PROTECT, related_name="ledger_check")
    observed_at = models.DateTimeField(db_index=True)
    reported = models.DecimalField(**LEDGER_MONEY)
    ledger_balance = models.DecimalField(**LEDGER_MONEY)
    in_flight = models.DecimalField(**LEDGER_MONEY)
    # Below zero: M-Pesa holds less than the ledger says; above: more (0 within [ledger, ledger + in flight]).
    drift = models.DecimalField(**LEDGER_MONEY)
    flagged = models.BooleanField(default=False)
    likely_cause = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-observed_at", "-id"]
        indexes = [
            models.Index(fields=["observed_at"], condition=Q(flagged=True), name="ledger_floatcheck_flagged")
        ]

    def __str__(self) -> str:
        return f"Float KES {self.reported} vs ledger KES {self.ledger_balance} (drift {self.drift})"
