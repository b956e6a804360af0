"""Money in through the real callback routes: an STK push's answer settles its payment, a C2B confirmation
records one, and a payment received sets off its steps (ledger entry, webhook outbox row, signal) exactly once,
however often M-Pesa delivers it. (The STK and C2B tests moved here from tests/payments/callbacks/.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from ledger.models import JournalTransaction
from payments.callbacks.tokens import static_token
from payments.models import AuditEvent, CallbackOutcome, DarajaCallback, Payment, PaymentStatus
from payments.signals import payment_received
from tests.factories import make_payment, sample
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

CHECKOUT = "ws_CO_191220191020363925"  # stk_callback_success's CheckoutRequestID


def post(client, name: str, token: str, body):
    return client.post(reverse(f"callbacks:{name}", kwargs={"token": token}), data=json.dumps(body),
                       content_type="application/json")



def test_stk_success_completes_pending_payment(client):
    payment = make_payment(status=PaymentStatus.PENDING, receipt=None, amount=Decimal("1.00"),
                           checkout_request_id="ws_CO_191220191020363925", source="stk_push")
    assert post(client, "stk", static_token("stk"), sample("stk_callback_success")).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.COMPLETED
    assert payment.receipt == "NLJ7RT61SV"
    assert payment.transaction_time == datetime(2019, 12, 19, 7, 21, 15, tzinfo=UTC)
    # Delivered again: nothing changes.
    post(client, "stk", static_token("stk"), sample("stk_callback_success"))
    assert payment.events.count() == 1


def test_stk_cancelled_fails_pending_payment(client):
    payment = make_payment(status=PaymentStatus.PENDING, receipt=None,
                           checkout_request_id="ws_CO_191220191020363925", source="stk_push")
    post(client, "stk", static_token("stk"), sample("stk_callback_cancelled"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.result_code == "1032"


def test_stk_for_unknown_checkout_is_unmatched(client):
    post(client, "stk", static_token("stk"), sample("stk_callback_success"))
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.UNMATCHED
    assert not Payment.objects.exists()


def test_c2b_confirmation_records_completed_payment_with_masked_phone(client):
    response = post(client, "c2b-confirmation", static_token("c2b"), sample("c2b_confirmation"))
    assert response.status_code == 200
    payment = Payment.objects.get()
    assert (payment.status, payment.receipt, payment.amount) == ("completed", "RKL51ZDR4F", Decimal("5.00"))
    assert payment.phone == "2547 ***** 126"
    assert payment.payer_name == "NICHOLAS"
    post(client, "c2b-confirmation", static_token("c2b"), sample("c2b_confirmation"))
    assert Payment.objects.count() == 1


def test_c2b_validation_accepts(client):
    response = post(client, "c2b-validation", static_token("c2b"), sample("c2b_confirmation"))
    assert response.json()["ResultCode"] == 0
    assert not Payment.objects.exists()


# --- A payment received: its steps run once ---------------------------------------------------------


@pytest.fixture
def received_signals():
    """The payment_received signal as a receiver sees it: one entry per send."""
    seen = []

    def receiver(sender, payment, event, **kwargs):
        seen.append((payment.pk, event.action))

    payment_received.connect(receiver, weak=False)
    yield seen
    payment_received.disconnect(receiver)


def assert_received_once(payment: Payment, received_signals: list) -> None:
    assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
    assert WebhookEvent.objects.filter(payment=payment, type="payment.received").count() == 1
    assert received_signals == [(payment.pk, "payment_completed")]
    assert AuditEvent.objects.filter(payment=payment, action="payment_completed").count() == 1


def test_an_stk_payment_received_posts_signals_and_queues_its_webhook_once(client, received_signals):
    payment = make_payment(status=PaymentStatus.PENDING, receipt=None, amount=Decimal("1.00"),
                           checkout_request_id=CHECKOUT, source="stk_push")
    for _ in range(2):  # delivered twice
        assert post(client, "stk", static_token("stk"), sample("stk_callback_success")).status_code == 200
    assert_received_once(payment, received_signals)


def test_a_c2b_payment_received_posts_signals_and_queues_its_webhook_once(client, received_signals):
    for _ in range(2):  # delivered twice
        assert post(client, "c2b-confirmation", static_token("c2b"), sample("c2b_confirmation")).status_code == 200
    assert_received_once(Payment.objects.get(), received_signals)


def test_a_declined_stk_push_sets_off_none_of_them(client, received_signals):
    payment = make_payment(status=PaymentStatus.PENDING, receipt=None, checkout_request_id=CHECKOUT,
                           source="stk_push")
    post(client, "stk", static_token("stk"), sample("stk_callback_cancelled"))
    assert not JournalTransaction.objects.filter(payment_id=payment.pk).exists()
    assert not WebhookEvent.objects.filter(payment=payment).exists()
    assert received_signals == []
    event = AuditEvent.objects.get(payment=payment)
    assert (event.action, event.from_status, event.to_status) == ("payment_failed", "pending", "failed")
