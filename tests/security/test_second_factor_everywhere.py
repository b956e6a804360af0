"""The second factor and four eyes wherever money is touched (issue 24, findings 4-6), replayed through the
real routes: funding approved with a token alone; a password-only session enrolling its own authenticator.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from ledger import accounts
from ledger.models import FundingRequest, FundingStatus
from payments.models import AuditEvent
from tests.factories import make_approver, make_requester, make_user
from tests.security.test_second_factor import api, code_for, enrolled, required  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ledger_accounts():
    accounts._ensured.clear()


def utility_balance() -> Decimal:
    """As finance reads it: `GET /api/ledger/accounts/`."""
    reader = get_user_model().objects.filter(username="auditor").first() or make_user(
        "auditor", is_staff=True, is_superuser=True
    )
    rows = api(reader).get("/api/ledger/accounts/").json()
    return Decimal(next(row["balance"] for row in rows if row["code"] == accounts.MPESA_UTILITY))


def funding_request(amount: str = "5000000.00") -> int:
    created = api(make_requester("rita")).post(
        "/api/ledger/funding/", {"kind": "top_up", "amount": amount, "note": "Top-up from the bank"}, format="json"
    )
    assert created.status_code == 201, created.content
    return created.json()["id"]


# --- Finding 5: funding is approved with the second factor -----------------------------------------------


def test_funding_approval_through_the_api_needs_a_fresh_code():
    approver = make_approver("alan")
    device = enrolled(approver)
    request_id = funding_request()
    client = api(approver)

    missing = client.post(f"/api/ledger/funding/{request_id}/approve/")
    assert (missing.status_code, missing.json()["code"]) == (403, "otp_required")
    assert "X-OTP" in missing.json()["detail"]
    wrong = "123456" if code_for(device) != "123456" else "654321"
    assert client.post(f"/api/ledger/funding/{request_id}/approve/", HTTP_X_OTP=wrong).json()["code"] == "otp_invalid"
    assert FundingRequest.objects.get(pk=request_id).status == FundingStatus.PENDING
    assert utility_balance() == Decimal("0")

    done = client.post(f"/api/ledger/funding/{request_id}/approve/", HTTP_X_OTP=code_for(device))
    assert (done.status_code, done.json()["status"]) == (200, "approved")
    assert utility_balance() == Decimal("5000000.00")
    refused = AuditEvent.objects.filter(action="second_factor_refused", actor=approver)
    assert sorted(e.details["reason"] for e in refused) == ["otp_invalid", "otp_required"]


def test_funding_rejection_needs_a_code_too():
    approver = make_approver("alan")
    device = enrolled(approver)
    request_id = funding_request()
    assert api(approver).post(f"/api/ledger/funding/{request_id}/reject/").json()["code"] == "otp_required"
    done = api(approver).post(f"/api/ledger/funding/{request_id}/reject/", HTTP_X_OTP=code_for(device))
    assert (done.status_code, done.json()["status"]) == (200, "rejected")


def funding_approver_only(username: str):
    """A person given only the ledger's approval (not the payout approvers' group): still a money decision."""
    user = make_user(username, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="ledger",
            codename__in=["approve_fundingrequest", "view_fundingrequest", "view_account"],
        )
    )
    return user


def test_a_funding_approver_without_the_payout_role_is_asked_too():
    finance = funding_approver_only("fiona")
    device = enrolled(finance)
    request_id = funding_request()
    assert api(finance).post(f"/api/ledger/funding/{request_id}/approve/").json()["code"] == "otp_required"
    assert utility_balance() == Decimal("0")

    # The admin: a session signed in by password alone is sent back to the two-step login.
    client = Client()
    client.force_login(finance)
    page = client.get("/admin/ledger/fundingrequest/")
    assert page.status_code == 302 and page["Location"].startswith("/account/login/")
    client.force_login(finance)  # the refused page signed the session out
    approve = client.post("/admin/ledger/fundingrequest/", {"action": "approve", "_selected_action": [request_id]})
    assert approve.status_code == 302 and approve["Location"].startswith("/account/login/")
    assert FundingRequest.objects.get(pk=request_id).status == FundingStatus.PENDING

    done = api(finance).post(f"/api/ledger/funding/{request_id}/approve/", HTTP_X_OTP=code_for(device))
    assert done.status_code == 200
