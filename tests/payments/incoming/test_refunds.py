"""The refund reservation has one home: reserve_refund() never takes more than Payment.refundable_amount and
release_refund() never goes below zero; a refund's request, edit and failure go through them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from payments.incoming.refunds import RefundNotReservable, payment_lock, release_refund, reserve_refund
from payments.models import Payment, PaymentStatus, Payout
from tests.factories import make_approver, make_payment, make_requester

pytestmark = pytest.mark.django_db


def reserved(payment: Payment) -> Decimal:
    return Payment.objects.values_list("refunded_amount", flat=True).get(pk=payment.pk)


def test_a_reservation_within_the_remainder_is_taken():
    payment = make_payment(amount=Decimal("500.00"), refunded_amount=Decimal("200.00"))
    with transaction.atomic():
        locked = payment_lock(payment_id=payment.pk)
        reserve_refund(locked, Decimal("300.00"))
        assert locked.refundable_amount == Decimal("0.00")
    assert reserved(payment) == Decimal("500.00")


@pytest.mark.parametrize("status, amount", [
    (PaymentStatus.COMPLETED, Decimal("300.01")),  # one cent more than the remainder
    (PaymentStatus.PENDING, Decimal("1.00")),  # nothing is refundable from a payment not completed
    (PaymentStatus.FAILED, Decimal("1.00")),
])  # fmt: skip
def test_an_over_reservation_is_refused_and_writes_nothing(status, amount):
    payment = make_payment(status=status, amount=Decimal("500.00"), refunded_amount=Decimal("200.00"))
    with transaction.atomic(), pytest.raises(RefundNotReservable):
        reserve_refund(payment_lock(payment_id=payment.pk), amount)
    assert reserved(payment) == Decimal("200.00")


def test_a_stale_copy_cannot_over_reserve():
    """The caller's copy says there is room; the row (another refund took it meanwhile) says not."""
    payment = make_payment(amount=Decimal("500.00"))
    Payment.objects.filter(pk=payment.pk).update(refunded_amount=Decimal("450.00"))
    with transaction.atomic(), pytest.raises(RefundNotReservable):
        reserve_refund(payment, Decimal("100.00"))
    assert reserved(payment) == Decimal("450.00")


def test_a_release_gives_back_and_never_goes_below_zero():
    payment = make_payment(amount=Decimal("500.00"), refunded_amount=Decimal("200.00"))
    with transaction.atomic():
        release_refund(payment.pk, Decimal("150.00"))
    assert reserved(payment) == Decimal("50.00")
    with transaction.atomic(), pytest.raises(RuntimeError, match="does not hold"):
        release_refund(payment.pk, Decimal("50.01"))
    assert reserved(payment) == Decimal("50.00")


@pytest.mark.django_db(transaction=True)  # the other tests run inside the test's transaction
def test_outside_a_transaction_nothing_is_reserved():
    payment = make_payment(amount=Decimal("500.00"))
    with pytest.raises(RuntimeError, match="atomic"):
        reserve_refund(payment, Decimal("1.00"))
    assert reserved(payment) == Decimal("0.00")


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_refund_through_the_api_reserves_and_its_rejection_releases():
    payment = make_payment(amount=Decimal("1000.00"))
    created = api(make_requester()).post(f"/api/payments/{payment.pk}/refund/",
                                         {"amount": "400", "reason": "Double charge"}, format="json")
    assert created.status_code == 201, created.content
    assert reserved(payment) == Decimal("400.00")
    over = api(make_requester()).post(f"/api/payments/{payment.pk}/refund/",
                                      {"amount": "601", "reason": "Too much"}, format="json")
    assert over.status_code == 400, over.content
    assert reserved(payment) == Decimal("400.00")
    assert Payout.objects.count() == 1
    payout_id = created.json()["id"]
    rejected = api(make_approver()).post(f"/api/payouts/{payout_id}/reject/", {"reason": "Not ours"}, format="json")
    assert rejected.status_code == 200, rejected.content
    assert reserved(payment) == Decimal("0.00")
