"""Posting costs at most one SQL statement per state change: counted on the send (claim and submit) and on a
B2C result, against the same paths with the ledger switched off."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from payments.models import PayoutStatus
from payments.payouts import dispatch
from payments.payouts import lifecycle as lifecycle_module
from tests.factories import b2c_result, make_approver, make_payout
from tests.ledger.conftest import post_callback

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")


def approved():
    payout = make_payout(status=PayoutStatus.APPROVED, transaction_id=None)
    payout.approvals.create(approver=make_approver(), requested_by=payout.requested_by, amount=payout.amount,
                            phone=payout.phone, command_id=payout.command_id)
    return payout


def statements(run) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        run()
    return [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] not in CONTROL]


def result_body(payout, receipt: str) -> dict:
    body = b2c_result(payout, TransactionID=receipt)
    params = body["Result"]["ResultParameters"]["ResultParameter"]
    for param in params:
        if param["Key"] == "TransactionReceipt":
            param["Value"] = receipt
    # No float reading in it: readings are throttled, so only one of the two results would take one.
    body["Result"]["ResultParameters"]["ResultParameter"] = [
        p for p in params if "AvailableFunds" not in p["Key"]
    ]
    return body


def measured(daraja, *, ledger: bool, monkeypatch, receipt: str = "") -> tuple[int, int]:
    if not ledger:
        monkeypatch.setattr(lifecycle_module, "payout_status_posted", lambda **kwargs: None)
    payout = approved()
    send = statements(lambda: dispatch.payout_send(payout_id=payout.pk))
    result = statements(lambda: post_callback(Client(), "b2c-result", payout.callback_token,
                                                   result_body(payout, receipt or f"SGCOST{int(ledger)}")))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    monkeypatch.undo()
    return len(send), len(result)


def test_posting_adds_one_statement_to_a_send_and_one_to_a_result(daraja, monkeypatch):
    measured(daraja, ledger=True, monkeypatch=monkeypatch, receipt="SGWARM")  # client, token, recipients cached
    without_send, without_result = measured(daraja, ledger=False, monkeypatch=monkeypatch)
    with_send, with_result = measured(daraja, ledger=True, monkeypatch=monkeypatch)
    # The send makes two changes (approved -> sending posts, sending -> submitted moves no money).
    assert with_send - without_send == 1
    assert with_result - without_result == 1
