"""Shared by the ledger tests: Daraja answering sends, API clients, callbacks through their real routes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import responses
from django.urls import reverse

from ledger import accounts, selectors
from ledger.models import JournalTransaction
from tests import fake_daraja
from tests.fake_daraja import B2C


@pytest.fixture(autouse=True)
def daraja_settings(settings):
    fake_daraja.configure(settings)
    accounts._ensured.clear()


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    queued = []
    monkeypatch.setattr("payments.payouts.services.queue_send", queued.append)
    return queued


@pytest.fixture
def daraja():
    """Daraja accepting every B2C request."""
    with fake_daraja.answering() as mock:

        def accept(request):
            body = json.loads(request.body)
            return 200, {}, json.dumps({
                "ConversationID": f"AG_{body['OriginatorConversationID'][-12:]}",
                "OriginatorConversationID": body["OriginatorConversationID"],
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully.",
            })

        mock.add_callback(responses.POST, B2C, callback=accept)
        yield mock




def post_callback(client, name: str, token: str, body):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(reverse(f"callbacks:{name}", kwargs={"token": token}), data=raw,
                       content_type="application/json")


def status_body(payout, *, status="Completed", receipt="SG632NMUAB", amount=None, charges=""):
    params = [
        {"Key": "ReceiptNo", "Value": receipt},
        {"Key": "TransactionStatus", "Value": status},
        {"Key": "Amount", "Value": str(amount if amount is not None else payout.amount)},
        {"Key": "FinalisedTime", "Value": 20240706224852},
        {"Key": "OriginatorConversationID", "Value": payout.originator_conversation_id},
        {"Key": "ReceiverPartyPublicName", "Value": f"{payout.phone} - NICHOLAS JOHN SONGOK"},
        {"Key": "DebitPartyCharges", "Value": charges},
    ]
    return {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed",
                       "OriginatorConversationID": "status-query-ocid", "ConversationID": "AG_status",
                       "TransactionID": "OEI2AK4Q16", "ResultParameters": {"ResultParameter": params}}}


def balances() -> dict[str, Decimal]:
    return {line.code: line.balance for line in selectors.trial_balance().lines}


def assert_balanced() -> None:
    tb = selectors.trial_balance()
    assert tb.balanced, (tb.debits, tb.credits)


def postings(payout_id: int, kind: str | None = None) -> list[JournalTransaction]:
    found = JournalTransaction.objects.filter(payout_id=payout_id).order_by("id")
    return list(found.filter(kind=kind) if kind else found)


IN_FLIGHT = accounts.PAYOUTS_IN_FLIGHT
FLOAT = accounts.MPESA_UTILITY
