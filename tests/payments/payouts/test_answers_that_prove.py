"""Issue 25: only an answer that proves money moved for THIS payout completes it. Every body is posted through
the real callback URLs; the third-party bodies are in tests/fixtures/third_party/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from ledger import selectors as ledger_selectors
from payments.callbacks.tokens import static_token
from payments.models import (
    AuditEvent,
    DarajaCallback,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutKind,
    PayoutStatus,
)
from payments.payouts import dispatch
from tests.factories import b2c_result, make_approver, make_payment, make_payout, make_requester, sample, third_party
from tests.fake_daraja import B2C
from tests.payments.factories import token_client as api

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_daraja_settings")]

PHONE = "254708374149"  # the customer the third-party bodies name


def post(client, name: str, token: str, body):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(reverse(f"callbacks:{name}", kwargs={"token": token}), data=raw, content_type="application/json")




def customer_refunds() -> Decimal:
    lines = {line.code: line.balance for line in ledger_selectors.trial_balance().lines}
    return lines.get("customer_refunds", Decimal("0"))


# --- 1. A Transaction Status answer must be about this payout's payment ---------------------------------


def test_a_status_answer_carrying_the_refunded_payments_own_receipt_does_not_complete_the_refund(client):
    """Measured: the refund completed with the customer's own C2B receipt, debited customer refunds and kept
    the reservation. The answer says the customer paid us: it proves nothing about the refund."""
    payment = make_payment(receipt="TCB7QJ0R9X", phone=PHONE, amount=Decimal("50.00"), refunded_amount=Decimal("50.00"))
    refund = make_payout(
        kind=PayoutKind.REFUND, payment=payment, phone=PHONE, amount=Decimal("50.00"), status=PayoutStatus.VERIFYING
    )

    response = post(client, "status-result", refund.callback_token, third_party("status_incoming_c2b_receipt"))

    assert response.status_code == 200
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == PayoutStatus.NEEDS_REVIEW
    assert refund.transaction_id is None  # the payment's receipt is not pinned on the refund
    assert f"incoming payment #{payment.pk}" in refund.review_reason
    assert "payer (debit party) is a customer" in refund.review_reason
    assert 'ReasonType "Pay Bill" describes money paid in' in refund.review_reason
    assert payment.refunded_amount == Decimal("50.00")  # still reserved until a person decides
    assert customer_refunds() == Decimal("0")
    assert DarajaCallback.objects.get().mismatch is True


@pytest.mark.parametrize(
    ("body", "amount", "phone", "expected", "reason"),
    [
        ("status_b2b_transfer", "22000.00", "254705912645", PayoutStatus.NEEDS_REVIEW,
         "payer (debit party) is 000000, not our B2C shortcode"),
        ("status_pay_bill_online", "10.00", PHONE, PayoutStatus.NEEDS_REVIEW,
         "names no phone number as the party paid"),
        ("status_b2c_payment", "10.00", PHONE, PayoutStatus.COMPLETED, ""),
    ],
)  # fmt: skip
def test_a_status_answer_completes_a_payout_only_when_it_shows_our_money_going_to_the_payouts_phone(
    client, body, amount, phone, expected, reason
):
    payout = make_payout(status=PayoutStatus.VERIFYING, amount=Decimal(amount), phone=phone)

    assert post(client, "status-result", payout.callback_token, third_party(body)).status_code == 200

    payout.refresh_from_db()
    assert payout.status == expected
    assert reason in payout.review_reason
    if expected == PayoutStatus.COMPLETED:
        assert payout.transaction_id == "SG632NMUAB"
        assert payout.receiver_name == "JOHN OTIENO DOE"
    else:
        assert payout.transaction_id is None


def test_a_status_answer_whose_payer_is_the_customer_is_never_read_as_the_one_paid(client):
    """DebitPartyName is the payer: a customer there, with a paybill as the credit party, is money in."""
    payout = make_payout(status=PayoutStatus.VERIFYING, amount=Decimal("10.00"), phone=PHONE)
    body = third_party("status_b2c_payment")
    parameters = body["Result"]["ResultParameters"]["ResultParameter"]
    for parameter in parameters:
        if parameter["Key"] == "DebitPartyName":
            parameter["Value"] = f"{PHONE} - JOHN OTIENO DOE"
        elif parameter["Key"] == "CreditPartyName":
            parameter["Value"] = "490742 - FINGO AFRICA"

    post(client, "status-result", payout.callback_token, body)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert payout.receiver_name == "FINGO AFRICA"  # who the answer says was paid, shown to the reviewer
    assert "payer (debit party) is a customer" in payout.review_reason


# --- 2. Code 26 proves nothing ------------------------------------------------------------------------


def test_result_26_keeps_the_refund_verifying_and_its_reservation_so_a_second_refund_is_refused(
    client, daraja, monkeypatch
):
    """Measured: 26 failed the refund and freed its reservation; a second refund of the same payment was
    requested and approved, and the late success of the first ended as OVER-REFUND."""
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)
    requester, approver = make_requester(), make_approver()
    payment = make_payment(amount=Decimal("1000.00"))
    created = api(requester).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Order cancelled"}, format="json")
    assert created.status_code == 201, created.content
    payout_id = created.json()["id"]
    assert api(approver).post(f"/api/payouts/{payout_id}/approve/", format="json").status_code == 200
    payout = Payout.objects.get(pk=payout_id)
    daraja.post(
        B2C,
        json={
            "ConversationID": "AG_1",
            "OriginatorConversationID": payout.originator_conversation_id,
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        },
    )
    assert dispatch.payout_send(payout_id=payout_id).outcome == "submitted"

    body = b2c_result(
        payout, "b2c_result_failure", ResultCode=26, ResultDesc="System is busy. Please try again in few minutes."
    )
    assert post(client, "b2c-result", payout.callback_token, body).status_code == 200

    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    assert payment.refunded_amount == Decimal("1000.00")
    assert payout.pk in set(dispatch.payouts_due_for_status_query())
    second = api(requester).post(f"/api/payments/{payment.pk}/refund/", {"reason": "Refund again"}, format="json")
    assert second.status_code == 400, second.content
    assert Payout.objects.filter(payment=payment).count() == 1


# --- 3. A success that does not say how much ----------------------------------------------------------


def _without_amount(shape: str, payout: Payout) -> dict:
    body = b2c_result(payout)
    parameters = body["Result"]["ResultParameters"]["ResultParameter"]
    receipt = {"Key": "TransactionReceipt", "Value": "SG632NMUAB"}
    if shape == "one_object":
        body["Result"]["ResultParameters"]["ResultParameter"] = receipt
    elif shape == "bare_list":
        body["Result"]["ResultParameters"] = [receipt, parameters[2]]
    elif shape == "absent":
        del body["Result"]["ResultParameters"]
    elif shape == "string":
        body["Result"]["ResultParameters"] = "TransactionAmount=500, TransactionReceipt=SG632NMUAB"
    return body


@pytest.mark.parametrize("shape", ["one_object", "bare_list", "absent", "string", "b2b_shaped"])
def test_a_success_without_an_amount_we_can_read_waits_for_a_status_query(client, shape):
    """Measured: a KES 500 payout completed on a body saying 190.00 under B2B's `Amount`; a string
    ResultParameters (issue 24, finding 10) completed one unchecked."""
    payment = make_payment(amount=Decimal("500.00"), refunded_amount=Decimal("500.00"))
    payout = make_payout(kind=PayoutKind.REFUND, payment=payment, amount=Decimal("500.00"), phone=payment.phone)
    if shape == "b2b_shaped":
        body = third_party("b2c_result_b2b_shaped_amount")
        body["Result"]["OriginatorConversationID"] = payout.originator_conversation_id
    else:
        body = _without_amount(shape, payout)

    assert post(client, "b2c-result", payout.callback_token, body).status_code == 200

    payout.refresh_from_db()
    payment.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    assert payout.transaction_id is None
    assert payment.refunded_amount == Decimal("500.00")
    assert payout.pk in set(dispatch.payouts_due_for_status_query())
    assert "without an amount we can read" in DarajaCallback.objects.get().error
    assert AuditEvent.objects.filter(payout=payout, action="result_unknown").count() == 1


def test_a_status_answer_then_settles_a_payout_whose_result_said_no_amount(client):
    payout = make_payout(amount=Decimal("10.00"), phone=PHONE)
    post(client, "b2c-result", payout.callback_token, _without_amount("absent", payout))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING

    post(client, "status-result", payout.callback_token, third_party("status_b2c_payment"))

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.transaction_id == "SG632NMUAB"


# --- 4. Smaller answers read wrongly ------------------------------------------------------------------


def test_an_stk_callback_with_sfc_ic0003_fails_the_payment(client):
    """The push was refused (the number is not M-Pesa's): nobody was prompted, so the payment is failed, not
    left pending for ever."""
    payment = make_payment(
        status=PaymentStatus.PENDING, receipt=None, source=PaymentSource.STK_PUSH, checkout_request_id="ws_CO_SFC"
    )
    body = sample("stk_callback_cancelled")
    body["Body"]["stkCallback"].update(
        CheckoutRequestID="ws_CO_SFC", ResultCode="SFC_IC0003", ResultDesc="The operator does not exist"
    )

    assert post(client, "stk", static_token("stk"), body).status_code == 200

    payment.refresh_from_db()
    assert (payment.status, payment.result_code) == (PaymentStatus.FAILED, "SFC_IC0003")


def test_a_masked_receiver_name_is_kept(client):
    payout = make_payout(amount=Decimal("10.00"))
    body = third_party("b2c_result_masked_name")
    body["Result"]["OriginatorConversationID"] = payout.originator_conversation_id

    assert post(client, "b2c-result", payout.callback_token, body).status_code == 200

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.receiver_name == "J*** D**"


@pytest.mark.parametrize(
    "public_name", ["254705912645 - NICHOLAS SONGOK", "254705912645-NICHOLAS SONGOK", "NICHOLAS SONGOK"]
)
def test_the_receiver_name_never_holds_the_phone_whichever_way_it_is_written(client, public_name):
    payout = make_payout()
    body = b2c_result(payout)
    for parameter in body["Result"]["ResultParameters"]["ResultParameter"]:
        if parameter["Key"] == "ReceiverPartyPublicName":
            parameter["Value"] = public_name

    post(client, "b2c-result", payout.callback_token, body)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.receiver_name == "NICHOLAS SONGOK"


def test_an_iso_transaction_completed_time_is_read(client):
    payout = make_payout(amount=Decimal("10.00"))
    body = third_party("b2c_result_iso_time")
    body["Result"]["OriginatorConversationID"] = payout.originator_conversation_id

    post(client, "b2c-result", payout.callback_token, body)

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.mpesa_completed_at == datetime(2025, 4, 2, 6, 15, 42, tzinfo=UTC)  # 09:15:42 in Nairobi


OLD_STYLE_TIMEOUTS = {
    "result": {"Result": {"ResultType": 1, "ResultCode": 1, "ResultDesc": "The service request timed out.",
                          "ConversationID": "AG_20190322_000056e3ab5cc0b7e8b6", "TransactionID": "MCM1DRZF1B"}},
    "echoed_v1_request": {"InitiatorName": "testapi", "SecurityCredential": "c2VjcmV0LWNyZWQ=",
                          "CommandID": "BusinessPayment", "Amount": "10", "PartyA": "600992",
                          "PartyB": "254705912645", "Remarks": "Trainer payout",
                          "QueueTimeOutURL": "https://example.test/callbacks/b2c/timeout/x/",
                          "ResultURL": "https://example.test/callbacks/b2c/result/x/", "Occasion": ""},
}  # fmt: skip


@pytest.mark.parametrize("shape", sorted(OLD_STYLE_TIMEOUTS))
def test_an_old_style_timeout_without_the_request_id_is_stored_and_treated_as_a_timeout(client, shape):
    payout = make_payout(amount=Decimal("10.00"), phone="254705912645")

    response = post(client, "b2c-timeout", payout.callback_token, OLD_STYLE_TIMEOUTS[shape])

    assert response.status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING  # a status query settles it, never failed
    assert payout.pk in set(dispatch.payouts_due_for_status_query())
    callback = DarajaCallback.objects.get()
    assert callback.payout == payout
    assert "c2VjcmV0LWNyZWQ=" not in callback.raw_body


def test_an_echoed_request_without_the_request_id_for_another_payment_changes_nothing(client):
    payout = make_payout(amount=Decimal("10.00"), phone="254705912645")
    body = {**OLD_STYLE_TIMEOUTS["echoed_v1_request"], "PartyB": "254711000111"}

    response = post(client, "b2c-timeout", payout.callback_token, body)

    assert response.status_code == 403
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
    assert DarajaCallback.objects.get().raw_body  # stored all the same
