"""The ledger's factories: a posting made through the ledger's own door (`transaction_post`), as a funding
entry would be, so every row a test starts from passed the ledger's checks. People and payouts come from
tests/payments/factories.py."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ledger import accounts
from ledger.services.posting import move, transaction_post


def make_posting(
    amount: str | Decimal, *, source_id: str, when: datetime | None = None, debit: str = accounts.MPESA_UTILITY,
    credit: str = accounts.FLOAT_FUNDING, kind: str = "funding", memo: str = "",
) -> int | None:
    """`amount` moved from `credit` to `debit` at `when` (now when None): the transaction's id."""
    return transaction_post(source="test", source_id=source_id, kind=kind, posted_at=when, memo=memo,
                            lines=move(amount=Decimal(amount), debit=debit, credit=credit))
