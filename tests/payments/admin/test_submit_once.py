"""Issue 24, finding 3: a console form that creates money movements makes one, however often it is submitted.

The tester confirmed one bulk upload six times at once and got six batches of the same payouts. Each form here
is submitted twice from the same render (a double click), and the bulk confirmation and a refund six and four
times at once on PostgreSQL, each request in its own thread and database connection."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from ledger.models import FundingRequest
from payments.models import Payment, Payout, PayoutBatch, PayoutStatus
from tests.factories import b2c_result, make_payment, make_payout, make_requester
from tests.payments.admin.conftest import logged_in, messages_of

UPLOAD = reverse("admin:payments_payout_bulk_upload")
CONFIRM = reverse("admin:payments_payout_bulk_confirm")
ADD = reverse("admin:payments_payout_add")
CSV = "phone,amount,recipient name,reference,remarks\n0712345678,1500,Jane Wanjiru,INV-1,March fee\n"


def refund_url(payment) -> str:
    return reverse("admin:payments_payment_refund", args=(payment.pk,))


def payout_page(payout) -> str:
    return reverse("admin:payments_payout_change", args=(payout.pk,))


# --- A double click ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_double_click_on_yes_request_this_refund_makes_one_refund(requester_client):
    payment = make_payment(amount=Decimal("1000"))
    data = {"amount": "400", "reason": "Order cancelled", "phone": ""}
    confirmation = requester_client.post(refund_url(payment), data)
    confirmed = {**data, "confirm": "yes", "form_nonce": confirmation.context["form_nonce"]}

    first = requester_client.post(refund_url(payment), confirmed)
    second = requester_client.post(refund_url(payment), confirmed, follow=True)

    payout = Payout.objects.get()
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("400.00")
    assert first.url == payout_page(payout)
    assert second.redirect_chain[-1][0] == payout_page(payout)
    assert "requested already" in messages_of(second)[-1]


@pytest.mark.django_db
def test_a_refund_confirmation_without_its_one_time_token_creates_nothing(requester_client):
    payment = make_payment(amount=Decimal("1000"))
    page = requester_client.post(
        refund_url(payment), {"amount": "400", "reason": "Order cancelled", "phone": "", "confirm": "yes"}
    )
    assert page.status_code == 200
    assert "one-time token" in str(page.context["form"].errors)
    assert not Payout.objects.exists()


@pytest.mark.django_db
def test_a_double_click_on_yes_request_this_payout_makes_one_payout(requester_client):
    data = {
        "phone": "0712345678",
        "amount": "1500",
        "command_id": "BusinessPayment",
        "remarks": "March fee",
        "recipient_name": "Jane Trainer",
        "recipient_type": "",
        "recipient_reference": "",
        "occasion": "",
        "reason": "",
    }
    confirmation = requester_client.post(ADD, data)
    confirmed = {**data, "confirm": "1", "form_nonce": confirmation.context["form_nonce"]}

    first = requester_client.post(ADD, confirmed)
    second = requester_client.post(ADD, confirmed)

    payout = Payout.objects.get()
    assert first.url == second.url == payout_page(payout)


@pytest.mark.django_db
def test_a_double_click_on_request_again_makes_one_retry_and_shows_it(requester, requester_client):
    original = make_payout(status=PayoutStatus.SUBMITTED, requested_by=requester)
    Client().post(
        reverse("callbacks:b2c-result", kwargs={"token": original.callback_token}),
        data=b2c_result(original, "b2c_result_failure", ResultCode=1),
        content_type="application/json",
    )
    url = reverse("admin:payments_payout_request_again", args=(original.pk,))

    first = requester_client.post(url)
    second = requester_client.post(url, follow=True)

    retry = original.retries.get()
    assert first.url == payout_page(retry)
    assert second.redirect_chain[-1][0] == payout_page(retry)
    assert f"already requested again as payout #{retry.pk}" in messages_of(second)[-1]


@pytest.mark.django_db
def test_a_double_click_on_save_of_a_funding_request_makes_one_request():
    client = logged_in(make_requester())
    add = reverse("admin:ledger_fundingrequest_add")
    nonce = client.get(add).context["adminform"].form.initial["form_nonce"]
    data = {
        "kind": "top_up",
        "amount": "50000.00",
        "receipt": "TOPUP1",
        "effective_at_0": "2024-07-01",
        "effective_at_1": "09:00:00",
        "note": "Bank transfer to the utility account",
        "form_nonce": nonce,
    }

    first = client.post(add, data)
    second = client.post(add, data)

    funding = FundingRequest.objects.get()
    assert first.status_code == 302
    assert second.status_code == 302
    assert second.url == reverse("admin:ledger_fundingrequest_change", args=(funding.pk,))


# --- At once, on PostgreSQL ----------------------------------------------------------------------------


def at_once(n: int, send) -> tuple[list, list]:
    """`send(i)` from n threads released together, each with its own database connection."""
    barrier = threading.Barrier(n)
    answers, errors = [], []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers.append(send(index))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return answers, errors


def same_session(client: Client) -> Client:
    twin = Client()
    twin.cookies = client.cookies
    return twin


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_six_concurrent_confirms_of_one_bulk_upload_make_one_batch():
    client = logged_in(make_requester("rita"))
    page = client.post(UPLOAD, {"file": SimpleUploadedFile("march.csv", CSV.encode()), "command_id": "SalaryPayment"})
    token = page.context["token"]
    clients = [same_session(client) for _ in range(6)]

    answers, errors = at_once(6, lambda i: clients[i].post(CONFIRM, {"token": token}))

    assert not errors, errors
    batch = PayoutBatch.objects.get()
    assert Payout.objects.count() == 1
    batch_page = reverse("admin:payments_payoutbatch_change", args=(batch.pk,))
    assert [(answer.status_code, answer.url) for answer in answers] == [(302, batch_page)] * 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_concurrent_confirms_of_one_refund_make_one_refund():
    client = logged_in(make_requester("rita"))
    payment = make_payment(amount=Decimal("1000"))
    data = {"amount": "300", "reason": "Order cancelled", "phone": ""}
    confirmation = client.post(refund_url(payment), data)
    confirmed = {**data, "confirm": "yes", "form_nonce": confirmation.context["form_nonce"]}
    clients = [same_session(client) for _ in range(4)]

    answers, errors = at_once(4, lambda i: clients[i].post(refund_url(payment), confirmed))

    assert not errors, errors
    payout = Payout.objects.get()
    assert Payment.objects.get(pk=payment.pk).refunded_amount == Decimal("300.00")
    assert [(answer.status_code, answer.url) for answer in answers] == [(302, payout_page(payout))] * 4
