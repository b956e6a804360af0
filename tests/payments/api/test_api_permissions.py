"""The API grants exactly what the admin grants, from the same permissions (payments/roles.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from payments.models import Payment, Payout
from tests.factories import make_approver, make_payment, make_payout, make_requester, make_user
from tests.payments.factories import token_client as api

pytestmark = pytest.mark.django_db

READS = ["/api/payouts/", "/api/payouts/{payout}/", "/api/payments/", "/api/payments/{payment}/", "/api/stats/",
         "/api/reconciliation/discrepancies/", "/api/schema/"]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)




def _urls():
    payment, payout = make_payment(), make_payout()
    return [url.format(payment=payment.pk, payout=payout.pk) for url in READS]


def test_staff_in_no_group_reads_nothing_through_the_api_as_in_the_admin():
    clerk = make_user("clerk", is_staff=True)
    admin = Client()
    admin.force_login(clerk)
    assert admin.get("/admin/payments/payout/").status_code == 403
    for url in _urls():
        response = api(clerk).get(url, HTTP_ACCEPT="application/json")
        assert response.status_code == 403, url
        assert b"You need" in response.content


@pytest.mark.parametrize("make", [make_requester, make_approver])
def test_either_role_reads_everything(make):
    user = make()
    for url in _urls():
        assert api(user).get(url).status_code == 200, url


def test_staff_in_no_group_cannot_ask_for_an_stk_push():
    response = api(make_user("cashier", is_staff=True)).post(
        "/api/payments/stk-push/", {"phone": "0708374149", "amount": "150", "account_reference": "ORDER-9"},
        format="json")
    assert response.status_code == 403
    assert not Payment.objects.filter(source="stk_push").exists()


def test_a_role_without_the_staff_flag_grants_nothing_as_in_the_admin():
    # The admin refuses a non-staff user whatever their groups; so does the API.
    outsider = make_user("partner", groups=("Payout requesters", "Payout approvers"))
    admin = Client()
    admin.force_login(outsider)
    assert admin.get("/admin/payments/payout/").status_code == 302  # to the login page
    response = api(outsider).post("/api/payouts/", {"phone": "0712345678", "amount": "100", "remarks": "Fee"},
                                  format="json")
    assert response.status_code == 403
    assert not Payout.objects.exists()
    payout = make_payout(status="pending_approval")
    assert api(outsider).post(f"/api/payouts/{payout.pk}/approve/").status_code == 403
    assert api(outsider).get("/api/payouts/").status_code == 403


def test_each_action_needs_its_own_permission():
    requester, approver = make_requester(), make_approver()
    created = api(approver).post("/api/payouts/", {"phone": "0712345678", "amount": "100", "remarks": "Fee"},
                                 format="json")
    assert created.status_code == 403
    payout_id = api(requester).post("/api/payouts/", {"phone": "0712345678", "amount": "100", "remarks": "Fee"},
                                    format="json").json()["id"]
    assert api(make_requester()).post(f"/api/payouts/{payout_id}/approve/").status_code == 403
    assert api(approver).patch(f"/api/payouts/{payout_id}/", {"remarks": "Other"}, format="json").status_code == 403
    assert api(approver).post(f"/api/payouts/{payout_id}/approve/").status_code == 200
