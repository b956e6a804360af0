"""One error family (core/errors.py): whatever app raises it, an `ApplicationError` reaches the API's user as
its status and a code from `ErrorCode`, with nothing written."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.api_errors import exception_handler
from core.errors import (
    ApplicationError,
    ErrorCode,
    InvalidState,
    LedgerError,
    NotFound,
    PayoutError,
    PermissionDenied,
)
from payments.models import Payout
from tests.payments.factories import make_approver, make_user


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (PayoutError("No."), 400, "invalid"),
        (LedgerError("No."), 400, "invalid"),
        (PermissionDenied("No."), 403, "permission_denied"),
        (InvalidState("No."), 409, "invalid_state"),
        (NotFound(), 404, "not_found"),
        (PermissionDenied("No.", code=ErrorCode.OWN_PAYOUT), 403, "own_payout"),
    ],
)
def test_every_member_of_the_family_answers_its_status_and_code(error, status, code):
    assert isinstance(error, ApplicationError)
    response = exception_handler(error, {})
    assert (response.status_code, response.data) == (status, {"detail": error.message, "code": code})


def _api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.mark.django_db
def test_a_refused_approval_reaches_the_user_as_its_code(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda *args, **kwargs: None)
    requester = make_user(groups=("Payout requesters", "Payout approvers"), is_staff=True)
    created = _api(requester).post("/api/payouts/", {"phone": "0712345678", "amount": "500", "remarks": "Fee"},
                                   format="json")
    payout_id = created.json()["id"]
    own = _api(requester).post(f"/api/payouts/{payout_id}/approve/")
    assert (own.status_code, own.json()["code"]) == (403, ErrorCode.OWN_PAYOUT)
    approver = make_approver()
    assert _api(approver).post(f"/api/payouts/{payout_id}/approve/").status_code == 200
    again = _api(approver).post(f"/api/payouts/{payout_id}/approve/")
    assert again.status_code == 409 and again.json()["code"] in (ErrorCode.ALREADY_APPROVED, ErrorCode.INVALID_STATE)
    assert Payout.objects.get(pk=payout_id).approvals.filter(voided_at__isnull=True).count() == 1
