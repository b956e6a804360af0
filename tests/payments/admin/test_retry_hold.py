"""Issue 24, finding 2: a request again is not sent once its original is reported paid.

The tester's case: payout #141 failed (code 1), was requested again as #142 and approved; then the real
success for #141 arrived (it went to review, "PAID TWICE?") and #142 was sent and paid anyway. Every step here
goes through its real route: results posted to the callback URL, request again and approval in the console,
the send task."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from payments.models import AuditEvent, PayoutStatus
from payments.tasks import send_payout
from tests import fake_daraja
from tests.factories import b2c_result, make_approver, make_payout
from tests.payments.admin.conftest import logged_in

pytestmark = pytest.mark.django_db

APPROVE = reverse("admin:payments_payout_approve")


def post_result(payout, body) -> None:
    response = Client().post(
        reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token}),
        data=json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == 200


@pytest.fixture
def daraja(settings):
    fake_daraja.configure(settings)
    with fake_daraja.answering() as mock:
        mock.post(
            fake_daraja.B2C,
            json={
                "ConversationID": "AG_2",
                "OriginatorConversationID": "x",
                "ResponseCode": "0",
                "ResponseDescription": "Accepted",
            },
        )
        yield mock


def b2c_requests(mock) -> int:
    return len([call for call in mock.calls if call.request.url == fake_daraja.B2C])


@pytest.fixture
def approved_retry_of_failed(requester, requester_client, approver_client):
    """#141 failed with code 1; requested again as #142 in the console and approved there."""
    original = make_payout(status=PayoutStatus.SUBMITTED, requested_by=requester)
    post_result(original, b2c_result(original, "b2c_result_failure", ResultCode=1))
    original.refresh_from_db()
    assert original.status == PayoutStatus.FAILED
    requester_client.post(reverse("admin:payments_payout_request_again", args=(original.pk,)))
    retry = original.retries.get()
    approver_client.post(APPROVE, {"ids": str(retry.pk), "confirm": "yes"})
    retry.refresh_from_db()
    assert retry.status == PayoutStatus.APPROVED
    return original, retry


def test_a_success_for_the_failed_original_holds_its_approved_retry_and_the_send_refuses_it(
    approved_retry_of_failed, daraja
):
    original, retry = approved_retry_of_failed
    post_result(original, b2c_result(original))  # the real success for #141
    original.refresh_from_db()
    retry.refresh_from_db()
    assert original.status == PayoutStatus.NEEDS_REVIEW and "PAID TWICE?" in original.review_reason
    assert retry.status == PayoutStatus.APPROVED
    assert f"PAID TWICE? Payout #{original.pk}" in retry.hold_reason
    assert AuditEvent.objects.filter(payout=retry, action="held").exists()

    assert send_payout.apply(args=(retry.pk,)).get() == "held"
    retry.refresh_from_db()
    assert retry.status == PayoutStatus.APPROVED and retry.send_attempts == 0
    assert b2c_requests(daraja) == 0  # nothing went to M-Pesa
    cora = logged_in(make_approver("cora"))
    page = cora.get(reverse("admin:payments_payout_change", args=(retry.pk,)))
    assert "held before sending: PAID TWICE?" in page.content.decode()

    # A reviewer finds the original paid (M-Pesa's receipt): the retry is still refused at send time.
    cora.post(reverse("admin:payments_payout_review", args=(original.pk,)), {"resolution": "completed", "note": "Paid"})
    original.refresh_from_db()
    assert original.status == PayoutStatus.COMPLETED
    assert send_payout.apply(args=(retry.pk,)).get() == "held"
    retry.refresh_from_db()
    assert retry.status == PayoutStatus.APPROVED and "(completed)" in retry.hold_reason
    assert b2c_requests(daraja) == 0


def test_a_retry_waiting_for_approval_is_held_too(requester, requester_client):
    original = make_payout(status=PayoutStatus.SUBMITTED, requested_by=requester)
    post_result(original, b2c_result(original, "b2c_result_failure", ResultCode=1))
    requester_client.post(reverse("admin:payments_payout_request_again", args=(original.pk,)))
    retry = original.retries.get()

    post_result(original, b2c_result(original))
    retry.refresh_from_db()
    assert retry.status == PayoutStatus.PENDING_APPROVAL
    assert f"PAID TWICE? Payout #{original.pk}" in retry.hold_reason
    page = logged_in(make_approver("cora")).get(reverse("admin:payments_payout_change", args=(retry.pk,)))
    assert "Held meanwhile: PAID TWICE?" in page.content.decode()


def test_the_retry_goes_once_two_approvers_settle_the_original_as_not_paid(approved_retry_of_failed, daraja):
    original, retry = approved_retry_of_failed
    post_result(original, b2c_result(original))
    assert send_payout.apply(args=(retry.pk,)).get() == "held"
    review = reverse("admin:payments_payout_review", args=(original.pk,))
    logged_in(make_approver("cora")).post(review, {"resolution": "failed", "note": "Portal: reversed"})
    logged_in(make_approver("dan")).post(review, {"confirm_review": "1"})
    original.refresh_from_db()
    assert original.status == PayoutStatus.FAILED

    assert send_payout.apply(args=(retry.pk,)).get() == "submitted"
    retry.refresh_from_db()
    assert retry.status == PayoutStatus.SUBMITTED and retry.hold_reason == ""
    assert b2c_requests(daraja) == 1
