"""Asking a customer to pay by STK push: the push is sent at most once, and only an answer that proves M-Pesa
never got it fails the payment. A push whose outcome is unknown (the customer may have been prompted, and may
pay) stays pending, says why, and is listed for a person at once; when the customer did pay, the callback
(whose CheckoutRequestID we never learned) completes it if exactly one such payment fits its phone and amount.

Through the real route (`POST /api/payments/stk-push/`), the Celery task as the worker runs it, and Daraja faked
with `responses`."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import pytest
import requests
import responses
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from payments.callbacks.tokens import static_token
from payments.models import AuditEvent, DarajaCallback, Payment, PaymentStatus
from payments.tasks import send_stk_push
from tests.factories import make_requester, make_user, sample
from tests.fake_daraja import STK

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]


@pytest.fixture
def queued(monkeypatch):
    """What the view queued for the worker, instead of a broker."""
    calls = []
    monkeypatch.setattr("payments.incoming.stk.publish_now", lambda task, *args: calls.append((task, args)))
    return calls


def ask_to_pay(django_capture_on_commit_callbacks, queued) -> Payment:
    api = APIClient()
    api.force_authenticate(make_requester())
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/payments/stk-push/", {"phone": "0708374149", "amount": "150",
                                                        "account_reference": "ORDER-9"}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    [(task, args)] = queued
    assert task is send_stk_push
    return Payment.objects.get(pk=response.json()["id"])


def run_worker(payment: Payment) -> str:
    return send_stk_push.apply(args=(payment.pk,)).get()


def stk_calls(mock) -> list:
    return [call for call in mock.calls if call.request.url == STK]


def discrepancies() -> list[dict]:
    api = APIClient()
    api.force_authenticate(make_user(is_staff=True, is_superuser=True))
    response = api.get("/api/reconciliation/discrepancies/", {"kind": "payment_pending"})
    assert response.status_code == 200
    return response.json()["results"]


def test_an_accepted_push_is_sent_once_and_waits_for_its_callback(daraja, queued, django_capture_on_commit_callbacks):
    daraja.post(STK, json={"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_1",
                           "ResponseCode": "0", "ResponseDescription": "Success. Request accepted for processing",
                           "CustomerMessage": "Success. Request accepted for processing"})  # fmt: skip
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)

    assert run_worker(payment) == "sent"
    assert run_worker(payment) == "skipped"  # the task delivered again (acks_late): no second prompt
    payment.refresh_from_db()
    assert (payment.status, payment.checkout_request_id) == (PaymentStatus.PENDING, "ws_CO_1")
    assert len(stk_calls(daraja)) == 1
    assert discrepancies() == []  # waiting for its callback is not a discrepancy


@pytest.mark.parametrize(
    "answer",
    [
        {"body": requests.exceptions.ReadTimeout("read timed out")},
        {"status": 500, "json": {"requestId": "r", "errorCode": "500.003.1001", "errorMessage": "Internal error"}},
    ],
    ids=["read-timeout", "internal-error"],
)
def test_a_push_whose_outcome_is_unknown_stays_pending_and_is_never_sent_again(
    daraja, queued, django_capture_on_commit_callbacks, answer
):
    daraja.post(STK, **answer)
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)

    assert run_worker(payment) == "unknown"
    assert run_worker(payment) == "skipped"
    assert len(stk_calls(daraja)) == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING  # the customer may have paid: not failed
    assert payment.result_code
    event = AuditEvent.objects.get(payment=payment)
    assert (event.action, event.from_status, event.to_status) == ("push_outcome_unknown", "pending", "pending")

    [listed] = discrepancies()  # at once, not after a day
    assert listed["object_id"] == payment.pk
    assert "outcome unknown" in listed["message"] and "statement" in listed["message"]


def test_a_push_that_never_reached_mpesa_fails_the_payment(daraja, queued, django_capture_on_commit_callbacks):
    daraja.post(STK, status=400, json={"requestId": "r", "errorCode": "400.002.02",
                                       "errorMessage": "Bad Request - Invalid PhoneNumber"})  # fmt: skip
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)

    assert run_worker(payment) == "failed"
    payment.refresh_from_db()
    assert (payment.status, payment.result_code) == (PaymentStatus.FAILED, "400.002.02")
    assert AuditEvent.objects.get(payment=payment).action == "payment_failed"
    assert run_worker(payment) == "skipped"
    assert len(stk_calls(daraja)) == 1
    assert discrepancies() == []


def stk_callback(checkout: str, *, amount, phone, receipt: str = "SLK0000001") -> dict:
    body = sample("stk_callback_success")
    callback = body["Body"]["stkCallback"]
    callback["CheckoutRequestID"] = checkout
    callback["CallbackMetadata"]["Item"] = [
        {"Name": "Amount", "Value": amount}, {"Name": "MpesaReceiptNumber", "Value": receipt},
        {"Name": "TransactionDate", "Value": 20261206102115}, {"Name": "PhoneNumber", "Value": phone},
    ]  # fmt: skip
    return body


def post_stk_callback(client, body: dict):
    url = reverse("callbacks:stk", kwargs={"token": static_token("stk")})
    response = client.post(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    return DarajaCallback.objects.order_by("-id").first()


def test_the_customer_paid_a_push_whose_answer_was_lost_its_callback_completes_it(
    client, daraja, queued, django_capture_on_commit_callbacks
):
    daraja.post(STK, body=requests.exceptions.ReadTimeout("read timed out"))
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)
    assert run_worker(payment) == "unknown"

    # Safaricom did prompt the customer, who paid: the callback names a CheckoutRequestID we never heard of.
    callback = post_stk_callback(client, stk_callback("ws_CO_lost", amount=150, phone=254708374149))

    payment.refresh_from_db()
    assert (payment.status, payment.receipt, payment.checkout_request_id) == ("completed", "SLK0000001", "ws_CO_lost")
    assert (callback.outcome, callback.payment_id) == ("processed", payment.pk)
    event = AuditEvent.objects.get(payment=payment, action="payment_completed")
    assert "answer to its push was lost" in event.details["matched_by"]
    assert discrepancies() == []


@pytest.mark.parametrize(
    "amount,phone",
    [(151, 254708374149), (150, 254700000001), (150, "2547****4149")],
    ids=["another-amount", "another-phone", "masked-phone"],
)
def test_a_callback_that_does_not_fit_the_lost_push_is_left_for_a_person(
    client, daraja, queued, django_capture_on_commit_callbacks, amount, phone
):
    daraja.post(STK, body=requests.exceptions.ReadTimeout("read timed out"))
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)
    run_worker(payment)

    callback = post_stk_callback(client, stk_callback("ws_CO_other", amount=amount, phone=phone))

    assert callback.outcome == "unmatched"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING and payment.checkout_request_id is None
    assert [row["object_id"] for row in discrepancies()] == [payment.pk]


def test_two_lost_pushes_for_the_same_phone_and_amount_are_not_guessed_between(
    client, daraja, queued, django_capture_on_commit_callbacks
):
    daraja.post(STK, body=requests.exceptions.ReadTimeout("read timed out"))
    first = ask_to_pay(django_capture_on_commit_callbacks, queued)
    queued.clear()
    second = ask_to_pay(django_capture_on_commit_callbacks, queued)
    assert run_worker(first) == run_worker(second) == "unknown"

    callback = post_stk_callback(client, stk_callback("ws_CO_which", amount=150, phone=254708374149))

    assert callback.outcome == "unmatched"
    assert set(Payment.objects.values_list("status", flat=True)) == {"pending"}


def test_a_worker_that_stopped_after_the_claim_sends_nothing_again_and_the_payment_is_listed(
    daraja, queued, django_capture_on_commit_callbacks
):
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)
    # The worker claimed it and died before any answer was recorded; the broker delivers the task again.
    claimed_at = timezone.now() - timedelta(minutes=3)
    Payment.objects.filter(pk=payment.pk).update(push_sent_at=claimed_at)

    assert run_worker(payment) == "skipped"
    assert stk_calls(daraja) == []
    [listed] = discrepancies()  # the timeouts and a minute have passed: at once, not after a day
    assert listed["object_id"] == payment.pk
    assert "no answer was recorded" in listed["message"] and "statement" in listed["message"]


def test_a_push_still_waiting_for_its_answer_is_not_matched_to_a_callback(
    client, daraja, queued, django_capture_on_commit_callbacks
):
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)
    Payment.objects.filter(pk=payment.pk).update(push_sent_at=timezone.now())  # its request is still open

    callback = post_stk_callback(client, stk_callback("ws_CO_someone", amount=150, phone=254708374149))

    assert callback.outcome == "unmatched"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING and payment.checkout_request_id is None
    assert discrepancies() == []


def test_a_callback_long_after_the_lost_push_or_reporting_a_failure_is_not_matched(
    client, daraja, queued, django_capture_on_commit_callbacks
):
    daraja.post(STK, body=requests.exceptions.ReadTimeout("read timed out"))
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)
    run_worker(payment)

    cancelled = sample("stk_callback_cancelled")  # a failure carries no phone or amount to match on
    cancelled["Body"]["stkCallback"]["CheckoutRequestID"] = "ws_CO_cancelled"
    assert post_stk_callback(client, cancelled).outcome == "unmatched"

    Payment.objects.filter(pk=payment.pk).update(push_sent_at=timezone.now() - timedelta(minutes=16))
    late = post_stk_callback(client, stk_callback("ws_CO_late", amount=150, phone=254708374149))
    assert late.outcome == "unmatched"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_claim_is_committed_before_the_push_leaves(daraja, queued, django_capture_on_commit_callbacks):
    """Seen from another connection while Daraja is being asked: were the worker to die now, the claim stands."""
    seen = []

    def answer(request):
        s = connection.settings_dict
        with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"],
                             dbname=s["NAME"], autocommit=True) as other:  # fmt: skip
            seen.append(other.execute("SELECT push_sent_at FROM payments_payment").fetchone()[0])
        return 200, {}, json.dumps({"MerchantRequestID": "m-1", "CheckoutRequestID": "ws_CO_seen",
                                    "ResponseCode": "0", "ResponseDescription": "Accepted"})  # fmt: skip

    daraja.add_callback(responses.POST, STK, callback=answer)
    payment = ask_to_pay(django_capture_on_commit_callbacks, queued)
    assert run_worker(payment) == "sent"
    assert len(seen) == 1 and seen[0] is not None
