"""The request-and-approve workflow through the REST API (token and session auth)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.models import Payment, PaymentStatus, Payout, PayoutStatus
from tests.factories import make_approver, make_payment, make_requester, make_user
from tests.payments.factories import token_client as api

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr("payments.payouts.services.queue_send", sent.append)
    return sent




@pytest.fixture
def requester():
    return make_requester("req")


@pytest.fixture
def approver():
    return make_approver("appr")


def test_refund_creates_pending_payout(requester):
    payment = make_payment(amount=Decimal("1500"))
    response = api(requester).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Cancelled order"},
                                   format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["kind"], body["amount"], body["payment"]) == (
        "pending_approval", "refund", "1500.00", payment.pk)
    assert body["requested_by"] == "req"
    assert body["events"][0]["action"] == "requested"


@pytest.mark.parametrize(
    "payload,message",
    [
        ({"reason": "Too much", "amount": "2000"}, "more than the refundable remainder"),
        ({"reason": "Bad phone", "phone": "12345"}, "Kenyan mobile number"),
    ],
)
def test_refund_errors_are_clear_400s_and_change_nothing(requester, payload, message):
    payment = make_payment(amount=Decimal("1500"))
    response = api(requester).post(f"/api/payments/{payment.pk}/refund/", payload, format="json")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Payout.objects.exists()
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("0")


def test_a_refund_400_lists_every_bad_field(requester):
    payment = make_payment(amount=Decimal("1500"))
    response = api(requester).post(
        f"/api/payments/{payment.pk}/refund/", {"amount": "100.50", "reason": "x", "phone": "12345"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"amount", "reason", "phone"}
    assert "whole shillings" in body["amount"][0] and "Kenyan mobile number" in body["phone"][0]
    assert not Payout.objects.exists()


def test_a_disbursement_400_lists_every_bad_field(requester):
    response = api(requester).post(
        "/api/payouts/", {"phone": "12345", "amount": "100.50", "remarks": "x"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"phone", "amount", "remarks"}
    assert "whole shillings" in body["amount"][0] and "Kenyan mobile number" in body["phone"][0]
    assert not Payout.objects.exists()


def test_a_payouts_case_file_is_read_and_written_through_the_api(requester, approver):
    payout_id = api(requester).post(
        "/api/payouts/", {"phone": "0712345678", "amount": "500", "remarks": "Fee"}, format="json"
    ).json()["id"]
    url = f"/api/payouts/{payout_id}/notes/"
    assert api(requester).get(url).json() == []
    created = api(approver).post(url, {"text": "Checked the portal: nothing sent yet"}, format="json")
    assert created.status_code == 201
    assert (created.json()["author"], created.json()["text"]) == ("appr", "Checked the portal: nothing sent yet")
    api(requester).post(url, {"text": "Recipient confirmed the number"}, format="json")

    notes = api(requester).get(url).json()
    assert [(n["author"], n["text"]) for n in notes] == [
        ("appr", "Checked the portal: nothing sent yet"),
        ("req", "Recipient confirmed the number"),
    ]
    bad = api(requester).post(url, {"text": "x"}, format="json")
    assert bad.status_code == 400 and "text" in bad.json()
    assert api(make_user("nobody", is_staff=True)).get(url).status_code == 403
    assert api(requester).get("/api/payouts/999999/notes/").status_code == 404
    assert len(api(requester).get(url).json()) == 2


def test_refund_of_payment_not_completed_is_400(requester):
    payment = make_payment(status=PaymentStatus.FAILED, receipt=None)
    response = api(requester).post(f"/api/payments/{payment.pk}/refund/", {"reason": "x" * 5}, format="json")
    assert response.status_code == 400
    assert "Only a completed payment" in response.json()["detail"]


def test_refund_of_missing_payment_is_404(requester):
    assert api(requester).post("/api/payments/999999/refund/", {"reason": "Gone"}, format="json").status_code == 404


def test_idempotency_key_replays_first_answer_and_refuses_other_body(requester):
    payment = make_payment(amount=Decimal("1500"))
    client = api(requester)
    url = f"/api/payments/{payment.pk}/refund/"
    first = client.post(url, {"reason": "Dup charge", "amount": "500"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(url, {"reason": "Dup charge", "amount": "500"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = client.post(url, {"reason": "Dup charge", "amount": "600"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Payout.objects.count() == 1
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("500")


def test_disbursement_create(requester):
    response = api(requester).post("/api/payouts/", {
        "phone": "0712345678", "amount": "2500", "command_id": "SalaryPayment", "remarks": "March fee",
        "occasion": "March", "recipient_name": "Jane Trainer", "recipient_reference": "TR-7",
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["kind"], body["phone"], body["command_id"]) == (
        "pending_approval", "disbursement", "254712345678", "SalaryPayment")


def test_user_without_permission_gets_403_and_nothing_is_created():
    clerk = make_user("clerk", is_staff=True)
    response = api(clerk).post("/api/payouts/", {"phone": "0712345678", "amount": "100", "remarks": "Fee"},
                               format="json")
    assert response.status_code == 403
    assert not Payout.objects.exists()


def test_anonymous_gets_401():
    assert api().post("/api/payouts/", {}, format="json").status_code == 401


def _disburse(requester, amount="500"):
    return api(requester).post("/api/payouts/", {"phone": "0712345678", "amount": amount, "remarks": "Fee"},
                               format="json").json()["id"]


def test_requester_cannot_approve_own_payout_via_api(requester, no_broker):
    payout_id = _disburse(requester)
    response = api(requester).post(f"/api/payouts/{payout_id}/approve/")
    assert response.status_code == 403
    assert Payout.objects.get(pk=payout_id).status == PayoutStatus.PENDING_APPROVAL
    assert no_broker == []


def test_requester_who_is_also_approver_still_cannot_approve_own(no_broker):
    both = make_user("both", groups=("Payout requesters", "Payout approvers"), is_staff=True)
    payout_id = _disburse(both)
    assert api(both).post(f"/api/payouts/{payout_id}/approve/").status_code == 403


def test_approve_by_another_user_queues_the_send(requester, approver, no_broker, django_capture_on_commit_callbacks):
    payout_id = _disburse(requester)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(approver).post(f"/api/payouts/{payout_id}/approve/")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert no_broker == [payout_id]


def test_large_payout_stays_pending_after_first_approval(requester, approver):
    payout_id = _disburse(requester, amount="15000")
    first = api(approver).post(f"/api/payouts/{payout_id}/approve/")
    assert (first.status_code, first.json()["status"]) == (200, "pending_approval")
    assert [a["approver"] for a in first.json()["approvals"]] == ["appr"]
    assert api(approver).post(f"/api/payouts/{payout_id}/approve/").status_code == 409
    second = api(make_approver("appr2")).post(f"/api/payouts/{payout_id}/approve/")
    assert second.json()["status"] == "approved"


def test_approving_a_payout_not_pending_is_409(requester, approver):
    payout_id = _disburse(requester)
    api(approver).post(f"/api/payouts/{payout_id}/reject/", {"reason": "Not owed"}, format="json")
    assert api(make_approver()).post(f"/api/payouts/{payout_id}/approve/").status_code == 409


def test_reject_needs_reason_and_approver_permission(requester, approver):
    payout_id = _disburse(requester)
    assert api(approver).post(f"/api/payouts/{payout_id}/reject/", {}, format="json").status_code == 400
    assert api(make_requester()).post(f"/api/payouts/{payout_id}/reject/", {"reason": "No"},
                                      format="json").status_code == 403
    response = api(approver).post(f"/api/payouts/{payout_id}/reject/", {"reason": "Not owed"}, format="json")
    assert (response.status_code, response.json()["status"]) == (200, "rejected")


def test_session_auth_works_for_approval_with_csrf(requester, approver):
    from django.test import Client

    payout_id = _disburse(requester)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(approver)
    # A session-authenticated unsafe request without a CSRF token is refused, as DRF requires.
    assert strict.post(f"/api/payouts/{payout_id}/approve/").status_code == 403
    strict.get("/admin/")  # a page with a form sets the csrftoken cookie
    token = strict.cookies["csrftoken"].value
    response = strict.post(f"/api/payouts/{payout_id}/approve/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_payout_creation_is_throttled_per_user(requester, settings):
    from django.core.cache import cache
    from rest_framework.settings import api_settings

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"payout_create": "2/min"}}
    api_settings.reload()
    try:
        from rest_framework.throttling import ScopedRateThrottle

        ScopedRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        cache.clear()
        codes = [api(requester).post("/api/payouts/", {"phone": "0712345678", "amount": "100", "remarks": "Fee"},
                                     format="json").status_code for _ in range(3)]
        other = api(make_requester()).post("/api/payouts/", {"phone": "0712345678", "amount": "100",
                                                              "remarks": "Fee"}, format="json").status_code
    finally:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK}
        api_settings.reload()
        ScopedRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert codes == [201, 201, 429]
    assert other == 201


def test_stk_push_creates_pending_payment_and_queues_it(django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("payments.incoming.stk.publish_now", lambda task, *args: queued.append((task.name, args)))
    staff = make_requester("cashier")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(staff).post("/api/payments/stk-push/", {
            "phone": "0708374149", "amount": "150", "account_reference": "ORDER-9", "description": "Order 9",
        }, format="json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get()
    assert (payment.status, payment.source, payment.phone) == ("pending", "stk_push", "254708374149")
    assert queued == [("payments.tasks.send_stk_push", (payment.pk,))]


def test_stk_push_with_the_broker_down_still_answers_201_with_the_pending_payment(
    django_capture_on_commit_callbacks, monkeypatch, caplog
):
    """The request is not held on a broker that is down (a .delay() in the view retried the connection and
    then raised: a 500): the payment is stored pending and the failure to queue its push is logged."""
    from kombu import Connection

    from mpesa_payouts.celery import app

    dead = Connection("redis://127.0.0.1:1/0", connect_timeout=1)  # nothing listens on port 1
    monkeypatch.setattr(app, "_pool", dead.Pool(limit=1))
    staff = make_requester("cashier3")
    with caplog.at_level("WARNING"), django_capture_on_commit_callbacks(execute=True):
        response = api(staff).post("/api/payments/stk-push/", {
            "phone": "0708374149", "amount": "150", "account_reference": "ORDER-10", "description": "Order 10",
        }, format="json")
    assert response.status_code == 201, response.content
    payment = Payment.objects.get()
    assert response.json()["id"] == payment.pk and payment.status == "pending"
    assert f"could not queue the STK push of payment {payment.pk}" in caplog.text


def test_stk_push_rejects_bad_phone():
    staff = make_requester("cashier2")
    response = api(staff).post("/api/payments/stk-push/", {"phone": "123", "amount": "150",
                                                           "account_reference": "X"}, format="json")
    assert response.status_code == 400
    assert not Payment.objects.exists()
