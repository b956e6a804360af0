"""STK pushes that never heard back: beat (and `query_stk_pushes`) asks M-Pesa about each push still pending
STK_QUERY_AFTER_MINUTES after it was sent, at most STK_MAX_QUERIES times. An answer proving the customer did not
pay fails it through the payment door; 0 (paid, no receipt) leaves it pending, marked, until its callback or the
Pull supplies the receipt; a throttle is asked again later, never in a tight loop. Daraja faked by `responses`."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ledger import selectors as ledger
from ledger.models import JournalTransaction
from payments.callbacks.tokens import static_token
from payments.models import AuditAction, Payment, PaymentSource, PaymentStatus
from payments.tasks import query_stk_pushes
from tests.clock import travel_to
from tests.factories import make_payment, sample
from tests.fake_daraja import BASE
from tests.payments.incoming.test_pull import answer_pull, row

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

STK_QUERY = f"{BASE}/mpesa/stkpushquery/v1/query"
NOW = datetime.fromisoformat("2026-12-07T08:30:00+03:00")
CHECKOUT = "ws_CO_191220191020363925"  # stk_callback_success's CheckoutRequestID


def pushed(minutes_ago: float, checkout: str = CHECKOUT, **fields) -> Payment:
    fields = {"status": PaymentStatus.PENDING, **fields}
    return make_payment(source=PaymentSource.STK_PUSH, receipt=None, checkout_request_id=checkout,
                        phone="254708374149", amount=Decimal("1.00"),
                        push_sent_at=NOW - timedelta(minutes=minutes_ago), **fields)  # fmt: skip


def answer(code, desc="", checkout=CHECKOUT) -> dict:
    return {"ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": "22205-34066-1", "CheckoutRequestID": checkout, "ResultCode": code,
            "ResultDesc": desc}  # fmt: skip


def run_command() -> str:
    out = StringIO()
    call_command("query_stk_pushes", stdout=out)
    return out.getvalue()


def queries(mock) -> list:
    return [call for call in mock.calls if call.request.url == STK_QUERY]


@pytest.mark.parametrize("code, reason", [
    ("1032", "The customer cancelled the M-Pesa prompt"),
    ("1037", "The customer's phone could not be reached"),
    ("2001", "The customer entered a wrong M-Pesa PIN"),
    ("1", "The customer had too little on M-Pesa"),
    ("1019", "The M-Pesa prompt expired"),
    ("1025", "M-Pesa could not deliver the prompt"),
    ("9999", "M-Pesa could not deliver the prompt"),
])  # fmt: skip
def test_an_answer_proving_the_customer_did_not_pay_fails_it_with_that_reason(daraja, code, reason):
    payment = pushed(minutes_ago=4)
    daraja.post(STK_QUERY, json=answer(code, "Request cancelled by user"))
    with travel_to(NOW):
        printed = run_command()

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.result_code == code
    assert payment.result_description == reason
    assert "1 failed (the customer did not pay)" in printed
    event = payment.events.get()
    assert (event.action, event.source) == (AuditAction.PAYMENT_FAILED, "task")
    assert ledger.trial_balance().balanced


def test_paid_without_a_receipt_stays_pending_marked_until_its_callback(daraja, client):
    payment = pushed(minutes_ago=4)
    daraja.post(STK_QUERY, json=answer(0, "The service request is processed successfully."))
    with travel_to(NOW):
        assert query_stk_pushes.apply().get() == {"paid": 1}
        assert query_stk_pushes.apply().get() == {}  # marked: not asked again
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.result_description == "M-Pesa says paid, receipt awaited"
    assert [e.action for e in payment.events.all()] == [AuditAction.STK_QUERY_PAID]
    assert not JournalTransaction.objects.filter(payment_id=payment.pk).exists()  # no receipt: not posted yet
    assert len(queries(daraja)) == 1

    response = client.post(reverse("callbacks:stk", kwargs={"token": static_token("stk")}),
                           data=json.dumps(sample("stk_callback_success")), content_type="application/json")
    assert response.status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.receipt) == (PaymentStatus.COMPLETED, "NLJ7RT61SV")
    assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
    assert ledger.trial_balance().balanced


def test_paid_without_a_receipt_is_completed_by_the_pull(daraja):
    payment = pushed(minutes_ago=4)
    daraja.post(STK_QUERY, json=answer(0, "The service request is processed successfully."))
    answer_pull(daraja, [row("PULLRCPT01", amount="1.00", msisdn=254708374149)])
    with travel_to(NOW):
        run_command()
        call_command("pull_transactions", stdout=StringIO())

    payment.refresh_from_db()
    assert (payment.status, payment.receipt) == (PaymentStatus.COMPLETED, "PULLRCPT01")
    assert Payment.objects.count() == 1  # its receipt, not a second payment
    assert [e.action for e in payment.events.order_by("id")] == [AuditAction.STK_QUERY_PAID,
                                                                  AuditAction.PAYMENT_RECOVERED]  # fmt: skip
    assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
    assert ledger.trial_balance().balanced


def test_still_processing_stays_pending_and_is_asked_at_most_stk_max_queries_times(daraja, settings):
    settings.STK_MAX_QUERIES = 2
    payment = pushed(minutes_ago=4)
    daraja.post(STK_QUERY, status=500, json={"requestId": "x", "errorCode": "500.001.1001",
                                             "errorMessage": "The transaction is being processed"})  # fmt: skip
    with travel_to(NOW) as traveller:
        assert run_command().strip() == "1 still pending"
        assert query_stk_pushes.apply().get() == {}  # asked again only STK_QUERY_AFTER_MINUTES later
        traveller.shift(timedelta(minutes=3))
        assert query_stk_pushes.apply().get() == {"pending": 1}
        traveller.shift(timedelta(minutes=10))
        assert query_stk_pushes.apply().get() == {}  # two queries: no more
    payment.refresh_from_db()
    assert (payment.status, payment.stk_queries) == (PaymentStatus.PENDING, 2)
    assert len(queries(daraja)) == 2


def test_a_push_is_not_asked_about_before_stk_query_after_minutes(daraja):
    pushed(minutes_ago=2)
    daraja.post(STK_QUERY, json=answer("1032"))
    with travel_to(NOW):
        assert run_command().strip() == "No STK push is due for a query."
    assert queries(daraja) == []


def test_a_throttle_is_asked_again_later_and_stops_the_pass(daraja, settings):
    first = pushed(minutes_ago=6, checkout="ws_CO_first")
    second = pushed(minutes_ago=5, checkout="ws_CO_second")
    daraja.post(STK_QUERY, status=429, json={"requestId": "x", "errorCode": "500.003.02",
                                             "errorMessage": "Spike arrest violation"})  # fmt: skip
    with travel_to(NOW) as traveller:
        assert query_stk_pushes.apply().get() == {"throttled": 1}
        assert len(queries(daraja)) == 1  # the second waits: no tight loop against a throttle
        assert query_stk_pushes.apply().get() == {"throttled": 1}  # the second's turn; the first waits
        assert query_stk_pushes.apply().get() == {}
        traveller.shift(timedelta(seconds=settings.STK_QUERY_THROTTLE_SECONDS + 1))
        daraja.replace("POST", STK_QUERY, json=answer("1032", "Request cancelled by user"))
        assert query_stk_pushes.apply().get() == {"failed": 2}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == PaymentStatus.FAILED
    assert first.stk_queries == 1  # a throttled query is not counted


def test_a_push_settled_by_its_callback_is_not_asked_about(daraja):
    pushed(minutes_ago=4)
    daraja.post(STK_QUERY, json=answer("1032"))
    failed = pushed(minutes_ago=4, checkout="ws_CO_failed", status=PaymentStatus.FAILED)
    with travel_to(NOW):
        assert query_stk_pushes.apply().get() == {"failed": 1}
    assert [call.request.body for call in queries(daraja) if b"ws_CO_failed" in call.request.body] == []
    failed.refresh_from_db()
    assert failed.status == PaymentStatus.FAILED and failed.stk_queries == 0


def test_missing_stk_settings_are_said_without_changing_anything(daraja, settings):
    settings.MPESA_PASSKEY = ""
    payment = pushed(minutes_ago=4)
    with travel_to(NOW), pytest.raises(CommandError, match="Not configured: STK shortcode, STK passkey"):
        run_command()
    payment.refresh_from_db()
    assert (payment.status, payment.stk_queries) == (PaymentStatus.PENDING, 0)
    assert queries(daraja) == []
