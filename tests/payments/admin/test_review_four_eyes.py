"""Issue 24, finding 1: a review resolution is a money decision. Its payout's requester and editors may not make
it, and one that contradicts what M-Pesa reported needs a second person, each with the second factor.

The reproduction is the tester's: a refund of KES 500 that M-Pesa reported paid for KES 5 (requested, approved,
sent and answered through the real routes) marked failed by the person who requested it, which freed the
KES 500 for a second refund."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from payments.models import AuditEvent, PayoutEditor, PayoutReview, PayoutStatus
from payments.payouts import dispatch
from tests import fake_daraja
from tests.factories import b2c_result, make_approver, make_payment, make_payout
from tests.payments.admin.conftest import logged_in, messages_of
from tests.payments.factories import token_client as api

pytestmark = pytest.mark.django_db

PAYER = "254705912645"  # the phone the sample result names, so the amount is the only disagreement




def review_url(payout) -> str:
    return reverse("admin:payments_payout_review", args=(payout.pk,))


def change_url(payout) -> str:
    return reverse("admin:payments_payout_change", args=(payout.pk,))


def paid_for(payout, amount: int) -> dict:
    body = b2c_result(payout)
    for parameter in body["Result"]["ResultParameters"]["ResultParameter"]:
        if parameter["Key"] == "TransactionAmount":
            parameter["Value"] = amount
    return body


@pytest.fixture
def refund_paid_5_of_500(settings, both_roles, approver):
    """A KES 500 refund requested by `both_roles`, approved by `approver`, sent, and answered by M-Pesa:
    paid, but KES 5. It waits in needs_review with the payment's KES 500 still reserved."""
    fake_daraja.configure(settings)
    payment = make_payment(amount=Decimal("500"), phone=PAYER)
    created = api(both_roles).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Order cancelled"}, format="json")
    assert created.status_code == 201, created.content
    payout_id = created.json()["id"]
    assert api(approver).post(f"/api/payouts/{payout_id}/approve/", format="json").status_code == 200
    with fake_daraja.answering() as mock:
        mock.post(
            fake_daraja.B2C,
            json={
                "ConversationID": "AG_1",
                "OriginatorConversationID": "x",
                "ResponseCode": "0",
                "ResponseDescription": "Accepted",
            },
        )
        assert dispatch.payout_send(payout_id=payout_id).outcome == "submitted"
    payout = payment.refunds.get()
    answered = Client().post(
        reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token}),
        data=json.dumps(paid_for(payout, 5)),
        content_type="application/json",
    )
    assert answered.status_code == 200
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW and payment.refunded_amount == Decimal("500.00")
    return payment, payout


def test_the_requester_holding_both_roles_cannot_mark_their_refund_failed(refund_paid_5_of_500, both_roles):
    payment, payout = refund_paid_5_of_500
    response = logged_in(both_roles).post(review_url(payout), {"resolution": "failed", "note": "Portal shows nothing"})

    assert response.status_code == 200
    assert "You requested this payout: another person must review it." in response.content.decode()
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert payment.refunded_amount == Decimal("500.00")  # not freed for a second refund
    second = api(both_roles).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Refund again"}, format="json")
    assert second.status_code == 400


def test_a_superuser_who_edited_a_payout_cannot_review_it():
    boss = make_approver("boss", is_superuser=True)
    payout = make_payout(status=PayoutStatus.NEEDS_REVIEW)
    PayoutEditor.objects.create(payout=payout, user=boss, fields=["remarks"])

    response = logged_in(boss).post(review_url(payout), {"resolution": "failed", "note": "Portal shows nothing"})

    assert "You edited this payout: another person must review it." in response.content.decode()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW


def test_the_review_page_shows_what_mpesa_reported_beside_the_choice(refund_paid_5_of_500, approver):
    _, payout = refund_paid_5_of_500
    page = logged_in(approver).get(review_url(payout)).content.decode()
    assert 'id="mpesa-said"' in page
    assert "0: The service request is processed successfully." in page
    assert payout.transaction_id and payout.transaction_id in page
    assert "KES 5.00 (the payout is for KES 500.00)" in page


def verified(user) -> Client:
    """A session that passed the second factor, as the two-step login leaves it."""
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    client = logged_in(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def test_failed_after_a_reported_success_needs_a_second_approver_with_the_second_factor(
    refund_paid_5_of_500, both_roles, approver, settings
):
    settings.ADMIN_REQUIRE_2FA = True
    payment, payout = refund_paid_5_of_500
    colleague = make_approver("cora")
    recorder = verified(approver)

    recorded = recorder.post(
        review_url(payout), {"resolution": "failed", "note": "Portal shows nothing paid"}, follow=True
    )
    assert "another approver" in messages_of(recorded)[0]
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW and payment.refunded_amount == Decimal("500.00")
    page = recorder.get(change_url(payout)).content.decode()
    assert "recorded it failed" in page and "Pending confirmation" in page

    # Neither the recorder nor the requester confirms it.
    for person in (recorder, verified(both_roles)):
        refused = person.post(review_url(payout), {"confirm_review": "1"}, follow=True)
        assert "another person must" in messages_of(refused)[0]
        payout.refresh_from_db()
        assert payout.status == PayoutStatus.NEEDS_REVIEW
    # A colleague signed in with a password alone is sent to the two-step login, and nothing changes.
    password_only = logged_in(colleague)
    TOTPDevice.objects.create(user=colleague, name="default", confirmed=True)
    assert password_only.post(review_url(payout), {"confirm_review": "1"}).status_code == 302
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW

    confirmer = logged_in(colleague)
    session = confirmer.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=colleague).persistent_id
    session.save()
    confirmer.post(review_url(payout), {"confirm_review": "1"})
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payment.refunded_amount == Decimal("0.00")
    recorded_event = AuditEvent.objects.get(payout=payout, action="review_recorded")
    assert (recorded_event.actor, recorded_event.details["resolution"]) == (approver, "failed")
    confirmed_event = AuditEvent.objects.get(payout=payout, action="reviewed")
    assert confirmed_event.actor == colleague
    assert confirmed_event.details["recorded_by"] == approver.pk
    assert PayoutReview.objects.get(payout=payout).confirmed_by == colleague


def test_a_review_waiting_when_mpesa_settles_the_payout_can_no_longer_be_confirmed(refund_paid_5_of_500, approver):
    _, payout = refund_paid_5_of_500
    logged_in(approver).post(review_url(payout), {"resolution": "failed", "note": "Portal shows nothing paid"})
    # Another person records what M-Pesa reported (completed with its receipt): that alone settles it.
    logged_in(make_approver("cora")).post(review_url(payout), {"resolution": "completed", "note": "Portal: paid 5"})
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert PayoutReview.objects.get(payout=payout).dropped_at is not None
