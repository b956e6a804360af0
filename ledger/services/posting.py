"""Writing journal transactions: one balanced transaction per (source, source_id, kind), never twice.

On PostgreSQL one statement writes the transaction, its entries and the running totals (a data-modifying
WITH): a posting costs the state change that causes it one round trip, and a duplicate (a retried step)
writes nothing and raises nothing (ON CONFLICT DO NOTHING), so a posting can never fail the state change.
Elsewhere (SQLite) the same is done in a few ORM statements, with the balance checked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from ledger.models import BalanceShard, DailyBalance, Entry, JournalTransaction

# Connections add to their own shard of each day's running totals (pg_backend_pid() modulo this).
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


@lru_cache(maxsize=32)
def _post_sql(lines: int, reference: str | None) -> str:
    """PostgreSQL: the transaction, its entries, the shard lock and the running totals, in one statement.
    `reference`: 'latest_sent' fills reverses_id/clears_id with the payout's latest `sent` transaction."""
    ref = (
        "(SELECT s.id FROM ledger_journaltransaction s WHERE s.payout_id = %s AND s.kind = 'sent'"
        " ORDER BY s.id DESC LIMIT 1)"
        if reference
        else "%s::bigint"
    )
    values = ", ".join(["(%s, %s::numeric, %s::numeric)"] * lines)
    return (
        "WITH tx AS ("
        " INSERT INTO ledger_journaltransaction"
        " (source, source_id, kind, posted_at, memo, payout_id, payment_id, created_by_id, reverses_id, clears_id)"
        " VALUES (%s, %s, %s, %s, %s, %s::bigint, %s::bigint, %s::bigint,"
        f" CASE WHEN %s::boolean THEN {ref} END, CASE WHEN %s::boolean THEN {ref} END)"
        " ON CONFLICT (source, source_id, kind) DO NOTHING RETURNING id, posted_at),"
        f" lines (account_id, debit, credit) AS (VALUES {values}),"
        " ent AS (INSERT INTO ledger_entry (transaction_id, account_id, debit, credit, posted_at)"
        " SELECT tx.id, lines.account_id, lines.debit, lines.credit, tx.posted_at FROM tx CROSS JOIN lines"
        " RETURNING account_id, debit, credit, posted_at),"
        " head AS (INSERT INTO ledger_balanceshard (day, shard, postings)"
        " SELECT (tx.posted_at AT TIME ZONE 'UTC')::date, pg_backend_pid() %% " + str(SHARDS) + ", 1 FROM tx"
        " ON CONFLICT (day, shard) DO UPDATE SET postings = ledger_balanceshard.postings + 1"
        " RETURNING day, shard),"
        " bal AS (INSERT INTO ledger_dailybalance (account_id, day, shard, debits, credits)"
        " SELECT ent.account_id, head.day, head.shard, sum(ent.debit), sum(ent.credit) FROM ent CROSS JOIN head"
        " GROUP BY ent.account_id, head.day, head.shard ORDER BY ent.account_id"
        " ON CONFLICT (account_id, day, shard) DO UPDATE SET debits = ledger_dailybalance.debits + EXCLUDED.debits,"
        " credits = ledger_dailybalance.credits + EXCLUDED.credits RETURNING 1)"
        " SELECT tx.id, (SELECT count(*) FROM bal) FROM tx"
    )


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
        reference = clears_latest_sent or reverses_latest_sent
        params: list = [source, source_id, kind, posted_at, memo[:255], payout_id, payment_id, created_by_id]
        if reference:
            params += [reverses_latest_sent, payout_id, clears_latest_sent, payout_id]
        else:
            params += [reverses_id is not None, reverses_id, False, None]
        for line in cleaned:
            params += [line.account, line.debit, line.credit]
        with connection.cursor() as cursor:
            cursor.execute(_post_sql(len(cleaned), "latest_sent" if reference else None), params)
            row = cursor.fetchone()
        return row[0] if row else None
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
    BalanceShard.objects.get_or_create(day=day, shard=0)
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
