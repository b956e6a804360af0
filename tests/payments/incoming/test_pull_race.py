"""A C2B confirmation racing the Pull for the same receipt produces one payment, posted once, on PostgreSQL
with two connections (a thread each): the confirmation through its real route, the Pull through its command."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from ledger.models import JournalTransaction
from payments.models import CallbackOutcome, DarajaCallback, Payment
from tests.factories import sample
from tests.payments.incoming.test_pull import answer_pull, assert_balanced, confirm, row, run_command

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("fake_daraja_settings")]  # fmt: skip


def test_a_confirmation_racing_the_pull_makes_one_payment(daraja):
    rows: list[dict] = []
    answer_pull(daraja, rows)
    for round_ in range(8):
        receipt = f"RACE{round_:06d}"
        rows[:] = [row(receipt, amount="5.00", msisdn=254712345126, account="Sample Transaction")]
        confirmation = {**sample("c2b_confirmation"), "TransID": receipt}
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def together(work, barrier=barrier, errors=errors) -> None:
            try:
                barrier.wait(timeout=10)
                work()
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=together, args=(run_command,)),
                   threading.Thread(target=together, args=(lambda c=confirmation: confirm(Client(), c),))]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == [], (round_, errors)
        payment = Payment.objects.get(receipt=receipt)
        assert payment.phone == "254712345126", round_  # whoever won, the full number is kept
        assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
        callback = DarajaCallback.objects.get(transaction_id=receipt)
        assert callback.outcome in (CallbackOutcome.PROCESSED, CallbackOutcome.DUPLICATE)
        assert callback.payment_id == payment.pk
    assert_balanced()
