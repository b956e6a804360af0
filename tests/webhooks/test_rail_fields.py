"""Every rail's payout reaches a webhook receiver and the events feed with its `rail`, `party_b` and
`account_reference` (issue 27): requested and approved through the REST API, completed through the
lifecycle's door as the result of the send would complete it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from payments.models import AuditAction, EventSource, PayoutStatus
from payments.payouts.lifecycle import payout_transition
from tests.factories import make_approver, make_requester
from tests.webhooks.conftest import api

pytestmark = pytest.mark.django_db


def supplier_payout_approved(**payee) -> int:
    created = api(make_requester("req")).post(
        "/api/payouts/", {"amount": "2500", "remarks": "Supplier invoice", **payee}, format="json"
    )
    assert created.status_code == 201, created.content
    payout_id = created.json()["id"]
    assert api(make_approver("appr")).post(f"/api/payouts/{payout_id}/approve/").status_code == 200
    return payout_id


def completed(payout_id: int) -> None:
    for action, to_status, source, fields in (
        (AuditAction.SENDING, PayoutStatus.SENDING, EventSource.TASK, {"send_attempts": 1}),
        (AuditAction.SUBMITTED, PayoutStatus.SUBMITTED, EventSource.TASK, {"submitted_at": timezone.now()}),
        (AuditAction.COMPLETED, PayoutStatus.COMPLETED, EventSource.CALLBACK, {"transaction_id": "SKB2B00001"}),
    ):
        assert payout_transition(payout_id=payout_id, action=action, to_status=to_status, source=source,
                                 fields=fields)


@pytest.mark.django_db(transaction=True)  # deliveries are queued when the change commits
def test_a_paybill_payouts_webhooks_name_the_paybill_and_account(endpoint, receiver, broker):
    payout_id = supplier_payout_approved(rail="paybill", party_b="888880", account_reference="INV-2041")
    completed(payout_id)
    broker.run()
    got = receiver.valid()
    assert [r.body["type"] for r in got] == ["payout.requested", "payout.approved", "payout.sent", "payout.completed"]
    for received in got:
        data = received.body["data"]
        assert (data["rail"], data["party_b"], data["account_reference"], data["phone"]) == (
            "paybill", "888880", "INV-2041", "")


@pytest.mark.parametrize(
    ("payee", "expected"),
    [
        ({"rail": "till", "party_b": "5432109"}, ("till", "5432109", "")),
        ({"rail": "pochi", "phone": "0712345678"}, ("pochi", "", "")),
        ({"rail": "float_topup"}, ("float_topup", "600000", "")),
        ({"phone": "0712345678"}, ("mobile", "", "")),
    ],
)
def test_the_events_feed_carries_each_rails_fields(integrator, settings, payee, expected):
    settings.MPESA_B2C_SHORTCODE = "600000"
    payout_id = supplier_payout_approved(**payee)
    completed(payout_id)
    feed = api(integrator).get("/api/events/")
    assert feed.status_code == 200
    events = feed.json()["results"]
    assert [e["type"] for e in events] == ["payout.requested", "payout.approved", "payout.sent", "payout.completed"]
    for event in events:
        data = event["data"]
        assert (data["rail"], data["party_b"], data["account_reference"]) == expected
    one = api(integrator).get(f"/api/events/{events[-1]['id']}/").json()
    assert (one["data"]["rail"], one["data"]["party_b"]) == expected[:2]
