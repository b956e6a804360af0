"""Paying a saved recipient with `POST /api/payouts/` and `recipient`: its rail and payee are copied onto the
payout, which keeps them when the recipient changes later; a recipient not (or no longer) active is refused
and nothing is created."""

from __future__ import annotations

import pytest

from payments.models import AuditEvent, Payout
from tests.payments.factories import make_requester
from tests.payments.recipients.helpers import active_recipient, api, save_recipient

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)


def pay(user, recipient_id, **fields):
    body = {"recipient": recipient_id, "amount": "2500", "remarks": "March invoice", **fields}
    return api(user).post("/api/payouts/", body, format="json")


def test_a_payout_to_a_paybill_recipient_copies_its_details(rita, alan):
    recipient = active_recipient(rita, alan, name="Acme Supplies", rail="paybill", phone="", party_b="888880",
                                 account_reference="ACC-7", external_reference="SUP-2", category="supplier")
    response = pay(rita, recipient["id"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rail"], body["party_b"], body["account_reference"], body["command_id"], body["status"]) == (
        "paybill", "888880", "ACC-7", "BusinessPayBill", "pending_approval")
    payout = Payout.objects.get(pk=body["id"])
    assert (payout.recipient_name, payout.recipient_reference, payout.recipient_type) == (
        "Acme Supplies", "SUP-2", "supplier")
    assert AuditEvent.objects.get(payout=payout, action="recipient_payout_requested").recipient_id == recipient["id"]


def test_the_payout_keeps_the_number_it_was_requested_with(rita, alan):
    recipient = active_recipient(rita, alan)
    payout_id = pay(rita, recipient["id"]).json()["id"]
    api(make_requester("rob")).patch(f"/api/recipients/{recipient['id']}/", {"phone": "0722000111"}, format="json")
    assert api(rita).get(f"/api/payouts/{payout_id}/").json()["phone"] == "254712345678"


def test_a_pending_recipient_cannot_be_paid(rita):
    saved = save_recipient(rita)
    response = pay(rita, saved["id"])
    assert (response.status_code, response.json()["code"]) == (409, "recipient_not_active")
    assert "waits for approval" in response.json()["detail"]
    assert not Payout.objects.exists()


def test_a_recipient_whose_number_changed_cannot_be_paid_until_approved_again(rita, alan):
    recipient = active_recipient(rita, alan)
    api(make_requester("rob")).patch(f"/api/recipients/{recipient['id']}/", {"phone": "0722000111"}, format="json")
    assert pay(rita, recipient["id"]).status_code == 409
    assert not Payout.objects.exists()


def test_an_archived_recipient_cannot_be_paid(rita, alan):
    recipient = active_recipient(rita, alan)
    api(rita).post(f"/api/recipients/{recipient['id']}/archive/", {}, format="json")
    response = pay(rita, recipient["id"])
    assert (response.status_code, response.json()["code"]) == (409, "recipient_not_active")
    assert "archived" in response.json()["detail"]


def test_an_unknown_recipient_is_a_bad_request(rita):
    response = pay(rita, 999)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_recipient")


def test_payee_fields_beside_a_recipient_are_refused(rita, alan):
    recipient = active_recipient(rita, alan)
    response = pay(rita, recipient["id"], phone="0799999999")
    assert response.status_code == 400
    assert "phone" in str(response.json())
    assert not Payout.objects.exists()
