"""Requesting a payout on each rail through `POST /api/payouts/`: what each rail takes, requires and refuses,
what the detail and list show, and what an approval is bound to."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.models import Payout, PayoutStatus
from tests.factories import make_approver, make_requester
from tests.payments.factories import token_client as api

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr("payments.payouts.services.queue_send", sent.append)
    return sent




@pytest.fixture
def requester():
    return make_requester("req")


@pytest.fixture
def approver():
    return make_approver("appr")


def _post(user, **fields):
    return api(user).post("/api/payouts/", {"amount": "2500", "remarks": "Supplier invoice", **fields}, format="json")


def test_a_paybill_payout_names_the_paybill_and_account(requester):
    response = _post(requester, rail="paybill", party_b="888880", account_reference="INV-2041")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rail"], body["party_b"], body["account_reference"], body["phone"]) == (
        "paybill", "888880", "INV-2041", "")
    assert body["command_id"] == "BusinessPayBill"
    assert body["status"] == "pending_approval"


def test_a_till_payout_needs_no_account(requester):
    response = _post(requester, rail="till", party_b="5432109")
    assert response.status_code == 201, response.content
    assert (response.json()["command_id"], response.json()["account_reference"]) == ("BusinessBuyGoods", "")


def test_a_pochi_payout_pays_a_phone(requester):
    response = _post(requester, rail="pochi", phone="0712345678")
    assert response.status_code == 201, response.content
    assert (response.json()["phone"], response.json()["command_id"]) == ("254712345678", "BusinessPayToPochi")


def test_a_float_topup_names_our_own_b2c_shortcode(requester, settings):
    settings.MPESA_B2C_SHORTCODE = "600999"
    response = _post(requester, rail="float_topup", amount="200000")
    assert response.status_code == 201, response.content
    assert (response.json()["party_b"], response.json()["command_id"]) == ("600999", "BusinessPayToBulk")


def test_a_payout_without_a_rail_is_still_a_mobile_payout(requester):
    response = _post(requester, phone="0712345678")
    assert response.status_code == 201, response.content
    assert (response.json()["rail"], response.json()["command_id"]) == ("mobile", "BusinessPayment")


@pytest.mark.parametrize(
    "fields,bad",
    [
        ({"rail": "paybill", "party_b": "888880"}, {"account_reference"}),
        ({"rail": "paybill", "account_reference": "INV-1"}, {"party_b"}),
        ({"rail": "paybill", "party_b": "12", "account_reference": "INV-1"}, {"party_b"}),
        ({"rail": "paybill", "party_b": "888880", "account_reference": "A" * 14}, {"account_reference"}),
        ({"rail": "till", "party_b": "5432109", "phone": "0712345678"}, {"phone"}),
        ({"rail": "paybill", "party_b": "888880", "account_reference": "X", "command_id": "SalaryPayment"},
         {"command_id"}),
        ({"rail": "mobile", "party_b": "888880"}, {"phone", "party_b"}),
        ({"rail": "pochi"}, {"phone"}),
        ({"rail": "float_topup", "phone": "0712345678"}, {"phone"}),
        ({"rail": "reversal"}, {"rail"}),
        ({"rail": "bank"}, {"rail"}),
    ],
)
def test_each_rail_refuses_what_it_does_not_take_naming_every_field(requester, fields, bad):
    response = _post(requester, **fields)
    assert response.status_code == 400, response.content
    assert set(response.json()) == bad
    assert not Payout.objects.exists()


def test_working_account_limits_are_apart_from_utility(requester, settings):
    settings.B2B_PAYOUT_MAX_AMOUNT = Decimal("3000")
    refused = _post(requester, rail="paybill", party_b="888880", account_reference="INV-1", amount="5000")
    assert refused.status_code == 400
    assert "paybill" in refused.json()["amount"][0]
    # The same amount to a phone is within the B2C limits.
    assert _post(requester, phone="0712345678", amount="5000").status_code == 201


def test_the_daily_limit_counts_each_account_apart(requester, settings):
    settings.PAYOUT_DAILY_LIMIT = Decimal("6000")
    settings.B2B_DAILY_LIMIT = Decimal("6000")
    assert _post(requester, phone="0712345678", amount="5000").status_code == 201
    # Today's B2C total does not count against what leaves the Working account...
    assert _post(requester, rail="till", party_b="5432109", amount="5000").status_code == 201
    # ...but a second till payout does.
    refused = _post(requester, rail="till", party_b="5432110", amount="2000")
    assert refused.status_code == 400
    assert "Working account" in refused.json()["detail"]
    assert Payout.objects.count() == 2


def test_the_list_filters_by_rail(requester):
    _post(requester, phone="0712345678")
    _post(requester, rail="till", party_b="5432109")
    body = api(requester).get("/api/payouts/?rail=till").json()
    assert [p["rail"] for p in body["results"]] == ["till"]


def test_changing_the_account_voids_the_approval_and_bars_the_editor(requester, approver):
    created = _post(requester, rail="paybill", party_b="888880", account_reference="INV-1", amount="20000")
    payout_id = created.json()["id"]
    first = api(approver).post(f"/api/payouts/{payout_id}/approve/")
    assert [a["approver"] for a in first.json()["approvals"]] == ["appr"]
    assert Payout.objects.get(pk=payout_id).approvals.get().account_reference == "INV-1"
    edited = api(requester).patch(f"/api/payouts/{payout_id}/", {"account_reference": "INV-2"}, format="json")
    assert edited.status_code == 200, edited.content
    assert (edited.json()["account_reference"], edited.json()["approvals"]) == ("INV-2", [])
    assert edited.json()["events"][-1]["action"] == "approval_voided"


def test_an_edit_is_checked_by_the_rail(requester):
    payout_id = _post(requester, rail="paybill", party_b="888880", account_reference="INV-1").json()["id"]
    blanked = api(requester).patch(f"/api/payouts/{payout_id}/", {"account_reference": ""}, format="json")
    assert blanked.status_code == 400
    phoned = api(requester).patch(f"/api/payouts/{payout_id}/", {"phone": "0712345678"}, format="json")
    assert phoned.status_code == 400
    payout = Payout.objects.get(pk=payout_id)
    assert (payout.account_reference, payout.phone, payout.status) == ("INV-1", "", PayoutStatus.PENDING_APPROVAL)
