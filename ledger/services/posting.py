"""Writing journal transactions: one balanced transaction per (source, source_id, kind), never twice.

On PostgreSQL one statement (`SELECT ledger_post(...)`, a function of migrations 0004 and 0006) writes the
transaction, its entries and the running totals: a posting costs the state change that causes it one round
trip, and a duplicate (a retried step) writes nothing and raises nothing (ON CONFLICT DO NOTHING), so a
posting can never fail the state change.
Elsewhere (SQLite) the same is done in a few ORM statements, with the balance checked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.field_widths import truncate_to
from ledger.models import DailyBalance, Entry, JournalTransaction

# Connections add to their own shard of each day's running totals (pg_backend_pid() modulo this, in ledger_post).
SHARDS = 16
CENT = Decimal("0.01")


class UnbalancedTransaction(ValueError):
    pass


@dataclass(frozen=True)
class Line:
    account: str
    debit: Decimal = Decimal("0")
    credit: Decimal = Decimal("0")


def move(*, amount: Decimal, debit: str, credit: str) -> list[Line]:
    """The two lines of `amount` moved into `debit` out of `credit`."""
    return [Line(debit, debit=amount), Line(credit, credit=amount)]


def _checked(lines: Sequence[Line]) -> list[Line]:
    cleaned = []
    for line in lines:
        debit, credit = Decimal(line.debit).quantize(CENT), Decimal(line.credit).quantize(CENT)
        if debit < 0 or credit < 0 or (debit > 0) == (credit > 0):
            raise UnbalancedTransaction(f"{line.account}: an entry is a positive debit or a positive credit.")
        cleaned.append(Line(line.account, debit, credit))
    if len(cleaned) < 2:
        raise UnbalancedTransaction("A journal transaction has two or more entries.")
    debits, credits = sum(line.debit for line in cleaned), sum(line.credit for line in cleaned)
    if debits != credits:
        raise UnbalancedTransaction(f"Debits {debits} and credits {credits} differ.")
    return cleaned


# PostgreSQL: the shard's lock (an advisory lock held to the end of the transaction), the transaction, its
# entries and the running totals, in one call of the function migrations 0004 and 0006 create (its statements
# are planned once per connection).
_POST_SQL = "SELECT ledger_post(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def transaction_post(
    *,
    source: str,
    source_id: str | int,
    kind: str,
    lines: Sequence[Line],
    posted_at: datetime | None = None,
    memo: str = "",
    payout_id: int | None = None,
    payment_id: int | None = None,
    created_by_id: int | None = None,
    reverses_id: int | None = None,
    clears_latest_sent: bool = False,
    reverses_latest_sent: bool = False,
) -> int | None:
    """Post one balanced transaction; its id, or None when (source, source_id, kind) was posted before.

    `clears_latest_sent` / `reverses_latest_sent`: link it to the payout's latest `sent` transaction (the money
    this one takes out of flight), found by the same statement."""
    cleaned = _checked(lines)
    posted_at = posted_at or timezone.now()
    source_id = str(source_id)
    if connection.vendor == "postgresql":
        params = [
            source, source_id, kind, posted_at, truncate_to(JournalTransaction, "memo", memo), payout_id, payment_id,
            created_by_id, reverses_id,
            reverses_latest_sent, clears_latest_sent,
            [line.account for line in cleaned], [line.debit for line in cleaned], [line.credit for line in cleaned],
        ]
        with connection.cursor() as cursor:
            cursor.execute(_POST_SQL, params)
            return cursor.fetchone()[0]
    return _post_orm(
        cleaned, source=source, source_id=source_id, kind=kind, posted_at=posted_at, memo=memo, payout_id=payout_id,
        payment_id=payment_id, created_by_id=created_by_id, reverses_id=reverses_id,
        clears_latest_sent=clears_latest_sent, reverses_latest_sent=reverses_latest_sent,
    )


def _post_orm(lines, *, clears_latest_sent, reverses_latest_sent, **fields) -> int | None:
    if clears_latest_sent or reverses_latest_sent:
        sent = (
            JournalTransaction.objects.filter(payout_id=fields["payout_id"], kind="sent")
            .order_by("-id").values_list("id", flat=True).first()
        )
        if clears_latest_sent:
            fields["clears_id"] = sent
        if reverses_latest_sent:
            fields["reverses_id"] = sent
    try:
        with transaction.atomic():
            tx = JournalTransaction.objects.create(**fields)
    except IntegrityError:
        return None
    Entry.objects.bulk_create(
        [Entry(transaction=tx, account_id=line.account, debit=line.debit, credit=line.credit,
               posted_at=tx.posted_at) for line in lines]
    )
    day = tx.posted_at.astimezone(UTC).date()
    for line in sorted(lines, key=lambda line: line.account):
        DailyBalance.objects.get_or_create(account_id=line.account, day=day, shard=0)
        DailyBalance.objects.filter(account_id=line.account, day=day, shard=0).update(
            debits=F("debits") + line.debit, credits=F("credits") + line.credit
        )
    return tx.pk


def transaction_reverse(*, transaction_id: int, memo: str, created_by_id: int | None = None) -> int | None:
    """Correct a posted transaction by posting its mirror image (debits and credits swapped), once."""
    original = JournalTransaction.objects.get(pk=transaction_id)
    lines = [Line(e.account_id, debit=e.credit, credit=e.debit) for e in original.entries.all()]
    return transaction_post(
        source="correction", source_id=original.pk, kind="reversal", lines=lines, memo=memo,
        payout_id=original.payout_id, payment_id=original.payment_id, created_by_id=created_by_id,
        reverses_id=original.pk,
    )


# The bulk writers (backfill, statement postings) end their INSERT ... RETURNING of entries (a CTE named `ent`:
# account_id, debit, credit, posted_at) with this: the entries added to their day's running totals (shard 0),
# in account order so two writers never wait on each other in opposite orders.
DAILY_TOTALS_CTE = """bal AS (
    INSERT INTO ledger_dailybalance (account_id, day, shard, debits, credits)
    SELECT account_id, (posted_at AT TIME ZONE 'UTC')::date, 0, sum(debit), sum(credit) FROM ent
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (account_id, day, shard) DO UPDATE SET debits = ledger_dailybalance.debits + EXCLUDED.debits,
        credits = ledger_dailybalance.credits + EXCLUDED.credits
    RETURNING 1
)
"""
