"""Paying suppliers and moving the float on real processes: gunicorn, a Celery worker with beat, and the Daraja
simulator, which answers B2B requests with ids of its own and posts their Results to the payout's b2b URL.

A paybill payment, a till sent as a paybill (the simulator knows 123456 is a till: SFC_IC0003) and a float
top-up are requested through the API, approved by another person, sent by the worker and settled by the
simulator's Result. The simulator's ledger holds exactly one B2B request per payout.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from rest_framework.authtoken.models import Token

from payments.models import FloatBalance, FloatSource, Payout, PayoutStatus
from tests.e2e.support import ApiClient
from tests.factories import make_approver, make_requester
from tests.integration.conftest import wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

WAIT = 30.0
SETTLED = {PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.NEEDS_REVIEW}


def _settled(api: ApiClient, payout_id: int) -> dict:
    def reached():
        body = api.get(f"/api/payouts/{payout_id}/").json()
        return body if body["status"] in SETTLED else None

    payout = Payout.objects.get(pk=payout_id)
    try:
        return wait_until(reached, WAIT, interval=0.2, message=f"payout {payout_id} settled")
    except AssertionError:
        payout.refresh_from_db()
        events = list(payout.events.values_list("action", "details"))
        raise AssertionError(f"payout {payout_id} is {payout.status} ({payout.hold_reason!r}); {events}") from None


def test_paybill_till_as_paybill_and_top_up_on_real_processes(running_system):
    system = running_system
    as_requester = ApiClient(system.url, Token.objects.create(user=make_requester("rita")).key)
    as_approver = ApiClient(system.url, Token.objects.create(user=make_approver("alan")).key)

    requests_made = {
        "paybill": {"rail": "paybill", "party_b": "888880", "account_reference": "INV-2041", "amount": "2500"},
        "till_as_paybill": {"rail": "paybill", "party_b": "123456", "account_reference": "INV-2042", "amount": "800"},
        "topup": {"rail": "float_topup", "amount": "5000"},
    }
    ids = {}
    for name, body in requests_made.items():
        created = as_requester.post("/api/payouts/", {**body, "remarks": "Supplier invoice"})
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
        approved = as_approver.post(f"/api/payouts/{ids[name]}/approve/")
        assert approved.status_code == 200, approved.text

    paid = _settled(as_approver, ids["paybill"])
    assert paid["status"] == PayoutStatus.COMPLETED, paid
    assert paid["transaction_id"] and paid["result_code"] == "0"
    refused = _settled(as_approver, ids["till_as_paybill"])
    assert (refused["status"], refused["result_code"], refused["transaction_id"]) == (
        PayoutStatus.FAILED, "SFC_IC0003", None)
    topped_up = _settled(as_approver, ids["topup"])
    assert topped_up["status"] == PayoutStatus.COMPLETED, topped_up

    # Exactly one request on the wire per payout, and the ids Daraja gave are the payout's.
    assert system.simulator.server.wait_for_callbacks(15)
    ledger = requests.get(f"{system.simulator.url}/simulator/ledger", timeout=5).json()
    sent = ledger["b2b_payments"]
    assert len(sent) == 3
    assert set(Counter(b["originator_conversation_id"] for b in sent).values()) == {1}
    answered = set(Payout.objects.filter(pk__in=ids.values()).values_list("answered_originator_conversation_id",
                                                                          flat=True))
    assert answered == {b["originator_conversation_id"] for b in sent}
    assert all(p.send_attempts == 1 for p in Payout.objects.filter(pk__in=ids.values()))
    # The B2B results' balances are Working account readings, never Utility ones.
    working = FloatBalance.objects.filter(source=FloatSource.B2B_RESULT)
    assert working.exists() and not working.filter(utility_available__isnull=False).exists()
