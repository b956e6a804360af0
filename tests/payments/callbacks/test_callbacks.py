"""Daraja callbacks posted through the real URL routes, with the documented payloads and variants."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from payments.callbacks.tokens import static_token
from payments.models import (
    AuditEvent,
    CallbackOutcome,
    DarajaCallback,
    FloatBalance,
    Payout,
    PayoutKind,
    PayoutStatus,
)
from tests.factories import b2c_result, make_payment, make_payout, sample

pytestmark = pytest.mark.django_db


def post(client, name: str, token: str, body, **extra):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(
        reverse(f"callbacks:{name}", kwargs={"token": token}), data=raw, content_type="application/json", **extra
    )


# --- B2C results --------------------------------------------------------------------------------------


def test_success_result_completes_payout_with_receipt_and_records_float(client):
    payout = make_payout()
    response = post(client, "b2c-result", payout.callback_token, b2c_result(payout))

    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.transaction_id == "SG632NMUAB"
    assert payout.receiver_name == "NICHOLAS JOHN SONGOK"
    # 22:48:52 Nairobi time is 19:48:52 UTC.
    assert payout.mpesa_completed_at == datetime(2024, 7, 6, 19, 48, 52, tzinfo=UTC)
    assert payout.completed_at is not None
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.PROCESSED
    assert callback.payout == payout
    assert json.loads(callback.raw_body)["Result"]["TransactionID"] == "SG632NMUAB"
    assert FloatBalance.objects.get().utility_available == Decimal("8959269.60")
    event = AuditEvent.objects.get(payout=payout)
    assert (event.from_status, event.to_status, event.source) == ("submitted", "completed", "callback")
    assert event.callback == callback


def test_failure_result_fails_payout_with_code(client):
    payout = make_payout()
    response = post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))

    assert response.status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payout.result_code == "2001"
    assert payout.result_description == "The initiator information is invalid."
    # A failure's TransactionID may be a placeholder: it is not recorded as a receipt.
    assert payout.transaction_id is None


def test_failed_refund_gives_its_amount_back_to_the_payment(client):
    payment = make_payment(amount=Decimal("500"), refunded_amount=Decimal("200"))
    payout = make_payout(kind=PayoutKind.REFUND, payment=payment, amount=Decimal("200"))
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))

    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("0")
    assert payment.refundable_amount == Decimal("500")


@pytest.mark.parametrize("status", [PayoutStatus.SENDING, PayoutStatus.VERIFYING])
def test_result_settles_payout_still_sending_or_verifying(client, status):
    payout = make_payout(status=status)
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED


def test_result_that_beats_the_synchronous_answer_keeps_conversation_id(client):
    payout = make_payout(status=PayoutStatus.SENDING, conversation_id="")
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payout.refresh_from_db()
    assert payout.conversation_id == "AG_20240706_2010364430d9bbdaf872"


def test_codes_as_strings_and_reference_item_as_list_are_accepted(client):
    payout = make_payout()
    body = b2c_result(payout, ResultCode="0", ResultType="0")
    ref = body["Result"]["ReferenceData"]["ReferenceItem"]
    body["Result"]["ReferenceData"]["ReferenceItem"] = [ref, {"Key": "Other", "Value": "x"}]
    body["Result"]["ResultParameters"]["ResultParameter"].reverse()
    assert post(client, "b2c-result", payout.callback_token, body).status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED


def test_duplicate_result_makes_one_change_and_one_event(client):
    payout = make_payout()
    body = b2c_result(payout)
    responses = [post(client, "b2c-result", payout.callback_token, body) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert AuditEvent.objects.filter(payout=payout).count() == 1
    outcomes = sorted(DarajaCallback.objects.values_list("outcome", flat=True))
    assert outcomes == ["duplicate", "duplicate", "processed"]


def test_failure_after_success_does_not_leave_completed(client):
    payout = make_payout()
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    late = DarajaCallback.objects.order_by("-id").first()
    assert late.mismatch is True
    assert "contradicts" in late.error


def test_unknown_originator_conversation_id_is_stored_unmatched(client):
    payout = make_payout()
    body = b2c_result(payout, OriginatorConversationID="nobody-has-this-id")
    response = post(client, "b2c-result", payout.callback_token, body)

    assert response.status_code == 200
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.UNMATCHED
    assert callback.payout is None
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED


def test_one_payouts_url_cannot_settle_another(client):
    mine, other = make_payout(), make_payout()
    response = post(client, "b2c-result", mine.callback_token, b2c_result(other))

    assert response.status_code == 403
    other.refresh_from_db()
    mine.refresh_from_db()
    assert (mine.status, other.status) == (PayoutStatus.SUBMITTED, PayoutStatus.SUBMITTED)
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.REJECTED


@pytest.mark.parametrize(
    "override,problem",
    [
        ({"amount": Decimal("20.00")}, "M-Pesa paid KES 10"),
        ({"phone": "254711111111"}, "different phone number"),
    ],
)
def test_result_disagreeing_with_payout_goes_to_review(client, override, problem):
    payout = make_payout(**override)
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW
    assert problem in payout.review_reason
    assert DarajaCallback.objects.get().mismatch is True


def test_result_for_a_payout_never_sent_goes_to_review(client):
    payout = make_payout(status=PayoutStatus.PENDING_APPROVAL)
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.NEEDS_REVIEW


# --- Timeouts ---------------------------------------------------------------------------------------


def test_timeout_echoing_the_request_moves_to_verifying_and_redacts_credential(client):
    payout = make_payout()
    body = sample("b2c_request_v3")
    body["OriginatorConversationID"] = payout.originator_conversation_id
    body["SecurityCredential"] = "c2VjcmV0LWNpcGhlcnRleHQtdGhhdC1tdXN0LW5vdC1iZS1zdG9yZWQ="
    response = post(client, "b2c-timeout", payout.callback_token, body)

    assert response.status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    stored = DarajaCallback.objects.get().raw_body
    assert "c2VjcmV0" not in stored
    assert '"SecurityCredential": "[REDACTED]"' in stored


def test_timeout_as_result_envelope_moves_to_verifying_never_failed(client):
    payout = make_payout(status=PayoutStatus.SENDING)
    body = {"Result": {"ResultType": 1, "ResultCode": "SFC_IC0003", "ResultDesc": "Request timed out",
                       "OriginatorConversationID": payout.originator_conversation_id}}
    post(client, "b2c-timeout", payout.callback_token, body)
    post(client, "b2c-timeout", payout.callback_token, body)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    assert AuditEvent.objects.filter(payout=payout).count() == 1


def test_late_success_after_timeout_settles(client):
    payout = make_payout()
    post(client, "b2c-timeout", payout.callback_token, {"Result": {"ResultCode": 1, "ResultDesc": "timeout",
         "OriginatorConversationID": payout.originator_conversation_id}})
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED


# --- Transaction Status -------------------------------------------------------------------------------


def status_body(payout, *, code=0, status="Completed", receipt="SG632NMUAB", amount=10):
    params = [
        {"Key": "ReceiptNo", "Value": receipt},
        {"Key": "TransactionStatus", "Value": status},
        {"Key": "Amount", "Value": amount},
        {"Key": "FinalisedTime", "Value": 20240706224852},
        {"Key": "OriginatorConversationID", "Value": payout.originator_conversation_id},
        {"Key": "ReceiverPartyPublicName", "Value": f"{payout.phone} - NICHOLAS JOHN SONGOK"},
    ]
    return {"Result": {"ResultType": 0, "ResultCode": code, "ResultDesc": "The service request is processed",
                       "OriginatorConversationID": "status-query-ocid", "ConversationID": "AG_status",
                       "TransactionID": "OEI2AK4Q16", "ResultParameters": {"ResultParameter": params}}}


def test_status_result_completes_verifying_payout(client):
    payout = make_payout(status=PayoutStatus.VERIFYING)
    assert post(client, "status-result", payout.callback_token, status_body(payout)).status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.transaction_id == "SG632NMUAB"


def test_status_result_reporting_failure_fails_payout(client):
    payout = make_payout(status=PayoutStatus.VERIFYING)
    post(client, "status-result", payout.callback_token, status_body(payout, status="Failed", receipt=""))
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED


def test_status_not_found_leaves_payout_verifying(client):
    payout = make_payout(status=PayoutStatus.VERIFYING)
    body = {"Result": {"ResultType": 0, "ResultCode": 2032, "ResultDesc": "Transaction not found",
                       "OriginatorConversationID": "q", "ConversationID": "c"}}
    post(client, "status-result", payout.callback_token, body)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.VERIFYING
    assert "Status unknown" in DarajaCallback.objects.get().error


def test_status_result_and_b2c_result_together_make_one_change(client):
    payout = make_payout(status=PayoutStatus.VERIFYING)
    post(client, "status-result", payout.callback_token, status_body(payout))
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    assert AuditEvent.objects.filter(payout=payout).count() == 1
    assert DarajaCallback.objects.order_by("-id").first().outcome == CallbackOutcome.DUPLICATE


# --- Account balance ---------------------------------------------------------------------------------


def test_balance_result_records_utility_float(client):
    response = post(client, "balance-result", static_token("balance"), sample("account_balance_result"))
    assert response.status_code == 200
    balance = FloatBalance.objects.get()
    assert balance.utility_available == Decimal("228037.00")
    assert balance.working_available == Decimal("700000.00")


# --- Refusals and bad input -------------------------------------------------------------------------


def test_source_ip_not_allowed_is_403_and_logged_as_rejected(client, settings):
    settings.CALLBACK_ALLOWED_IPS = ["196.201.214.0/24"]
    payout = make_payout()
    response = post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    assert response.status_code == 403
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.REJECTED
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED


def test_forwarded_for_is_trusted_only_through_configured_proxies(client, settings):
    settings.CALLBACK_ALLOWED_IPS = ["196.201.214.200"]
    payout = make_payout()
    spoofed = {"HTTP_X_FORWARDED_FOR": "196.201.214.200"}
    assert post(client, "b2c-result", payout.callback_token, b2c_result(payout), **spoofed).status_code == 403
    settings.CALLBACK_TRUSTED_PROXY_COUNT = 1
    assert post(client, "b2c-result", payout.callback_token, b2c_result(payout), **spoofed).status_code == 200
    # With one proxy, only the address that proxy appended counts, not one the caller wrote before it.
    forged = {"HTTP_X_FORWARDED_FOR": "196.201.214.200, 10.0.0.9"}
    assert post(client, "b2c-result", payout.callback_token, b2c_result(payout), **forged).status_code == 403


def test_wildcard_allows_any_source(client, settings):
    settings.CALLBACK_ALLOWED_IPS = ["*"]
    payout = make_payout()
    assert post(client, "b2c-result", payout.callback_token, b2c_result(payout)).status_code == 200


@pytest.mark.parametrize("name", ["b2c-result", "status-result", "stk", "c2b-confirmation", "balance-result"])
def test_unknown_token_is_404_and_rejected(client, name):
    response = post(client, name, "0" * 40, {"Result": {}})
    assert response.status_code == 404
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.REJECTED


def test_unknown_payout_token_is_kept_with_its_body_and_settles_nothing(client):
    payout = make_payout()
    response = post(client, "b2c-result", "f" * 40, b2c_result(payout))
    assert response.status_code == 404
    callback = DarajaCallback.objects.get()
    assert (callback.outcome, callback.http_status, callback.payout_id) == (CallbackOutcome.REJECTED, 404, None)
    assert payout.originator_conversation_id in callback.raw_body  # the body is evidence
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED


def test_oversized_body_to_an_unknown_payout_url_is_404_before_413(client):
    body = json.dumps({"Result": {"pad": "x" * (65 * 1024)}})
    assert post(client, "b2c-result", "f" * 40, body).status_code == 404


def test_body_over_64kb_is_413(client):
    payout = make_payout()
    body = json.dumps({"Result": {"pad": "x" * (65 * 1024)}})
    response = post(client, "b2c-result", payout.callback_token, body)
    assert response.status_code == 413
    callback = DarajaCallback.objects.get()
    assert (callback.outcome, callback.raw_body) == (CallbackOutcome.REJECTED, "")


@pytest.mark.parametrize(
    "raw,message",
    [
        ("not json at all", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"Result": {"ResultCode": 0}}', "Result.OriginatorConversationID"),
        ('{"Something": "else"}', "Missing field: Result"),
    ],
)
def test_malformed_body_is_stored_invalid_and_answered_400(client, raw, message):
    payout = make_payout()
    response = post(client, "b2c-result", payout.callback_token, raw)
    assert response.status_code == 400
    assert message in response.json()["ResultDesc"]
    callback = DarajaCallback.objects.get()
    assert (callback.outcome, callback.raw_body) == (CallbackOutcome.INVALID, raw)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
    assert not AuditEvent.objects.exists()


def test_get_is_not_allowed(client):
    payout = make_payout()
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})
    assert client.get(url).status_code == 405


def test_callback_log_line_masks_phone_and_carries_ids(client, caplog):
    payout = make_payout()
    with caplog.at_level("INFO", logger="payments.callbacks"):
        post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    line = next(r.getMessage() for r in caplog.records if r.name == "payments.callbacks")
    assert "kind=b2c_result outcome=processed" in line
    assert payout.originator_conversation_id in line
    assert "2547****2645" in line
    assert "254705912645" not in line


def test_completed_payout_always_has_receipt_in_database():
    from django.db import IntegrityError, transaction

    payout = make_payout()
    with pytest.raises(IntegrityError), transaction.atomic():
        Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.COMPLETED)


def test_events_are_append_only():
    from payments.models import AppendOnlyError

    payout = make_payout()
    event = AuditEvent.objects.create(payout=payout, action="x", source="task")
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


def test_a_burst_of_results_records_one_float_reading(client):
    first, second = make_payout(), make_payout()
    post(client, "b2c-result", first.callback_token, b2c_result(first))
    body = b2c_result(second)
    body["Result"]["ResultParameters"]["ResultParameter"][1]["Value"] = "SG632NMUAC"
    post(client, "b2c-result", second.callback_token, body)
    second.refresh_from_db()
    assert second.status == PayoutStatus.COMPLETED
    assert FloatBalance.objects.count() == 1


@pytest.mark.parametrize("body", [{"Result": {}}, {"Result": {"ResultCode": 1}}, {"CommandID": "BusinessPayment"}])
def test_timeout_without_originator_conversation_id_is_invalid_and_changes_nothing(client, body):
    payout = make_payout()
    response = post(client, "b2c-timeout", payout.callback_token, body)
    assert response.status_code == 400
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUBMITTED
