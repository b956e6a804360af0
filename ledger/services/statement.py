"""What only an M-Pesa statement knows, posted into the ledger once each: charges, and transfers into or out
of the account (top-ups, moves to the working account or the bank).

A statement is a file one person uploads: reading it only proposes its charges and transfers
(`statement_postings_propose`, StatementProposal rows, one audit event); each is posted when someone other than
the uploader accepts it (`statement_proposals_accept`, with the second factor: the admin's verified session or
X-OTP in the API), or rejected. A proposal waiting blocks nothing: its receipt is in no journal key yet.

Keys are the statement's receipts: a charge is (`mpesa`, receipt, `charge`), the key a Transaction Status
result's DebitPartyCharges posts under, and a transfer is (`mpesa`, receipt, `funding`), the key a top-up
entered with its receipt posts under; so a second reconciliation of the same statement, or of one that
overlaps it, posts nothing again. A transfer whose receipt is one of our payouts' (a float top-up sent through
the API) was posted by that payout: it is counted as already in the ledger, and accepting one proposed before
the payout completed posts nothing. Posted in bulk (one statement per few thousand rows on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from core.errors import InvalidState, PermissionDenied
from core.field_widths import truncate_to
from ledger import accounts
from ledger.models import JournalTransaction, ProposalStatus, StatementProposal
from ledger.services.posting import DAILY_TOTALS_CTE, move, transaction_post

BATCH = 5_000


@dataclass(frozen=True, slots=True)
class StatementPosting:
    receipt: str
    what: str  # "charge" or "funding"
    amount: Decimal  # signed: paid into the account (> 0) or withdrawn from it (< 0)
    at: datetime
    details: str = ""


@dataclass
class StatementTotals:
    """Charges and transfers counted, in shillings: what a statement posted, or proposes."""

    charges: int = 0
    charges_amount: Decimal = Decimal("0")
    transfers: int = 0
    transfers_in: Decimal = Decimal("0")
    transfers_out: Decimal = Decimal("0")

    def count(self, kind: str, amount: Decimal) -> None:
        if kind == "charge":
            self.charges += 1
            self.charges_amount += -amount
        else:
            self.transfers += 1
            if amount > 0:
                self.transfers_in += amount
            else:
                self.transfers_out += -amount


@dataclass
class StatementPosted(StatementTotals):
    already: int = 0
    counts: dict = field(default_factory=dict)


def _lines(item: StatementPosting, account: str) -> tuple[str, str, str, Decimal]:
    """(kind, debit account, credit account, positive amount)."""
    amount = abs(item.amount)
    if item.what == "charge":
        # A charge withdrawn; a charge paid back in (a reversal by Safaricom) the other way.
        return ("charge", accounts.MPESA_CHARGES, account, amount) if item.amount < 0 else (
            "charge", account, accounts.MPESA_CHARGES, amount)
    if item.amount > 0:
        return "funding", account, accounts.FLOAT_FUNDING, amount
    return "funding", accounts.FLOAT_FUNDING, account, amount


_BULK_SQL = """
WITH items AS (
    SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::numeric[],
                         %s::timestamptz[], %s::varchar[])
        AS i(receipt, kind, debit_account, credit_account, amount, posted_at, memo)
),
tx AS (
    INSERT INTO ledger_journaltransaction
        (source, source_id, kind, posted_at, memo, payout_id, payment_id, created_by_id, reverses_id, clears_id)
    SELECT 'mpesa', receipt, kind, posted_at, memo, NULL, NULL, NULL, NULL, NULL FROM items
    ON CONFLICT (source, source_id, kind) DO NOTHING
    RETURNING id, source_id, kind, posted_at
),
ent AS (
    INSERT INTO ledger_entry (transaction_id, account_id, debit, credit, posted_at)
    SELECT tx.id, CASE WHEN side.dr THEN i.debit_account ELSE i.credit_account END,
           CASE WHEN side.dr THEN i.amount ELSE 0 END, CASE WHEN side.dr THEN 0 ELSE i.amount END, tx.posted_at
    FROM tx JOIN items i ON i.receipt = tx.source_id AND i.kind = tx.kind
    CROSS JOIN (VALUES (true), (false)) side(dr)
    RETURNING account_id, debit, credit, posted_at
),
""" + DAILY_TOTALS_CTE + """
SELECT tx.source_id, tx.kind FROM tx, (SELECT count(*) FROM bal) b
"""


def statement_rows_post(*, items: Iterable[StatementPosting], account: str = accounts.MPESA_UTILITY) -> StatementPosted:
    result = StatementPosted()
    batch: dict[tuple[str, str], StatementPosting] = {}

    def flush() -> None:
        if not batch:
            return
        posted = _post_batch(list(batch.values()), account)
        for item in batch.values():
            kind = _lines(item, account)[0]
            if (item.receipt, kind) not in posted:
                result.already += 1
            else:
                result.count(kind, item.amount)
        batch.clear()

    for item in items:
        if not item.receipt or not item.amount:
            continue
        batch.setdefault((item.receipt, _lines(item, account)[0]), item)  # a receipt listed twice: once
        if len(batch) >= BATCH:
            flush()
    flush()
    return result


def _memo(item: StatementPosting) -> str:
    return truncate_to(JournalTransaction, "memo", f"Statement: {item.details}")


def _post_batch(items: list[StatementPosting], account: str) -> set[tuple[str, str]]:
    shaped = [(item, *_lines(item, account)) for item in items]
    if connection.vendor == "postgresql":
        columns = list(zip(*[
            (item.receipt, kind, debit, credit, amount, item.at, _memo(item))
            for item, kind, debit, credit, amount in shaped
        ], strict=True))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_BULK_SQL, [list(column) for column in columns])
            return {(receipt, kind) for receipt, kind in cursor.fetchall()}
    posted = set()
    with transaction.atomic():
        for item, kind, debit, credit, amount in shaped:
            if transaction_post(
                source="mpesa", source_id=item.receipt, kind=kind, posted_at=item.at,
                lines=move(amount=amount, debit=debit, credit=credit), memo=_memo(item),
            ):
                posted.add((item.receipt, kind))
    return posted


# --- Proposals: nothing a statement says is posted on one person's word -------------------------------------

ACCEPT_PERMISSION = "ledger.accept_statementproposal"


@dataclass
class StatementProposed(StatementTotals):
    already: int = 0  # already in the ledger (a status result's charge, a top-up with its receipt)
    waiting: int = 0  # already proposed by an earlier upload and still waiting


def _present(keys: set[tuple[str, str]], queryset, receipt_field: str, kind_field: str) -> set[tuple[str, str]]:
    """Which of `keys` (receipt, kind) the queryset holds, looked up by receipt in slices."""
    found: set[tuple[str, str]] = set()
    receipts = sorted({receipt for receipt, _ in keys})
    for start in range(0, len(receipts), BATCH):
        rows = queryset.filter(**{f"{receipt_field}__in": receipts[start : start + BATCH]})
        found.update(key for key in rows.values_list(receipt_field, kind_field) if key in keys)
    return found


def _made_by_payouts(keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The transfers among `keys` (receipt, kind) that one of our payouts made (a float top-up sent through the
    API, Working to Utility): the payout's own postings moved that money, so the statement adds nothing."""
    from payments.models import Payout

    receipts = sorted({receipt for receipt, kind in keys if kind == "funding"})
    found: set[str] = set()
    for start in range(0, len(receipts), BATCH):
        found.update(
            Payout.objects.filter(transaction_id__in=receipts[start : start + BATCH])
            .values_list("transaction_id", flat=True)
        )
    return {key for key in keys if key[1] == "funding" and key[0] in found}


def _payout_posting(receipt: str) -> JournalTransaction | None:
    """The `completed` posting of the payout holding `receipt`, if that payout made the transfer."""
    from payments.models import Payout

    payout_id = Payout.objects.filter(transaction_id=receipt).values_list("pk", flat=True).first()
    if payout_id is None:
        return None
    return JournalTransaction.objects.filter(payout_id=payout_id, kind="completed").order_by("id").first()


def statement_postings_propose(
    *, items: Iterable[StatementPosting], account: str = accounts.MPESA_UTILITY, proposed_by=None, job_id=None
) -> StatementProposed:
    """Store what a statement would post, for another person to accept; post nothing. One audit event names
    the uploader and the totals."""
    from payments.audit_events import event_record
    from payments.models import AuditAction, EventSource

    result = StatementProposed()
    wanted: dict[tuple[str, str], StatementPosting] = {}
    for item in items:
        if item.receipt and item.amount:
            wanted.setdefault((item.receipt, _lines(item, account)[0]), item)  # a receipt listed twice: once
    with transaction.atomic():
        already = _present(set(wanted), JournalTransaction.objects.filter(source="mpesa"), "source_id", "kind")
        already |= _made_by_payouts(set(wanted) - already)
        waiting = _present(
            set(wanted) - already,
            StatementProposal.objects.filter(status=ProposalStatus.PROPOSED),
            "receipt",
            "kind",
        )
        result.already, result.waiting = len(already), len(waiting)
        new = {key: item for key, item in wanted.items() if key not in already and key not in waiting}
        StatementProposal.objects.bulk_create(
            [
                StatementProposal(
                    receipt=receipt, kind=kind, amount=item.amount, at=item.at,
                    details=truncate_to(StatementProposal, "details", item.details),
                    account_id=account, proposed_by=proposed_by, job_id=job_id,
                )
                for (receipt, kind), item in new.items()
            ],
            batch_size=BATCH,
            # Two uploads of one statement at once: the waiting receipt's unique index keeps one proposal.
            ignore_conflicts=True,
        )
        for (_, kind), item in new.items():
            result.count(kind, item.amount)
        event_record(
            action=AuditAction.STATEMENT_POSTINGS_PROPOSED,
            source=EventSource.ADMIN,
            actor=proposed_by,
            details={
                "job": job_id,
                "account": account,
                "charges": result.charges,
                "charges_amount": str(result.charges_amount),
                "transfers": result.transfers,
                "transfers_in": str(result.transfers_in),
                "transfers_out": str(result.transfers_out),
                "already_in_ledger": result.already,
                "already_waiting": result.waiting,
            },
        )
    return result


def _decide(*, proposal_id: int, user, accept: bool) -> StatementProposal:
    from payments.audit_events import event_record
    from payments.models import AuditAction, EventSource

    if not user.has_perm(ACCEPT_PERMISSION):
        raise PermissionDenied("You may not accept or reject a statement's charges and transfers.")
    with transaction.atomic():
        proposal = StatementProposal.objects.select_for_update().get(pk=proposal_id)
        if proposal.proposed_by_id is not None and proposal.proposed_by_id == user.pk:
            raise PermissionDenied("Another person must accept what the statement you uploaded proposes.")
        if proposal.status != ProposalStatus.PROPOSED:
            raise InvalidState(f"{proposal.receipt} is already {proposal.get_status_display().lower()}.")
        posted = False
        made_by_payout = _payout_posting(proposal.receipt) if accept and proposal.kind == "funding" else None
        if made_by_payout is not None:
            proposal.transaction = made_by_payout  # a top-up our payout made (and posted) since it was proposed
        elif accept:
            item = StatementPosting(
                proposal.receipt, proposal.kind, proposal.amount, proposal.at, proposal.details
            )
            posted = statement_rows_post(items=[item], account=proposal.account_id).already == 0
            proposal.transaction = JournalTransaction.objects.get(
                source="mpesa", source_id=proposal.receipt, kind=_lines(item, proposal.account_id)[0]
            )
        proposal.status = ProposalStatus.ACCEPTED if accept else ProposalStatus.REJECTED
        proposal.decided_by, proposal.decided_at = user, timezone.now()
        proposal.save(update_fields=["status", "decided_by", "decided_at", "transaction"])
        event_record(
            action=AuditAction.STATEMENT_POSTING_ACCEPTED if accept else AuditAction.STATEMENT_POSTING_REJECTED,
            source=EventSource.ADMIN,
            actor=user,
            details={
                "proposal": proposal.pk,
                "receipt": proposal.receipt,
                "kind": proposal.kind,
                "amount": str(proposal.amount),
                "account": proposal.account_id,
                "proposed_by": proposal.proposed_by_id,
                "job": proposal.job_id,
                # False: the receipt was already in the ledger (a top-up entered with it, or a payout's): nothing
                # was posted.
                "posted": posted,
            },
        )
        return proposal


def statement_proposal_accept(*, proposal_id: int, user) -> StatementProposal:
    return _decide(proposal_id=proposal_id, user=user, accept=True)


def statement_proposal_reject(*, proposal_id: int, user) -> StatementProposal:
    return _decide(proposal_id=proposal_id, user=user, accept=False)
