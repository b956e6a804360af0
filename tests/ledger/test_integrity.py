"""What the database itself refuses (PostgreSQL triggers), idempotency, and corrections by reversal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from ledger import accounts
from ledger.models import Entry, JournalTransaction
from ledger.services.posting import Line, UnbalancedTransaction, move, transaction_post, transaction_reverse
from tests.ledger.conftest import assert_balanced, balances

pytestmark = pytest.mark.django_db


def topup(source_id="t1", amount="100.00") -> int | None:
    return transaction_post(
        source="test", source_id=source_id, kind="funding",
        lines=move(amount=Decimal(amount), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING),
    )


def test_one_transaction_per_source_key_and_a_duplicate_raises_nothing():
    first = topup()
    assert first is not None
    assert topup() is None  # the same (source, source_id, kind): nothing written, nothing raised
    assert JournalTransaction.objects.count() == 1
    assert balances()[accounts.MPESA_UTILITY] == Decimal("100.00")


def test_an_unbalanced_transaction_is_refused_before_it_is_written():
    with pytest.raises(UnbalancedTransaction):
        transaction_post(source="test", source_id="x", kind="bad",
                         lines=[Line(accounts.MPESA_UTILITY, debit=Decimal("10")),
                                Line(accounts.FLOAT_FUNDING, credit=Decimal("9"))])
    with pytest.raises(UnbalancedTransaction):
        transaction_post(source="test", source_id="y", kind="bad",
                         lines=[Line(accounts.MPESA_UTILITY, debit=Decimal("1"))])
    assert not JournalTransaction.objects.exists()


def test_a_mistake_is_corrected_by_a_reversing_transaction():
    tx = topup()
    reversal = transaction_reverse(transaction_id=tx, memo="entered twice")
    assert JournalTransaction.objects.get(pk=reversal).reverses_id == tx
    assert transaction_reverse(transaction_id=tx, memo="again") is None  # once
    assert balances()[accounts.MPESA_UTILITY] == Decimal("0.00")
    assert Entry.objects.count() == 4  # nothing was changed or removed
    assert_balanced()


@pytest.mark.postgres
@pytest.mark.parametrize("sql", [
    "UPDATE ledger_entry SET debit = debit + 1 WHERE debit > 0",
    "DELETE FROM ledger_entry",
    "UPDATE ledger_journaltransaction SET memo = 'edited'",
    "DELETE FROM ledger_journaltransaction",
])
def test_entries_and_transactions_cannot_be_updated_or_deleted(sql):
    topup()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert balances()[accounts.MPESA_UTILITY] == Decimal("100.00")


@pytest.mark.postgres
def test_the_database_refuses_an_unbalanced_transaction_at_commit():
    """Written around the application (raw SQL): the deferred constraint trigger refuses it. The test runs
    inside a transaction that never commits, so the check is made immediate to see it fire."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ledger_entry_balanced, ledger_transaction_balanced IMMEDIATE")
        with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
            cursor.execute(
                "WITH tx AS (INSERT INTO ledger_journaltransaction (source, source_id, kind, posted_at, memo)"
                " VALUES ('raw', '1', 'bad', now(), '') RETURNING id)"
                " INSERT INTO ledger_entry (transaction_id, account_id, debit, credit, posted_at)"
                " SELECT id, 'mpesa_utility', 10, 0, now() FROM tx UNION ALL"
                " SELECT id, 'float_funding', 0, 9, now() FROM tx"
            )
        with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
            cursor.execute("INSERT INTO ledger_journaltransaction (source, source_id, kind, posted_at, memo)"
                           " VALUES ('raw', '2', 'empty', now(), '')")
        # Balanced, in one statement: accepted.
        cursor.execute(
            "WITH tx AS (INSERT INTO ledger_journaltransaction (source, source_id, kind, posted_at, memo)"
            " VALUES ('raw', '3', 'ok', now(), '') RETURNING id)"
            " INSERT INTO ledger_entry (transaction_id, account_id, debit, credit, posted_at)"
            " SELECT id, 'mpesa_utility', 10, 0, now() FROM tx UNION ALL"
            " SELECT id, 'float_funding', 0, 10, now() FROM tx"
        )
    assert JournalTransaction.objects.filter(source="raw").count() == 1


@pytest.mark.postgres
def test_an_entry_is_a_debit_or_a_credit_never_both():
    tx = topup()
    with pytest.raises(IntegrityError), transaction.atomic():
        Entry.objects.create(transaction_id=tx, account_id=accounts.SUSPENSE, debit=1, credit=1)


def test_balances_as_of_a_past_moment():
    from datetime import timedelta

    from django.utils import timezone

    from ledger import selectors

    earlier = timezone.now() - timedelta(days=3)
    transaction_post(source="test", source_id="old", kind="funding", posted_at=earlier,
                     lines=move(amount=Decimal("50"), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING))
    topup()
    assert selectors.account_balance(accounts.MPESA_UTILITY, at=earlier - timedelta(seconds=1)) == 0
    assert selectors.account_balance(accounts.MPESA_UTILITY, at=earlier) == Decimal("50.00")
    assert selectors.account_balance(accounts.MPESA_UTILITY, at=earlier + timedelta(days=1)) == Decimal("50.00")
    assert selectors.account_balance(accounts.MPESA_UTILITY) == Decimal("150.00")
    assert selectors.trial_balance(at=earlier).balanced
