"""The four-eyes rules and refund arithmetic, through the service layer (the admin and API call the same)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from core.errors import ApplicationError, InvalidState, PermissionDenied
from payments.models import (
    AuditEvent,
    Payment,
    PaymentStatus,
    Payout,
    PayoutApproval,
    PayoutKind,
    PayoutStatus,
)
from payments.payouts import services as svc
from tests.factories import make_approver, make_payment, make_requester, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def requester():
    return make_requester("rita")


@pytest.fixture
def approver():
    return make_approver("alan")


def disbursement(requester, amount="500", **kw):
    return svc.payout_request_disbursement(
        requested_by=requester, phone=kw.pop("phone", "0712345678"), amount=Decimal(amount),
        remarks="Trainer fee", recipient_name="Jane Trainer", **kw
    )


def test_request_normalises_phone_and_records_event(requester):
    payout = disbursement(requester, phone="+254 712-345-678")
    assert payout.phone == "254712345678"
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    event = payout.events.get()
    assert (event.action, event.actor, event.to_status) == ("requested", requester, "pending_approval")


@pytest.mark.parametrize(
    "amount,phone,message",
    [
        ("5", "0712345678", "smallest payout"),
        ("250001", "0712345678", "largest single payout"),
        ("100.50", "0712345678", "whole shillings"),
        ("100", "0812345678", "Kenyan mobile number"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(requester, amount, phone, message):
    with pytest.raises(ApplicationError, match=message):
        disbursement(requester, amount=amount, phone=phone)
    assert not Payout.objects.exists()
    assert not AuditEvent.objects.exists()


def test_user_without_permission_cannot_request():
    with pytest.raises(PermissionDenied):
        disbursement(make_user(is_staff=True))


def test_approval_by_another_person_approves_and_queues_send(requester, approver, django_capture_on_commit_callbacks,
                                                            monkeypatch):
    queued = []
    monkeypatch.setattr(svc, "queue_send", queued.append)
    payout = disbursement(requester)
    with django_capture_on_commit_callbacks(execute=True):
        svc.payout_approve(payout_id=payout.pk, approved_by=approver)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED
    assert payout.approved_at is not None
    assert queued == [payout.pk]


def test_requester_never_approves_own_payout_even_as_superuser():
    boss = make_requester("boss", is_superuser=True)
    payout = disbursement(boss)
    with pytest.raises(PermissionDenied, match="another person"):
        svc.payout_approve(payout_id=payout.pk, approved_by=boss)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL


def test_database_refuses_self_approval_row(requester):
    payout = disbursement(requester)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutApproval.objects.create(payout=payout, approver=requester, requested_by=requester,
                                      amount=payout.amount, phone=payout.phone, command_id=payout.command_id)


def test_large_payout_needs_two_distinct_approvers(requester, approver, monkeypatch):
    monkeypatch.setattr(svc, "queue_send", lambda pk: None)
    payout = disbursement(requester, amount="10000")
    assert payout.required_approvals == 2
    svc.payout_approve(payout_id=payout.pk, approved_by=approver)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    with pytest.raises(InvalidState, match="already approved"):
        svc.payout_approve(payout_id=payout.pk, approved_by=approver)
    assert payout.approvals.count() == 1
    svc.payout_approve(payout_id=payout.pk, approved_by=make_approver("second"))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED


def test_database_refuses_second_active_approval_by_same_person(requester, approver):
    payout = disbursement(requester, amount="20000")
    svc.payout_approve(payout_id=payout.pk, approved_by=approver)
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutApproval.objects.create(payout=payout, approver=approver, requested_by=requester,
                                      amount=payout.amount, phone=payout.phone, command_id=payout.command_id)


def test_editing_an_approved_payout_voids_the_approval(requester, approver, monkeypatch):
    monkeypatch.setattr(svc, "queue_send", lambda pk: None)
    payout = disbursement(requester)
    svc.payout_approve(payout_id=payout.pk, approved_by=approver)
    svc.payout_update(payout_id=payout.pk, updated_by=requester, amount=Decimal("600"))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert payout.amount == Decimal("600")
    assert not payout.approvals.filter(voided_at__isnull=True).exists()
    event = payout.events.order_by("-id").first()
    assert (event.action, event.from_status, event.to_status) == ("approval_voided", "approved", "pending_approval")
    assert event.details["amount"] == {"from": "500.00", "to": "600.00"}


def test_editing_remarks_keeps_the_approval(requester, approver, monkeypatch):
    monkeypatch.setattr(svc, "queue_send", lambda pk: None)
    payout = disbursement(requester)
    svc.payout_approve(payout_id=payout.pk, approved_by=approver)
    svc.payout_update(payout_id=payout.pk, updated_by=requester, remarks="New remark")
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED


def test_only_pending_payouts_can_be_approved(requester, approver):
    payout = disbursement(requester)
    svc.payout_reject(payout_id=payout.pk, rejected_by=approver, reason="Not owed")
    with pytest.raises(InvalidState):
        svc.payout_approve(payout_id=payout.pk, approved_by=make_approver())


# --- Refunds -----------------------------------------------------------------------------------------


def test_full_refund_by_default_to_the_payers_phone(requester):
    payment = make_payment(amount=Decimal("750"), phone="254722000111")
    payout = svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Order cancelled")
    assert (payout.kind, payout.amount, payout.phone) == (PayoutKind.REFUND, Decimal("750"), "254722000111")
    assert payout.phone_differs_from_payment is False
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("750")
    assert payment.refundable_amount == Decimal("0")


def test_partial_refunds_never_exceed_what_was_paid(requester):
    payment = make_payment(amount=Decimal("1000"))
    svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Part 1", amount=Decimal("600"))
    with pytest.raises(ApplicationError, match="more than the refundable remainder"):
        svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Part 2", amount=Decimal("500"))
    svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Part 2", amount=Decimal("400"))
    payment.refresh_from_db()
    assert payment.refunded_amount == payment.amount


def test_rejected_refund_gives_its_amount_back(requester, approver):
    payment = make_payment(amount=Decimal("1000"))
    payout = svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Dup", amount=Decimal("300"))
    svc.payout_reject(payout_id=payout.pk, rejected_by=approver, reason="Not a duplicate")
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("0")


def test_refund_of_pending_payment_is_refused(requester):
    payment = make_payment(status=PaymentStatus.PENDING, receipt=None)
    with pytest.raises(ApplicationError, match="Only a completed payment"):
        svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Nope")


def test_masked_c2b_phone_needs_a_phone_and_flags_it(requester):
    payment = make_payment(phone="2547 ***** 126")
    with pytest.raises(ApplicationError, match="masked"):
        svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Refund")
    payout = svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Refund", phone="0799000126")
    assert payout.phone == "254799000126"
    assert payout.phone_differs_from_payment is True


def test_editing_refund_amount_moves_the_reservation(requester):
    payment = make_payment(amount=Decimal("1000"))
    payout = svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Part", amount=Decimal("400"))
    svc.payout_update(payout_id=payout.pk, updated_by=requester, amount=Decimal("900"))
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("900")
    with pytest.raises(ApplicationError, match="refundable remainder"):
        svc.payout_update(payout_id=payout.pk, updated_by=requester, amount=Decimal("1100"))


def test_database_refuses_over_refund_even_without_the_service():
    payment = make_payment(amount=Decimal("100"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(refunded_amount=Decimal("100.01"))


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_partial_refunds_never_over_refund():
    """16 requesters refund KES 100 each from a KES 1,000 payment at once, 100 times over."""
    requester = make_requester("concurrent")
    for _ in range(100):
        payment = make_payment(amount=Decimal("1000"))
        barrier = threading.Barrier(16)
        outcomes: list[str] = []

        def refund(barrier=barrier, payment=payment, outcomes=outcomes):
            try:
                barrier.wait(timeout=10)
                svc.payment_refund(payment_id=payment.pk, requested_by=requester, reason="Burst",
                                   amount=Decimal("100"))
                outcomes.append("ok")
            except ApplicationError:
                outcomes.append("refused")
            finally:
                connection.close()

        threads = [threading.Thread(target=refund) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        payment.refresh_from_db()
        assert outcomes.count("ok") == 10 and outcomes.count("refused") == 6
        assert payment.refunded_amount == Decimal("1000")
        assert sum(p.amount for p in payment.refunds.all()) == Decimal("1000")
