"""Issue 15, part 1: only a result that proves no money moved fails a payout. Everything goes through the
real routes: Results posted to the callback URLs, refunds requested and approved through the REST API."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from notifications.models import Alert, Notification
from payments.models import (
    AuditEvent,
    CallbackOutcome,
    DarajaCallback,
    Payment,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutKind,
    PayoutStatus,
)
from payments.payouts import dispatch
from payments.payouts import services as payout_services
from tests.factories import b2c_result, make_approver, make_payment, make_payout, make_requester, sample
from tests.fake_daraja import B2C
from tests.payments.factories import token_client as api

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]


@pytest.fixture
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr("payments.payouts.services.queue_send", sent.append)
    return sent




def post(client, name: str, token: str, body):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(reverse(f"callbacks:{name}", kwargs={"token": token}), data=raw,
                       content_type="application/json")


def refund_in_flight(amount="1000", paid="1000", status=PayoutStatus.SUBMITTED) -> tuple[Payment, Payout]:
    payment = make_payment(amount=Decimal(paid), refunded_amount=Decimal(amount))
    payout = make_payout(kind=PayoutKind.REFUND, payment=payment, amount=Decimal(amount), status=status,
                         phone=payment.phone)
    return payment, payout


# --- The measured double refund -----------------------------------------------------------------------


def test_result_1037_for_a_paid_refund_does_not_free_the_money_for_a_second_refund(client, daraja, no_broker):
    """Measured in the review: refund, Result 1037, the refundable amount went back up, a second refund was
    requested and approved, and the customer was paid twice. Now 1037 proves nothing: the refund waits for
    a status query, keeps its reservation, and a second refund of the same money is refused."""
    requester, approver = make_requester(), make_approver()
    payment = make_payment(amount=Decimal("1000.00"))
    created = api(requester).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Order cancelled"},
                                  format="json")
    assert created.status_code == 201, created.content
    payout_id = created.json()["id"]
    assert api(approver).post(f"/api/payouts/{payout_id}/approve/", format="json").status_code == 200
    payout = Payout.objects.get(pk=payout_id)
    daraja.post(B2C, json={"ConversationID": "AG_1", "OriginatorConversationID": payout.originator_conversation_id,
                               "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully."})
    assert dispatch.payout_send(payout_id=payout_id).outcome == "submitted"

    body = b2c_result(payout, "b2c_result_failure", ResultCode=1037,
                      ResultDesc="DS timeout user cannot be reached")
    assert post(client, "b2c-result", payout.callback_token, body).status_code == 200

    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    assert payout.result_code == "1037"
    assert payment.refunded_amount == Decimal("1000.00")
    second = api(requester).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Refund again"}, format="json")
    assert second.status_code == 400, second.content
    assert Payout.objects.filter(payment=payment).count() == 1
    assert AuditEvent.objects.filter(payout=payout, action="result_unknown").count() == 1


# --- Unknown, final and invalid codes -------------------------------------------------------------------


@pytest.mark.parametrize("code", [15, "17", 1037, "19", "9999", "100000001", "R000002"])
def test_a_code_that_proves_nothing_moves_the_payout_to_verifying_and_keeps_the_reservation(client, code):
    payment, payout = refund_in_flight()
    response = post(client, "b2c-result", payout.callback_token,
                    b2c_result(payout, "b2c_result_failure", ResultCode=code))

    assert response.status_code == 200
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    assert payout.result_code == str(code)
    assert payment.refunded_amount == Decimal("1000.00")
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.PROCESSED
    assert "Transaction Status query settles" in callback.error


def test_an_unknown_code_for_a_payout_already_verifying_is_recorded_not_dropped(client):
    payment, payout = refund_in_flight(status=PayoutStatus.VERIFYING)
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure", ResultCode=17))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    event = AuditEvent.objects.get(payout=payout, action="result_unknown")
    assert event.details["result_code"] == "17"
    assert event.callback == DarajaCallback.objects.get()


@pytest.mark.parametrize("code", [1, "2", 2001, "2040", 8006, "SFC_IC0003", "sfc_ic0003"])
def test_a_final_failure_fails_the_payout_and_gives_the_refund_back(client, code):
    payment, payout = refund_in_flight()
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure", ResultCode=code))
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payment.refunded_amount == Decimal("0.00")


@pytest.mark.parametrize("code", [{"a": 1}, [1], True, False, "", "   ", 1.5])
def test_a_result_code_that_is_not_a_code_is_invalid_stored_and_changes_nothing(client, code):
    payment, payout = refund_in_flight()
    raw = json.dumps(b2c_result(payout, "b2c_result_failure", ResultCode=code))
    response = post(client, "b2c-result", payout.callback_token, raw)

    assert response.status_code == 400
    assert "ResultCode" in response.json()["ResultDesc"]
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
    assert payment.refunded_amount == Decimal("1000.00")
    callback = DarajaCallback.objects.get()
    assert (callback.outcome, callback.raw_body) == (CallbackOutcome.INVALID, raw)
    assert not AuditEvent.objects.filter(payout=payout).exists()


def test_a_status_answer_with_a_garbage_code_is_invalid(client):
    _payment, payout = refund_in_flight(status=PayoutStatus.VERIFYING)
    body = status_body(payout)
    body["Result"]["ResultCode"] = {"code": 0}
    assert post(client, "status-result", payout.callback_token, body).status_code == 400
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING


def test_a_failure_result_with_one_parameter_object_and_a_placeholder_transaction_id(client):
    """Real failures carry ResultParameter as a single object (BOCompletedTime) and a TransactionID such as
    OA00000000 shared by many failures: it is no receipt, so two such failures both fail cleanly."""
    payouts = [make_payout(), make_payout()]
    for payout in payouts:
        body = b2c_result(payout, "b2c_result_failure", ResultCode=2001, TransactionID="OA00000000")
        body["Result"]["ResultParameters"] = {"ResultParameter": {"Key": "BOCompletedTime", "Value": 20240706225241}}
        assert post(client, "b2c-result", payout.callback_token, body).status_code == 200
    for payout in payouts:
        payout.refresh_from_db()
        assert (payout.status, payout.transaction_id) == (PayoutStatus.FAILED, None)


# --- A success after a failure --------------------------------------------------------------------------


def test_success_for_a_failed_refund_goes_to_review_and_reserves_the_amount_again(client):
    payment, payout = refund_in_flight()
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("0.00")

    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert payout.transaction_id == "SG632NMUAB"
    assert "after it was recorded failed" in payout.review_reason
    assert "reserved on payment" in payout.review_reason
    assert payment.refunded_amount == Decimal("1000.00")
    assert payout.events.filter(action="success_after_failure", from_status="failed").count() == 1
    # The same success again is a duplicate, not a second reservation.
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("1000.00")


def test_success_for_a_failed_refund_whose_money_was_refunded_again_says_over_refund_and_alerts(
    client, settings
):
    settings.ADMIN_WHATSAPP_NUMBERS = ["+254700000111"]
    payment, payout = refund_in_flight()
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))
    # Another refund of the whole payment went out meanwhile.
    Payment.objects.filter(pk=payment.pk).update(refunded_amount=Decimal("1000.00"))
    make_payout(kind=PayoutKind.REFUND, payment=payment, amount=Decimal("1000.00"), status=PayoutStatus.COMPLETED,
                transaction_id="SECOND0001")

    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert "OVER-REFUND" in payout.review_reason
    assert payout.refund_unreserved is True
    assert payment.refunded_amount == Decimal("1000.00")
    alert = Notification.objects.get(alert=Alert.PAYOUT_NEEDS_REVIEW, payout=payout)
    assert "OVER-REFUND" in alert.body


# --- Transaction Status answers -------------------------------------------------------------------------


def status_body(payout, *, status="Completed", receipt="SG632NMUAB", amount=10, code=0, ocid="3211-416020-3",
                spaced=False, extra=()):
    names = {
        "ReceiptNo": receipt, "TransactionStatus": status, "Amount": amount,
        "FinalisedTime": 20240706224852, "OriginatorConversationID": ocid,
        "CreditPartyName": "254705912645 - NICHOLAS JOHN SONGOK", "DebitPartyName": "600992 - Test Org",
        **dict(extra),
    }
    spelled = {
        "ReceiptNo": "Receipt No", "TransactionStatus": "Transaction Status",
        "OriginatorConversationID": "Originator Conversation ID", "CreditPartyName": "Credit Party Name",
        "DebitPartyName": "Debit Party Name", "FinalisedTime": "Finalised Time", "ConversationID": "Conversation ID",
    }
    params = [{"Key": spelled.get(k, k) if spaced else k, "Value": v} for k, v in names.items()]
    return {"Result": {
        "ResultType": 0, "ResultCode": code, "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": "1236-7134259-1", "ConversationID": "AG_20240706_status",
        "TransactionID": "SG60000000", "ResultParameters": {"ResultParameter": params},
    }}  # fmt: skip


@pytest.mark.parametrize("spaced", [False, True])
def test_a_status_result_with_a_daraja_made_originator_id_settles_its_payout(client, spaced):
    payout = make_payout(status=PayoutStatus.VERIFYING)
    response = post(client, "status-result", payout.callback_token, status_body(payout, spaced=spaced))

    assert response.status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.transaction_id == "SG632NMUAB"
    assert payout.receiver_name == "NICHOLAS JOHN SONGOK"
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.PROCESSED and callback.payout == payout


@pytest.mark.parametrize("named", ["OriginatorConversationID", "ConversationID", "ReceiptNo"])
def test_a_status_result_naming_another_payouts_ids_is_refused(client, named):
    other = make_payout(status=PayoutStatus.COMPLETED, conversation_id="AG_other", transaction_id="OTHER00001")
    payout = make_payout(status=PayoutStatus.VERIFYING)
    value = {"OriginatorConversationID": other.originator_conversation_id, "ConversationID": "AG_other",
             "ReceiptNo": "OTHER00001"}[named]
    body = status_body(payout, **({"receipt": value} if named == "ReceiptNo" else {}),
                       **({"ocid": value} if named == "OriginatorConversationID" else {}),
                       extra=[("ConversationID", value)] if named == "ConversationID" else ())
    response = post(client, "status-result", payout.callback_token, body)

    assert response.status_code == 403
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.REJECTED


def test_a_paybill_credit_party_is_no_phone_and_the_payer_is_never_the_customer(client):
    # Issue 25: the payer (DebitPartyName) used to be read as the customer and this completed the payout;
    # it is money paid in to a paybill, so it goes to a person.
    payout = make_payout(status=PayoutStatus.VERIFYING)
    body = status_body(payout, extra=[("CreditPartyName", "490742 - FINGO AFRICA"),
                                      ("DebitPartyName", "254705912645 - NICHOLAS JOHN SONGOK")])
    post(client, "status-result", payout.callback_token, body)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert "names no phone number as the party paid" in payout.review_reason


def test_a_status_query_that_failed_never_fails_the_payout(client):
    payout = make_payout(status=PayoutStatus.VERIFYING)
    post(client, "status-result", payout.callback_token, status_body(payout, code=2001, status=""))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING


# --- STK: its own table ---------------------------------------------------------------------------------


def stk_payment(checkout="ws_CO_1"):
    return Payment.objects.create(source=PaymentSource.STK_PUSH, status=PaymentStatus.PENDING,
                                  phone="254708374149", amount=Decimal("1.00"), checkout_request_id=checkout)


def stk_body(code, checkout="ws_CO_1"):
    body = sample("stk_callback_cancelled")
    body["Body"]["stkCallback"]["CheckoutRequestID"] = checkout
    body["Body"]["stkCallback"]["ResultCode"] = code
    return body


def test_stk_17_is_rule_limited_and_fails_the_prompt(client):
    from payments.callbacks.tokens import static_token

    payment = stk_payment()
    assert post(client, "stk", static_token("stk"), stk_body(17)).status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.result_code) == (PaymentStatus.FAILED, "17")


def test_an_stk_code_not_in_its_table_leaves_the_payment_pending(client):
    from payments.callbacks.tokens import static_token

    payment = stk_payment()
    assert post(client, "stk", static_token("stk"), stk_body(4999)).status_code == 200
    payment.refresh_from_db()
    assert (payment.status, payment.result_code) == (PaymentStatus.PENDING, "4999")
    assert "not in the catalogue" in DarajaCallback.objects.get().error


# --- Synchronous answers --------------------------------------------------------------------------------


def test_404_001_03_after_the_refresh_fails_the_payout_once_as_configuration(daraja):
    payout = make_payout(status=PayoutStatus.APPROVED)
    payout.approvals.create(approver=make_approver(), requested_by=payout.requested_by, amount=payout.amount,
                            phone=payout.phone, command_id=payout.command_id)
    daraja.post(B2C, status=404, json={"requestId": "r", "errorCode": "404.001.03",
                                           "errorMessage": "Invalid Access Token"})

    assert dispatch.payout_send(payout_id=payout.pk).outcome == "failed"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payout.send_attempts == 1
    assert "lacks this product" in payout.result_description
    assert len([c for c in daraja.calls if c.request.url == B2C]) == 2  # the one refresh, no more


def test_a_synchronous_1_is_not_read_as_insufficient_balance_in_the_failure_alert(daraja, settings):
    """ResponseCode "1" in a synchronous answer is a declined request, not the B2C ResultCode 1."""
    settings.ADMIN_WHATSAPP_NUMBERS = ["+254700000111"]
    payout = make_payout(status=PayoutStatus.APPROVED)
    payout.approvals.create(approver=make_approver(), requested_by=payout.requested_by, amount=payout.amount,
                            phone=payout.phone, command_id=payout.command_id)
    daraja.post(B2C, json={"ResponseCode": "1", "ResponseDescription": "Request declined"})

    assert dispatch.payout_send(payout_id=payout.pk).outcome == "failed"
    alert = Notification.objects.get(alert=Alert.PAYOUT_FAILED, payout=payout)
    assert "balance too low" not in alert.body
    assert "Daraja declined the request with code 1" in alert.body


def test_success_for_a_failed_payout_already_requested_again_says_it_may_be_paid_twice(client):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    retry = payout_services.payout_request_again(payout_id=payout.pk, requested_by=make_requester(), source="api")

    post(client, "b2c-result", payout.callback_token, b2c_result(payout))  # M-Pesa: it was paid after all
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert f"PAID TWICE? It was requested again as payout #{retry.pk}, which is pending_approval" in (
        payout.review_reason
    )
