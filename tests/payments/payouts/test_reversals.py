"""Reversal of a received payment, end to end through the real routes: the payment arrives by C2B confirmation,
`POST /api/payments/{id}/reverse/`, approval by another person, the real send task, the result POSTed to the
reversal's own callback URL (Daraja faked with `responses`, so every request on the wire is counted)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ledger import selectors as ledger
from payments.callbacks.tokens import static_token
from payments.models import Payment, PaymentStatus, Payout, PayoutStatus
from payments.tasks import query_payout_status, send_payout, sweep_payouts
from tests.factories import make_approver, make_payment, make_requester, make_user, sample
from tests.fake_daraja import BASE, STATUS
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

REVERSAL = f"{BASE}/mpesa/reversal/v1/request"
RECEIPT = "SKC82PACB8"  # the documented reversal result's OriginalTransactionID


@pytest.fixture(autouse=True)
def workers_in_process(monkeypatch):
    # The approval's send is queued after commit; the test runs the real task itself, as the worker would.
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda *a, **k: None)
    monkeypatch.setattr("payments.tasks.query_payout_status.delay",
                        lambda payout_id: query_payout_status.apply(args=[payout_id]))


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def received(client, receipt: str = RECEIPT, amount: str = "1500.00") -> Payment:
    """A customer's payment, arrived as M-Pesa sends it: a C2B confirmation (posted to the ledger)."""
    body = {**sample("c2b_confirmation"), "TransID": receipt, "TransAmount": amount, "MSISDN": "254705912645"}
    url = reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")})
    assert client.post(url, data=json.dumps(body), content_type="application/json").status_code == 200
    return Payment.objects.get(receipt=receipt)


def ask_reversal(payment: Payment, user=None, **headers):
    return api(user or make_requester()).post(
        f"/api/payments/{payment.pk}/reverse/", {"reason": "Customer paid the wrong business"}, format="json",
        **headers,
    )


def approved_reversal(payment: Payment) -> Payout:
    requester = make_requester()
    created = ask_reversal(payment, requester)
    assert created.status_code == 201, created.content
    payout_id = created.json()["id"]
    # Four eyes: whoever asked for it may not approve it.
    assert api(requester).post(f"/api/payouts/{payout_id}/approve/").status_code == 403
    approved = api(make_approver("appr")).post(f"/api/payouts/{payout_id}/approve/")
    assert approved.json()["status"] == "approved", approved.content
    return Payout.objects.get(pk=payout_id)


def send(payout: Payout) -> str:
    return send_payout.apply(args=[payout.pk]).get()


def answer() -> dict:
    return {"OriginatorConversationID": "dad6-4c34-8787-c8cb963a496d1268232",
            "ConversationID": "AG_20211114_201018edbbf9f1582eaa", "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully."}


def result(name: str = "reversal_result_success", **changes) -> dict:
    body = sample(name)
    params = {p["Key"]: p for p in body["Result"].get("ResultParameters", {}).get("ResultParameter", [])}
    for key, value in changes.items():
        if key in params:
            params[key]["Value"] = value
        else:
            body["Result"][key] = value
    return body


def post_result(client, payout: Payout, body: dict, name: str = "reversal-result"):
    url = reverse(f"callbacks:{name}", kwargs={"token": payout.callback_token})
    return client.post(url, data=json.dumps(body), content_type="application/json")


def wire(daraja, url: str = REVERSAL) -> list:
    return [call for call in daraja.calls if call.request.url == url]


def test_a_reversal_is_approved_by_another_person_sent_once_and_its_result_reverses_the_payment(client, daraja):
    payment = received(client)
    payout = approved_reversal(payment)
    assert (payout.rail, payout.amount, payout.payment_id) == ("reversal", Decimal("1500.00"), payment.pk)
    payment.refresh_from_db()
    assert payment.refundable_amount == 0  # the whole amount is held while the reversal stands
    daraja.post(REVERSAL, json=answer())

    assert send(payout) == "submitted"
    assert send(payout) == "skipped"  # a second delivery of the task sends nothing
    [request] = wire(daraja)
    body = json.loads(request.request.body)
    sent = {k: body[k] for k in ("CommandID", "TransactionID", "Amount", "ReceiverParty", "RecieverIdentifierType")}
    assert sent == {"CommandID": "TransactionReversal", "TransactionID": RECEIPT, "Amount": "1500",
                    "ReceiverParty": "174379", "RecieverIdentifierType": "11"}
    assert "OriginatorConversationID" not in body  # no id of ours: the answer's are stored
    assert body["ResultURL"].endswith(f"/callbacks/reversal/result/{payout.callback_token}/")
    assert body["QueueTimeOutURL"].endswith(f"/callbacks/reversal/timeout/{payout.callback_token}/")
    payout.refresh_from_db()
    assert payout.answered_originator_conversation_id == "dad6-4c34-8787-c8cb963a496d1268232"

    response = post_result(client, payout, result(Amount=1500.0, Charge=12.0))
    assert response.status_code == 200, response.content
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert (payout.status, payout.transaction_id, payout.charge) == ("completed", "SKE52PAWR9", Decimal("12.00"))
    assert payment.status == PaymentStatus.REVERSED
    assert ledger.trial_balance().balanced
    assert ledger.account_balance("payouts_in_flight") == 0
    # The money leaves the account it was paid into, to the customer, with M-Pesa's charge.
    assert ledger.account_balance("customer_refunds") == Decimal("1500.00")
    assert ledger.account_balance("mpesa_charges") == Decimal("12.00")
    assert ledger.account_balance("mpesa_collections") == Decimal("-12.00")  # 1500 in, 1500 back, 12 charged
    assert WebhookEvent.objects.filter(payment=payment, type="payment.reversed").count() == 1
    # Delivered again: nothing changes, nothing is raised twice.
    assert post_result(client, payout, result(Amount=1500.0, Charge=12.0)).status_code == 200
    assert WebhookEvent.objects.filter(payment=payment, type="payment.reversed").count() == 1

    viewer = api(make_approver("viewer"))
    assert viewer.get(f"/api/payments/{payment.pk}/").json()["status"] == "reversed"
    stats = viewer.get("/api/stats/").json()
    assert (stats["reversed_payments"], stats["reversed_total"], stats["payment_revenue"]) == (1, "1500.00", "0.00")
    feed = api(make_user("owner", is_superuser=True)).get("/api/events/?page_size=100").json()["results"]
    assert "payment.reversed" in [event["type"] for event in feed]


def test_already_reversed_completes_the_reversal_and_says_so(client, daraja):
    payment = received(client)
    payout = approved_reversal(payment)
    daraja.post(REVERSAL, json=answer())
    send(payout)

    body = result("reversal_result_invalid", ResultCode="R000001", ResultDesc="The transaction is already reversed.")
    assert post_result(client, payout, body).status_code == 200
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert (payout.status, payout.result_code, payout.transaction_id) == ("completed", "R000001", f"R000001-{RECEIPT}")
    assert "Already reversed" in payout.result_description
    assert payment.status == PaymentStatus.REVERSED
    assert not Payout.objects.filter(transaction_id="SKE0000000").exists()  # the placeholder is no receipt


def test_an_invalid_original_transaction_fails_the_reversal_and_gives_the_amount_back(client, daraja):
    payment = received(client)
    payout = approved_reversal(payment)
    daraja.post(REVERSAL, json=answer())
    send(payout)

    assert post_result(client, payout, result("reversal_result_invalid")).status_code == 200
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert (payout.status, payout.result_code, payout.transaction_id) == ("failed", "R000002", None)
    assert (payment.status, payment.refundable_amount) == (PaymentStatus.COMPLETED, Decimal("1500.00"))
    assert not WebhookEvent.objects.filter(type="payment.reversed").exists()
    assert ledger.trial_balance().balanced
    # The payment can be refunded (or reversed) again.
    refund = api(make_requester()).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Refund instead"},
                                             format="json")
    assert refund.status_code == 201, refund.content


def test_a_lost_answer_waits_for_the_result_which_settles_the_reversal(client, daraja):
    payment = received(client)
    payout = approved_reversal(payment)
    daraja.post(REVERSAL, body=requests.exceptions.ReadTimeout("read timed out"))

    assert send(payout) == "verifying"
    sweep_payouts.apply().get()  # nothing to ask by: no status query, and never a resend
    assert wire(daraja, STATUS) == []
    assert len(wire(daraja)) == 1

    assert post_result(client, payout, result(Amount=1500.0)).status_code == 200
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert (payout.status, payment.status) == ("completed", PaymentStatus.REVERSED)
    assert payout.answered_originator_conversation_id == "dad6-4c34-8787-c8cb963a496d1268232"
    assert len(wire(daraja)) == 1


def test_a_result_naming_another_original_transaction_goes_to_a_person(client, daraja):
    payment = received(client)
    payout = approved_reversal(payment)
    daraja.post(REVERSAL, json=answer())
    send(payout)

    assert post_result(client, payout, result(Amount=1500.0, OriginalTransactionID="SKC0OTHER1")).status_code == 200
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert "SKC0OTHER1" in payout.review_reason and RECEIPT in payout.review_reason
    assert payment.status == PaymentStatus.COMPLETED  # not reversed until a person settles it


def test_a_queue_timeout_moves_the_reversal_to_verifying(client, daraja):
    payment = received(client)
    payout = approved_reversal(payment)
    daraja.post(REVERSAL, json=answer())
    send(payout)
    echoed = json.loads(wire(daraja)[0].request.body)

    assert post_result(client, payout, echoed, name="reversal-timeout").status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    another = {**echoed, "TransactionID": "SKC0OTHER1"}
    assert post_result(client, payout, another, name="reversal-timeout").status_code == 403


def _refund(payment: Payment):
    return api(make_requester()).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Refund it"},
                                           format="json")


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda c: make_payment(status=PaymentStatus.PENDING, receipt=None, source="stk_push",
                                checkout_request_id="ws_CO_1"), "Only a completed payment"),
        (lambda c: make_payment(receipt=None), "no M-Pesa receipt"),
        (lambda c: make_payment(status=PaymentStatus.REVERSED), "already reversed"),
    ],
    ids=["not completed", "no receipt", "already reversed"],
)
def test_a_payment_that_cannot_be_reversed_is_refused_with_the_reason(client, setup, words):
    payment = setup(client)
    response = ask_reversal(payment)
    assert response.status_code == 409, response.content
    assert words in response.json()["detail"]
    assert not Payout.objects.exists()


def test_a_second_reversal_and_a_refund_are_refused_while_a_reversal_is_in_flight(client):
    payment = received(client)
    assert ask_reversal(payment).status_code == 201

    again = ask_reversal(payment)
    assert again.status_code == 409
    assert "already has a reversal" in again.json()["detail"]
    refund = _refund(payment)
    assert refund.status_code == 409
    assert "reversal in progress" in refund.json()["detail"]
    assert Payout.objects.count() == 1


@pytest.mark.parametrize("refund_status", ["pending_approval", "completed"])
def test_a_payment_with_a_refund_reserved_or_paid_is_not_reversed(client, refund_status):
    payment = received(client)
    refund = _refund(payment)
    assert refund.status_code == 201
    if refund_status == "completed":  # a paid refund keeps its amount reserved, as the payment's refunds do
        Payout.objects.filter(pk=refund.json()["id"]).update(status="completed", transaction_id="SKR00PAID1")
    response = ask_reversal(payment)
    assert response.status_code == 409
    assert "refunded or reserved by refunds" in response.json()["detail"]
    assert Payout.objects.count() == 1


def test_the_same_idempotency_key_gives_the_same_reversal(client):
    payment = received(client)
    requester = make_requester()
    first = ask_reversal(payment, requester, HTTP_IDEMPOTENCY_KEY="rev-1")
    second = ask_reversal(payment, requester, HTTP_IDEMPOTENCY_KEY="rev-1")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Payout.objects.count() == 1


def test_a_bad_reason_is_a_400_and_stores_nothing(client):
    payment = received(client)
    response = api(make_requester()).post(f"/api/payments/{payment.pk}/reverse/", {"reason": ""}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    assert not Payout.objects.exists()


def test_a_rejected_reversal_gives_the_payment_its_amount_back(client):
    payment = received(client)
    created = ask_reversal(payment)
    rejected = api(make_approver("appr")).post(f"/api/payouts/{created.json()['id']}/reject/",
                                               {"reason": "Ask the customer first"}, format="json")
    assert rejected.json()["status"] == "rejected", rejected.content
    payment.refresh_from_db()
    assert (payment.status, payment.refundable_amount) == (PaymentStatus.COMPLETED, Decimal("1500.00"))
    assert _refund(payment).status_code == 201
