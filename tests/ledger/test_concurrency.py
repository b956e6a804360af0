"""Sixteen settlements at once, each in its own connection: sixteen balanced transactions, running totals
that agree with the entries, nothing in flight afterwards, no deadlock."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import Client

from ledger import accounts
from ledger.models import DailyBalance, Entry, JournalTransaction
from payments.models import Payout, PayoutStatus
from tests.factories import advance, b2c_result, make_payout
from tests.ledger.conftest import assert_balanced, balances, post_callback

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

N = 16


def test_sixteen_settlements_at_once_post_sixteen_balanced_transactions():
    payouts = []
    for _ in range(N):
        payout = make_payout(status=PayoutStatus.APPROVED, transaction_id=None)
        advance(payout.pk, "sending")
        payouts.append(payout)
    assert balances()[accounts.PAYOUTS_IN_FLIGHT] == Decimal("10.00") * N

    barrier = threading.Barrier(N)
    answers, errors = [], []

    def settle(index: int, payout: Payout) -> None:
        try:
            body = b2c_result(payout)
            receipt = f"SG6CONC{index:03d}"
            body["Result"]["TransactionID"] = receipt
            for param in body["Result"]["ResultParameters"]["ResultParameter"]:
                if param["Key"] == "TransactionReceipt":
                    param["Value"] = receipt
            barrier.wait(timeout=30)
            answers.append(post_callback(Client(), "b2c-result", payout.callback_token, body).status_code)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=settle, args=(i, p)) for i, p in enumerate(payouts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors and answers == [200] * N
    assert Payout.objects.filter(status=PayoutStatus.COMPLETED).count() == N
    completed = JournalTransaction.objects.filter(kind="completed")
    assert completed.count() == N
    for tx in completed:
        lines = tx.entries.aggregate(d=Sum("debit"), c=Sum("credit"))
        assert lines["d"] == lines["c"] == Decimal("10.00")
        assert tx.clears_id is not None
    now = balances()
    assert now[accounts.PAYOUTS_IN_FLIGHT] == Decimal("0.00")
    assert now[accounts.DISBURSEMENTS] == Decimal("10.00") * N
    assert_balanced()
    # The running totals the concurrent postings kept agree with the entries themselves.
    for code in (accounts.PAYOUTS_IN_FLIGHT, accounts.DISBURSEMENTS, accounts.MPESA_UTILITY):
        kept = DailyBalance.objects.filter(account_id=code).aggregate(d=Sum("debits"), c=Sum("credits"))
        summed = Entry.objects.filter(account_id=code).aggregate(d=Sum("debit"), c=Sum("credit"))
        assert (kept["d"], kept["c"]) == (summed["d"], summed["c"])
