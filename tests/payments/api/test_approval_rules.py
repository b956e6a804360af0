"""Approval rules through `/api/approval-rules/` and `POST /api/payouts/`: each amount tier, a rule by rail and
by source, a group whose member must be among the approvers, and every change audited with its old and new
values (superusers only, a fresh X-OTP code while the second factor is required)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from payments.models import ApprovalRule, AuditAction, AuditEvent
from tests.factories import make_approver, make_requester, make_user
from tests.security.test_second_factor import code_for, enrolled

pytestmark = pytest.mark.django_db

MANAGERS = "Finance managers"


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def boss():
    return make_user("boss", is_staff=True, is_superuser=True)


def add_rule(boss, **fields):
    response = api(boss).post("/api/approval-rules/", {"name": "rule", **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def tiers(boss):
    """The issue's tiers: up to 10,000 one approver; up to 100,000 two; above, two with a Finance manager."""
    add_rule(boss, name="small", position=1, max_amount="10000", approvals=1)
    add_rule(boss, name="medium", position=2, min_amount="10000.01", max_amount="100000", approvals=2)
    add_rule(boss, name="large", position=3, min_amount="100000.01", approvals=2, manager_group=MANAGERS)


def request(user, amount: str, **fields) -> dict:
    body = {"amount": amount, "remarks": "Supplier invoice", "phone": "0712345678", **fields}
    response = api(user).post("/api/payouts/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def approve(user, payout_id: int) -> dict:
    response = api(user).post(f"/api/payouts/{payout_id}/approve/")
    assert response.status_code == 200, response.content
    return response.json()


def manager(username: str):
    user = make_approver(username)
    user.groups.add(Group.objects.get_or_create(name=MANAGERS)[0])
    return user


def test_up_to_the_first_tier_one_approver_is_enough(tiers):
    payout = request(make_requester("rita"), "10000")
    assert approve(make_approver("alan"), payout["id"])["status"] == "approved"


def test_the_second_tier_needs_two_approvers(tiers):
    payout = request(make_requester("rita"), "50000")
    assert approve(make_approver("alan"), payout["id"])["status"] == "pending_approval"
    assert approve(make_approver("beth"), payout["id"])["status"] == "approved"


def test_above_the_second_tier_one_approver_must_be_a_finance_manager(tiers):
    payout = request(make_requester("rita"), "150000")
    approve(make_approver("alan"), payout["id"])
    # Two approvals, but neither by a Finance manager: it still waits, and the event says why.
    assert approve(make_approver("beth"), payout["id"])["status"] == "pending_approval"
    event = AuditEvent.objects.filter(payout_id=payout["id"], action=AuditAction.APPROVAL).last()
    assert "Finance managers" in event.details["missing"]
    assert approve(manager("mary"), payout["id"])["status"] == "approved"


def test_a_manager_and_another_approver_approve_the_top_tier(tiers):
    payout = request(make_requester("rita"), "150000")
    assert approve(manager("mary"), payout["id"])["status"] == "pending_approval"  # still two needed
    assert approve(make_approver("alan"), payout["id"])["status"] == "approved"


def test_a_rule_by_rail_applies_to_that_rail_only(boss):
    add_rule(boss, name="paybills: two", rail="paybill", approvals=2)
    paybill = request(make_requester("rita"), "500", phone="", rail="paybill", party_b="888880",
                      account_reference="INV-1")
    mobile = request(make_requester("ruth"), "500")
    assert (paybill["required_approvals"], mobile["required_approvals"]) == (2, 1)
    alan = make_approver("alan")
    assert approve(alan, paybill["id"])["status"] == "pending_approval"
    assert approve(alan, mobile["id"])["status"] == "approved"


def test_a_rule_by_source_applies_to_requests_from_that_source_only(boss):
    add_rule(boss, name="API requests: two", source="api", approvals=2)
    add_rule(boss, name="bulk files: three", source="bulk", approvals=3)
    payout = request(make_requester("rita"), "500")
    assert payout["required_approvals"] == 2
    assert (payout["approval_rule"]["name"], payout["approval_rule"]["source"]) == ("API requests: two", "api")


def test_without_a_fitting_rule_the_dual_approval_threshold_decides(boss, settings):
    settings.PAYOUT_DUAL_APPROVAL_THRESHOLD = 1000
    add_rule(boss, name="till only", rail="till", approvals=3)
    assert request(make_requester("rita"), "999")["required_approvals"] == 1
    assert request(make_requester("ruth"), "1000")["required_approvals"] == 2


def test_the_rule_in_force_at_the_request_decides_even_after_it_changes(boss):
    rule = add_rule(boss, name="all: two", approvals=2)
    payout = request(make_requester("rita"), "500")
    changed = api(boss).patch(f"/api/approval-rules/{rule['id']}/", {"approvals": 1}, format="json")
    assert changed.status_code == 200
    assert approve(make_approver("alan"), payout["id"])["status"] == "pending_approval"
    assert request(make_requester("ruth"), "500")["required_approvals"] == 1


def test_each_change_is_audited_with_old_and_new_values(boss):
    rule = add_rule(boss, name="all: two", approvals=2)
    api(boss).patch(f"/api/approval-rules/{rule['id']}/", {"approvals": 3}, format="json")
    assert api(boss).delete(f"/api/approval-rules/{rule['id']}/").status_code == 204
    events = list(AuditEvent.objects.filter(action__startswith="approval_rule").order_by("pk"))
    assert [e.action for e in events] == ["approval_rule_added", "approval_rule_changed", "approval_rule_deleted"]
    assert events[0].details["old"] is None and events[0].details["new"]["approvals"] == 2
    assert (events[1].details["old"]["approvals"], events[1].details["new"]["approvals"]) == (2, 3)
    assert events[2].details["old"]["approvals"] == 3 and events[2].details["new"] is None
    assert all(e.actor == boss and e.source == "api" for e in events)
    assert not ApprovalRule.objects.exists()


def test_a_non_superuser_can_neither_read_nor_change_the_rules(boss):
    rule = add_rule(boss, name="all: two", approvals=2)
    alan = make_approver("alan")
    assert api(alan).get("/api/approval-rules/").status_code == 403
    assert api(alan).patch(f"/api/approval-rules/{rule['id']}/", {"approvals": 1}, format="json").status_code == 403
    assert ApprovalRule.objects.get().approvals == 2


@pytest.mark.parametrize("body,field", [
    ({"name": "x", "approvals": 0}, "approvals"),
    ({"name": "x", "rail": "carrier-pigeon"}, "rail"),
    ({"name": "x", "source": "fax"}, "source"),
])
def test_bad_values_are_a_400_and_change_nothing(boss, body, field):
    response = api(boss).post("/api/approval-rules/", body, format="json")
    assert response.status_code == 400 and field in response.content.decode()
    assert not ApprovalRule.objects.exists() and not AuditEvent.objects.exists()


def test_a_range_that_ends_below_its_start_is_refused(boss):
    response = api(boss).post("/api/approval-rules/", {"name": "x", "min_amount": "500", "max_amount": "100"},
                              format="json")
    assert response.status_code == 400 and "range" in response.json()["detail"]
    assert not ApprovalRule.objects.exists()


def test_a_change_through_the_api_needs_a_fresh_code(boss, settings):
    settings.ADMIN_REQUIRE_2FA = True
    device = enrolled(boss)
    missing = api(boss).post("/api/approval-rules/", {"name": "all: two", "approvals": 2}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (403, "otp_required")
    assert not ApprovalRule.objects.exists()
    assert api(boss).get("/api/approval-rules/").status_code == 200  # reading needs no code
    done = api(boss).post("/api/approval-rules/", {"name": "all: two", "approvals": 2}, format="json",
                          HTTP_X_OTP=code_for(device))
    assert done.status_code == 201 and ApprovalRule.objects.get().approvals == 2
