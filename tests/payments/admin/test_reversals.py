"""Reversing a payment from the admin: the *Reverse* action on the payment's page, one page with the reason,
then payment_reverse; the reversal shows on the payment's page and waits for another person's approval."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from payments.models import PaymentStatus, Payout, PayoutStatus
from tests.factories import make_payment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]


def reverse_url(payment) -> str:
    return reverse("admin:payments_payment_reverse", args=(payment.pk,))


def change_url(payment) -> str:
    return reverse("admin:payments_payment_change", args=(payment.pk,))


def test_the_reverse_action_requests_a_reversal_of_the_whole_payment(requester_client, requester):
    payment = make_payment(amount=Decimal("1500"), receipt="SKC82PACB8")
    assert reverse_url(payment) in requester_client.get(change_url(payment)).content.decode()

    page = requester_client.get(reverse_url(payment))
    assert "KES 1,500.00" in page.content.decode()
    assert not Payout.objects.exists()  # nothing before the confirmation

    nonce = page.context["form_nonce"]
    done = requester_client.post(reverse_url(payment),
                                 {"reason": "Paid the wrong business", "confirm": "yes", "form_nonce": nonce})
    payout = Payout.objects.get()
    assert done.url == reverse("admin:payments_payout_change", args=(payout.pk,))
    assert (payout.rail, payout.status, payout.amount) == ("reversal", PayoutStatus.PENDING_APPROVAL, Decimal("1500"))
    assert (payout.events.get().actor, payout.events.get().source) == (requester, "admin")
    # A second click of the same form makes nothing more.
    again = requester_client.post(reverse_url(payment),
                                  {"reason": "Paid the wrong business", "confirm": "yes", "form_nonce": nonce})
    assert again.url == done.url
    assert Payout.objects.count() == 1

    payout_page = requester_client.get(done.url)
    assert payout_page.status_code == 200
    assert "Reversal of SKC82PACB8" in payout_page.content.decode()
    shown = requester_client.get(change_url(payment)).content.decode()
    assert "The payer, by reversal" in shown
    assert reverse_url(payment) not in shown  # one reversal at a time


def test_a_payment_that_cannot_be_reversed_offers_no_action_and_says_why(requester_client):
    payment = make_payment(status=PaymentStatus.REVERSED)
    assert reverse_url(payment) not in requester_client.get(change_url(payment)).content.decode()
    response = requester_client.get(reverse_url(payment), follow=True)
    assert "already reversed" in response.content.decode()
    assert not Payout.objects.exists()


def test_a_refused_reversal_keeps_the_page_with_the_reason(requester_client):
    payment = make_payment(amount=Decimal("1500"))
    page = requester_client.get(reverse_url(payment))
    response = requester_client.post(reverse_url(payment),
                                     {"reason": "x", "confirm": "yes", "form_nonce": page.context["form_nonce"]})
    assert response.status_code == 200
    assert "Reason must have 3 to 500 characters" in response.content.decode()
    assert not Payout.objects.exists()
