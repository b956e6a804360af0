"""What only an M-Pesa statement knows, posted into the ledger once each: charges, and transfers into or out
of the account (top-ups, moves to the working account or the bank).

Keys are the statement's receipts: a charge is (`mpesa`, receipt, `charge`), the key a Transaction Status
result's DebitPartyCharges posts under, and a transfer is (`mpesa`, receipt, `funding`), the key a top-up
entered with its receipt posts under; so a second reconciliation of the same statement, or of one that
overlaps it, posts nothing again. Posted in bulk (one statement per few thousand rows on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from ledger import accounts
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
class StatementPosted:
    charges: int = 0
    charges_amount: Decimal = Decimal("0")
    transfers: int = 0
    transfers_in: Decimal = Decimal("0")
    transfers_out: Decimal = Decimal("0")
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
            elif kind == "charge":
                result.charges += 1
                result.charges_amount += -item.amount
            else:
                result.transfers += 1
                if item.amount > 0:
                    result.transfers_in += item.amount
                else:
                    result.transfers_out += -item.amount
        batch.clear()

    for item in items:
        if not item.receipt or not item.amount:
            continue
        batch.setdefault((item.receipt, _lines(item, account)[0]), item)  # a receipt listed twice: once
        if len(batch) >= BATCH:
            flush()
    flush()
    return result


def _post_batch(items: list[StatementPosting], account: str) -> set[tuple[str, str]]:
    shaped = [(item, *_lines(item, account)) for item in items]
    if connection.vendor == "postgresql":
        columns = list(zip(*[
            (item.receipt, kind, debit, credit, amount, item.at, f"Statement: {item.details}"[:255])
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
                lines=move(amount=amount, debit=debit, credit=credit), memo=f"Statement: {item.details}"[:255],
            ):
                posted.add((item.receipt, kind))
    return posted
