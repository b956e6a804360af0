"""Daraja callback bodies for a given payout, built from the documented samples (tests/fixtures/daraja_samples)."""

from __future__ import annotations

import copy

from payments.models import Payout
from tests.factories import sample


def _parameters(body: dict) -> list[dict]:
    return body["Result"]["ResultParameters"]["ResultParameter"]


def b2c_success_body(payout: Payout, *, receipt: str, conversation_id: str = "") -> dict:
    """The documented success Result, for this payout: its id, amount, phone, and the given receipt."""
    body = copy.deepcopy(sample("b2c_result_success"))
    result = body["Result"]
    result["OriginatorConversationID"] = payout.originator_conversation_id
    result["ConversationID"] = conversation_id or f"AG_20260101_{payout.pk:020d}"
    result["TransactionID"] = receipt
    values = {
        "TransactionAmount": float(payout.amount),
        "TransactionReceipt": receipt,
        "ReceiverPartyPublicName": f"{payout.phone} - JANE WANJIRU",
    }
    for parameter in _parameters(body):
        if parameter["Key"] in values:
            parameter["Value"] = values[parameter["Key"]]
    return body


def b2c_failure_body(payout: Payout, *, code: int = 2001, conversation_id: str = "") -> dict:
    body = copy.deepcopy(sample("b2c_result_failure"))
    result = body["Result"]
    result["OriginatorConversationID"] = payout.originator_conversation_id
    result["ConversationID"] = conversation_id or f"AG_20260101_{payout.pk:020d}"
    result["ResultCode"] = code
    return body


def timeout_echo_body(payout: Payout) -> dict:
    """What Safaricom posts to QueueTimeOutURL in one of its shapes: the original request echoed back."""
    body = copy.deepcopy(sample("b2c_request_v3"))
    body["OriginatorConversationID"] = payout.originator_conversation_id
    body["Amount"] = str(int(payout.amount))
    body["PartyB"] = payout.phone
    return body


def timeout_result_body(payout: Payout) -> dict:
    """The other shape: a `Result` envelope with ResultCode "1037"."""
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": "1037",
            "ResultDesc": "The request timed out in the M-Pesa queue.",
            "OriginatorConversationID": payout.originator_conversation_id,
            "ConversationID": f"AG_20260101_{payout.pk:020d}",
            "TransactionID": "",
        }
    }


def status_completed_body(payout: Payout, *, receipt: str) -> dict:
    """A Transaction Status Result saying the payment was completed (the simulator's shape)."""
    parameters = [
        {"Key": "ReceiptNo", "Value": receipt},
        {"Key": "Amount", "Value": float(payout.amount)},
        {"Key": "TransactionStatus", "Value": "Completed"},
        {"Key": "FinalisedTime", "Value": 20260101120000},
        {"Key": "InitiatedTime", "Value": 20260101115959},
        {"Key": "OriginatorConversationID", "Value": payout.originator_conversation_id},
        {"Key": "ConversationID", "Value": f"AG_20260101_{payout.pk:020d}"},
        {"Key": "ReceiverPartyPublicName", "Value": f"{payout.phone} - JANE WANJIRU"},
        {"Key": "DebitPartyName", "Value": "600992 - Payouts Ltd"},
        {"Key": "DebitPartyCharges", "Value": ""},
        {"Key": "ReasonType", "Value": "Business Payment to Customer via API"},
    ]
    return _status_envelope(payout, "0", "The service request is processed successfully.", parameters)


def status_failed_body(payout: Payout) -> dict:
    parameters = [
        {"Key": "TransactionStatus", "Value": "Failed"},
        {"Key": "TransactionReason", "Value": "The initiator information is invalid."},
        {"Key": "OriginatorConversationID", "Value": payout.originator_conversation_id},
        {"Key": "Amount", "Value": float(payout.amount)},
    ]
    return _status_envelope(payout, "0", "The service request is processed successfully.", parameters)


def status_not_found_body(payout: Payout) -> dict:
    return _status_envelope(payout, "R000002", "The transaction was not found.", None)


def _status_envelope(payout: Payout, code: str, description: str, parameters: list[dict] | None) -> dict:
    result = {
        "ResultType": 0,
        "ResultCode": code,
        "ResultDesc": description,
        "OriginatorConversationID": f"TS-{payout.pk}",
        "ConversationID": f"AG_20260101_TS{payout.pk:018d}",
        "TransactionID": "",
    }
    if parameters is not None:
        result["ResultParameters"] = {"ResultParameter": parameters}
    return {"Result": result}
