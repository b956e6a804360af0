"""Refunding a payment from the admin: a form, a confirmation step, then payment_refund."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from payments.models import Payout, PayoutKind, PayoutStatus
from payments.payouts import services as payout_services
from tests.factories import make_payment

pytestmark = pytest.mark.django_db


def refund_url(payment) -> str:
    return reverse("admin:payments_payment_refund", args=(payment.pk,))


def test_refund_form_confirmation_then_a_pending_payout(requester_client, requester):
    payment = make_payment(amount=Decimal("1000"), phone="254712345678")
    change = requester_client.get(reverse("admin:payments_payment_change", args=(payment.pk,))).content.decode()
    assert refund_url(payment) in change

    form = requester_client.get(refund_url(payment))
    assert form.context["form"].initial["amount"] == Decimal("1000")

    data = {"amount": "400", "reason": "Order cancelled", "phone": ""}
    confirm = requester_client.post(refund_url(payment), data)
    assert confirm.status_code == 200
    assert [t.name for t in confirm.templates][0] == "admin/payments/payment/refund_confirmation.html"
    assert "KES 400" in confirm.content.decode()
    assert not Payout.objects.exists()  # nothing before the confirmation

    nonce = confirm.context["form_nonce"]
    done = requester_client.post(refund_url(payment), {**data, "confirm": "yes", "form_nonce": nonce})
    payout = Payout.objects.get()
    assert done.url == reverse("admin:payments_payout_change", args=(payout.pk,))
    assert (payout.kind, payout.status, payout.amount, payout.phone) == (
        PayoutKind.REFUND,
        PayoutStatus.PENDING_APPROVAL,
        Decimal("400.00"),
        "254712345678",
    )
    assert payout.phone_differs_from_payment is False
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("400.00")
    event = payout.events.get()
    assert (event.actor, event.source) == (requester, "admin")


def test_refund_to_another_phone_is_flagged_on_the_confirmation(requester_client):
    payment = make_payment(phone="254712345678")
    page = requester_client.post(refund_url(payment), {"amount": "100", "reason": "Paid twice", "phone": "0799000126"})
    content = page.content.decode()
    assert "payout-warning" in content and "254799000126" in content
    requester_client.post(
        refund_url(payment),
        {
            "amount": "100",
            "reason": "Paid twice",
            "phone": "0799000126",
            "confirm": "yes",
            "form_nonce": page.context["form_nonce"],
        },
    )
    assert Payout.objects.get().phone_differs_from_payment is True


def test_over_refund_is_refused_with_the_service_message(requester_client, requester):
    payment = make_payment(amount=Decimal("1000"))
    payout_services.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Part", amount=Decimal("700"))
    page = requester_client.post(refund_url(payment), {"amount": "500", "reason": "More", "phone": "", "confirm": "1"})
    assert page.status_code == 200
    assert "more than the refundable remainder" in str(page.context["form"].errors["amount"])
    assert Payout.objects.count() == 1


def test_payment_page_shows_paid_refunded_refundable_and_refunds(approver_client, requester):
    payment = make_payment(amount=Decimal("1000"))
    refund = payout_services.payment_refund(
        payment_id=payment.pk, requested_by=requester, reason="Part", amount=Decimal("250")
    )
    page = approver_client.get(reverse("admin:payments_payment_change", args=(payment.pk,))).content.decode()
    assert "KES 1,000.00" in page and "KES 250.00" in page and "KES 750.00" in page
    assert reverse("admin:payments_payout_change", args=(refund.pk,)) in page
    # Approvers do not request: no refund button for them.
    assert refund_url(payment) not in page
    assert approver_client.get(refund_url(payment)).status_code == 403


@pytest.mark.parametrize(
    "paid_from, typed, message",
    [
        ("2547******149", "", "masked or invalid; give the phone number to refund to"),
        (hashlib.sha256(b"254708374149").hexdigest(), "", "is a SHA-256 hash, not a number"),
        ("254712345678", "12345", "Safaricom needs 2547XXXXXXXX"),
    ],
)
def test_the_admin_and_the_api_refuse_a_refund_destination_with_one_message(
    requester_client, requester, paid_from, typed, message
):
    """Where a refund goes is one rule (the service's): the admin's "Continue" and the API say the same."""
    payment = make_payment(phone=paid_from)
    page = requester_client.post(refund_url(payment), {"amount": "100", "reason": "Paid twice", "phone": typed})
    assert page.status_code == 200
    assert message in str(page.context["form"].errors["phone"])
    api = APIClient()
    api.force_authenticate(requester)
    body = {"reason": "Paid twice", "amount": "100", **({"phone": typed} if typed else {})}
    response = api.post(f"/api/payments/{payment.pk}/refund/", body, format="json")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Payout.objects.exists()
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("0")
