"""`POST /api/batches/{id}/approve/`: a bulk batch approved in one step with one X-OTP code; each payout still
approved on its own (four eyes, the approval rules), and the answer lists what was approved, what still waits
for another approver and what was refused, with why."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from payments.models import PayoutStatus
from payments.payouts.bulk import payout_batch_create_from_csv
from payments.roles import APPROVERS, REQUESTERS
from tests.factories import make_approver, make_requester, make_user
from tests.security.test_second_factor import code_for, enrolled

pytestmark = pytest.mark.django_db

CSV = (
    "phone,amount,recipient name,reference,remarks\n"
    "0712345678,1500,Jane Wanjiru,INV-1,March trainer fee\n"
    "0733000222,2300,Otieno Juma,INV-2,March trainer fee\n"
    "0722000111,20000,Amina Hassan,INV-3,March trainer fee\n"  # at the dual threshold: two approvers
)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    queued: list = []
    monkeypatch.setattr("payments.payouts.services.queue_sends", queued.extend)
    return queued


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def upload(user):
    batch, errors = payout_batch_create_from_csv(
        uploaded_by=user, file=SimpleUploadedFile("march.csv", CSV.encode(), content_type="text/csv"),
        source="admin")
    assert not errors
    return batch, list(batch.payouts.order_by("pk").values_list("pk", flat=True))


def test_one_code_approves_the_batch_each_payout_on_its_own(settings, no_broker,
                                                             django_capture_on_commit_callbacks):
    settings.ADMIN_REQUIRE_2FA = True
    settings.PAYOUT_DUAL_APPROVAL_THRESHOLD = 10000
    batch, (small, other, large) = upload(make_requester("rita"))
    alan = make_approver("alan")
    device = enrolled(alan)

    missing = api(alan).post(f"/api/batches/{batch.pk}/approve/")
    assert (missing.status_code, missing.json()["code"]) == (403, "otp_required")
    assert set(batch.payouts.values_list("status", flat=True)) == {PayoutStatus.PENDING_APPROVAL}

    with django_capture_on_commit_callbacks(execute=True):
        answer = api(alan).post(f"/api/batches/{batch.pk}/approve/", HTTP_X_OTP=code_for(device))
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["approved"] == [small, other]
    assert body["waiting"] == [{"id": large, "reason": "1 of 2 approvals"}]
    assert body["refused"] == []
    assert sorted(no_broker) == [small, other]  # queued to send, once, after the commit
    assert dict(batch.payouts.values_list("pk", "status")) == {
        small: "approved", other: "approved", large: "pending_approval"}

    # A second approver finishes the batch; the first one, asking again, is refused with why.
    again = api(alan).post(f"/api/batches/{batch.pk}/approve/", HTTP_X_OTP=code_for(device, steps_ahead=1)).json()
    assert again["approved"] == [] and [r["id"] for r in again["refused"]] == [large]
    assert "already approved" in again["refused"][0]["reason"]


def test_the_requester_own_payouts_are_refused_and_listed(settings):
    both = make_user("bo", groups=(REQUESTERS, APPROVERS), is_staff=True)
    batch, ids = upload(both)
    body = api(both).post(f"/api/batches/{batch.pk}/approve/").json()
    assert body["approved"] == [] and [r["id"] for r in body["refused"]] == ids
    assert {r["code"] for r in body["refused"]} == {"own_payout"}
    assert "another person must approve" in body["refused"][0]["reason"]


def test_a_requester_cannot_approve_a_batch_and_an_unknown_batch_is_a_404():
    batch, _ = upload(make_requester("rita"))
    assert api(make_requester("ruth")).post(f"/api/batches/{batch.pk}/approve/").status_code == 403
    assert api(make_approver("alan")).post("/api/batches/999999/approve/").status_code == 404
