"""Every money movement posts one balanced journal transaction, through the real routes: callbacks, the REST
API, the send. Each test fails on the code before the ledger (no ledger, no postings)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from ledger import accounts
from ledger.models import JournalTransaction
from payments.callbacks.tokens import static_token
from payments.models import Payment, PaymentStatus, Payout, PayoutStatus
from payments.payouts import dispatch
from tests.factories import b2c_result, make_approver, make_payment, make_payout, make_requester, sample
from tests.ledger.conftest import B2C, FLOAT, IN_FLIGHT, assert_balanced, balances, post_callback, postings, status_body
from tests.payments.factories import token_client as api

pytestmark = pytest.mark.django_db


def c2b_payment(client: Client, receipt="RKL51ZDR4F", amount="500.00") -> Payment:
    body = sample("c2b_confirmation")
    body.update(TransID=receipt, TransAmount=amount)
    assert post_callback(client, "c2b-confirmation", static_token("c2b"), body).status_code == 200
    return Payment.objects.get(receipt=receipt)


def refund_sent(client, daraja, amount="200") -> Payout:
    """A C2B payment, a refund requested and approved through the API, then sent."""
    payment = c2b_payment(client)
    requester, approver = make_requester(), make_approver()
    created = api(requester).post(f"/api/payments/{payment.pk}/refund/",
                                  {"amount": amount, "reason": "Double charge", "phone": "254712345678"},
                                  format="json")
    assert created.status_code == 201, created.content
    payout_id = created.json()["id"]
    assert api(approver).post(f"/api/payouts/{payout_id}/approve/", {}, format="json").status_code == 200
    assert dispatch.payout_send(payout_id=payout_id).outcome == "submitted"
    return Payout.objects.get(pk=payout_id)


def test_c2b_payment_posts_received_once_however_often_delivered(client):
    payment = c2b_payment(client)
    c2b_payment(client)  # delivered again
    tx = JournalTransaction.objects.get(payment_id=payment.pk)
    assert (tx.source, tx.kind) == ("payment", "received")
    assert balances()[accounts.MPESA_COLLECTIONS] == Decimal("500.00")
    assert balances()[accounts.PAYMENTS_RECEIVED] == Decimal("500.00")
    assert_balanced()


def test_stk_payment_posts_received_once(client):
    payment = make_payment(status=PaymentStatus.PENDING, receipt=None, amount=Decimal("1.00"),
                           checkout_request_id="ws_CO_191220191020363925", source="stk_push")
    for _ in range(2):
        post_callback(client, "stk", static_token("stk"), sample("stk_callback_success"))
    assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
    assert balances()[accounts.PAYMENTS_RECEIVED] == Decimal("1.00")


def test_cancelled_stk_posts_nothing(client):
    make_payment(status=PaymentStatus.PENDING, receipt=None, amount=Decimal("1.00"),
                 checkout_request_id="ws_CO_191220191020363925", source="stk_push")
    post_callback(client, "stk", static_token("stk"), sample("stk_callback_cancelled"))
    assert not JournalTransaction.objects.exists()


def test_refund_that_times_out_is_verified_and_completes(client, daraja):
    """The worked example of docs/ledger.md, step by step."""
    payout = refund_sent(client, daraja)
    assert [t.kind for t in postings(payout.pk)] == ["sent"]
    assert balances()[IN_FLIGHT] == Decimal("200.00")
    assert balances()[FLOAT] == Decimal("-200.00")  # no opening balance entered in this test

    timeout = {"Result": {"ResultType": 1, "ResultCode": "SFC_IC0003", "ResultDesc": "Request timed out",
                          "OriginatorConversationID": payout.originator_conversation_id}}
    post_callback(client, "b2c-timeout", payout.callback_token, timeout)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    assert [t.kind for t in postings(payout.pk)] == ["sent"]  # still in flight: nothing moves

    body = status_body(payout, charges="Business Payment Charge|KES|15.00")
    for _ in range(2):  # the status answer delivered twice
        assert post_callback(client, "status-result", payout.callback_token, body).status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    kinds = [t.kind for t in JournalTransaction.objects.filter(payout_id=payout.pk).order_by("id")]
    assert kinds == ["sent", "completed", "charge"]
    completed = postings(payout.pk, "completed")[0]
    assert completed.clears_id == postings(payout.pk, "sent")[0].pk
    now = balances()
    assert now[IN_FLIGHT] == Decimal("0.00")
    assert now[accounts.CUSTOMER_REFUNDS] == Decimal("200.00")
    assert now[accounts.MPESA_CHARGES] == Decimal("15.00")
    assert now[FLOAT] == Decimal("-215.00")
    assert_balanced()


def disbursement_sent(**fields) -> Payout:
    """A disbursement (KES 10 to the phone of the documented B2C result) approved and sent."""
    payout = make_payout(status=PayoutStatus.APPROVED, **fields)
    payout.approvals.create(approver=make_approver(), requested_by=payout.requested_by, amount=payout.amount,
                            phone=payout.phone, command_id=payout.command_id)
    assert dispatch.payout_send(payout_id=payout.pk).outcome == "submitted"
    return Payout.objects.get(pk=payout.pk)


def test_b2c_result_completes_a_disbursement_into_disbursements(client, daraja):
    payout = disbursement_sent()
    post_callback(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert [t.kind for t in postings(payout.pk)] == ["sent", "completed"]
    assert balances()[accounts.DISBURSEMENTS] == Decimal("10.00")
    assert balances()[IN_FLIGHT] == Decimal("0.00")
    assert_balanced()


def test_disbursement_accounts_by_command_id_as_configured(client, daraja, settings):
    settings.LEDGER_DISBURSEMENT_ACCOUNTS = {"SalaryPayment": "salaries"}
    payout = disbursement_sent(command_id="SalaryPayment")
    post_callback(client, "b2c-result", payout.callback_token, b2c_result(payout))
    assert balances()["salaries"] == Decimal("10.00")
    assert balances()[accounts.DISBURSEMENTS] == Decimal("0.00")


def test_final_failure_returns_the_money_to_the_float(client, daraja):
    payout = refund_sent(client, daraja)
    post_callback(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert [t.kind for t in postings(payout.pk)] == ["sent", "returned"]
    assert balances()[IN_FLIGHT] == Decimal("0.00")
    assert balances()[FLOAT] == Decimal("0.00")
    assert_balanced()


def test_late_success_after_failure_moves_it_back_into_flight(client, daraja):
    payout = refund_sent(client, daraja)
    post_callback(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))
    post_callback(client, "status-result", payout.callback_token, status_body(payout))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert [t.kind for t in postings(payout.pk)] == ["sent", "returned", "sent"]
    assert balances()[IN_FLIGHT] == Decimal("200.00")
    assert_balanced()


def test_an_answer_proving_nothing_was_sent_reverses_the_posting(client, daraja):
    payment = c2b_payment(client)
    requester, approver = make_requester(), make_approver()
    payout_id = api(requester).post(f"/api/payments/{payment.pk}/refund/",
                                    {"amount": "100", "reason": "Double charge", "phone": "254712345678"},
                                    format="json").json()["id"]
    api(approver).post(f"/api/payouts/{payout_id}/approve/", {}, format="json")
    daraja.replace(responses_post(), B2C, status=429,
                   json={"requestId": "r", "errorCode": "500.003.02", "errorMessage": "Spike arrest"})
    assert dispatch.payout_send(payout_id=payout_id).outcome == "retry"
    assert Payout.objects.get(pk=payout_id).status == PayoutStatus.APPROVED
    sent, unsent = postings(payout_id)
    assert (sent.kind, unsent.kind) == ("sent", "unsent")
    assert unsent.reverses_id == sent.pk
    assert balances()[IN_FLIGHT] == Decimal("0.00")
    assert balances()[FLOAT] == Decimal("0.00")


def responses_post():
    import responses

    return responses.POST


def test_charges_are_posted_once_per_receipt_even_from_two_status_answers(client, daraja):
    payout = refund_sent(client, daraja)
    body = status_body(payout, charges="Business Payment Charge|KES|15.00")
    post_callback(client, "status-result", payout.callback_token, body)
    post_callback(client, "status-result", payout.callback_token, body)
    assert JournalTransaction.objects.filter(kind="charge").count() == 1
    assert balances()[accounts.MPESA_CHARGES] == Decimal("15.00")


def test_a_rejected_payout_moves_no_money(client):
    payment = c2b_payment(client)
    requester, approver = make_requester(), make_approver()
    payout_id = api(requester).post(f"/api/payments/{payment.pk}/refund/",
                                    {"amount": "100", "reason": "Double charge", "phone": "254712345678"},
                                    format="json").json()["id"]
    rejected = api(approver).post(f"/api/payouts/{payout_id}/reject/", {"reason": "Not a real double charge"},
                                  format="json")
    assert rejected.status_code == 200
    assert postings(payout_id) == []
