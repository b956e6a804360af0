"""A payout left waiting for its approvals expires: after PAYOUT_APPROVAL_EXPIRY_MINUTES the payout sweep (or
`manage.py expire_payouts`) rejects it as "expired", a refund's amount returns to its payment, and its requester
reads it in their console inbox."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from payments.models import AuditAction, Payment, Payout, PayoutStatus
from payments.tasks import sweep_payouts
from tests.clock import travel_to
from tests.factories import make_approver, make_payment, make_requester

pytestmark = pytest.mark.django_db

THREE_DAYS = timedelta(minutes=4320)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)
    monkeypatch.setattr("payments.payouts.services.queue_sends", lambda payout_ids: None)


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def refund(user, payment: Payment, amount: str = "600") -> dict:
    response = api(user).post(f"/api/payments/{payment.pk}/refund/", {"amount": amount, "reason": "Double paid"},
                              format="json")
    assert response.status_code == 201, response.content
    return response.json()


def inbox_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/admin/inbox/").content.decode()


def test_the_sweep_rejects_a_refund_left_unapproved_and_gives_its_amount_back():
    rita = make_requester("rita")
    with travel_to("2026-12-07T08:30:00+03:00") as clock:
        payment = make_payment(amount=Decimal("1000.00"))
        payout = refund(rita, payment)
        assert Payment.objects.get(pk=payment.pk).refunded_amount == Decimal("600.00")
        clock.shift(THREE_DAYS - timedelta(minutes=1))
        assert sweep_payouts()["expired"] == 0
        assert Payout.objects.get(pk=payout["id"]).status == PayoutStatus.PENDING_APPROVAL
        clock.shift(timedelta(minutes=2))
        assert sweep_payouts()["expired"] == 1
    expired = Payout.objects.get(pk=payout["id"])
    assert (expired.status, expired.review_reason) == (PayoutStatus.REJECTED, "expired")
    event = expired.events.get(action=AuditAction.EXPIRED)
    assert (event.source, event.actor, event.details["reason"]) == ("task", None, "expired")
    assert Payment.objects.get(pk=payment.pk).refunded_amount == Decimal("0.00")
    assert "expired without its approvals" in inbox_of(rita)
    # It is refused like any rejected payout: nobody can approve it now.
    late = api(make_approver("alan")).post(f"/api/payouts/{payout['id']}/approve/")
    assert late.status_code == 409


def test_the_command_expires_payouts_now_and_leaves_approved_and_recent_ones(settings):
    settings.PAYOUT_APPROVAL_EXPIRY_MINUTES = 60
    rita, alan = make_requester("rita"), make_approver("alan")
    body = {"amount": "500", "remarks": "Trainer fee", "phone": "0712345678"}
    with travel_to("2026-12-09T12:00:00+03:00") as clock:
        old = api(rita).post("/api/payouts/", body, format="json").json()
        approved = api(rita).post("/api/payouts/", body, format="json").json()
        assert api(alan).post(f"/api/payouts/{approved['id']}/approve/").json()["status"] == "approved"
        clock.shift(timedelta(minutes=61))
        recent = api(rita).post("/api/payouts/", body, format="json").json()
        out = _call("expire_payouts")
    assert f"payout {old['id']}: expired" in out and "1 payouts expired" in out
    statuses = dict(Payout.objects.values_list("pk", "status"))
    assert statuses == {old["id"]: "rejected", approved["id"]: "approved", recent["id"]: "pending_approval"}
    assert Payout.objects.get(pk=old["id"]).events.get(action=AuditAction.EXPIRED).source == "command"


def _call(name: str) -> str:
    out = io.StringIO()
    call_command(name, stdout=out)
    return out.getvalue()
