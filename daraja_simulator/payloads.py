"""Daraja-shaped bodies and identifiers, modelled on the documented payloads
(tests/fixtures/daraja_samples/)."""

from __future__ import annotations

import hashlib
import random
import secrets
import string
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.nairobi_time import NAIROBI
from daraja_simulator.ledger import B2BRecord, PaymentRecord

B2C_REFERENCE = {
    "Key": "QueueTimeoutURL",
    "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit",
}
BALANCE_REFERENCE = {
    "Key": "QueueTimeoutURL",
    "Value": "https://internalsandbox.safaricom.co.ke/mpesa/abresults/v1/submit",
}
REASON_TYPES = {
    "BusinessPayment": "Business Payment to Customer via API",
    "SalaryPayment": "Salary Payment via API",
    "PromotionPayment": "Promotion Payment via API",
}
# A B2B payment's ReasonType in a status answer (undocumented: the simulator's choice, docs/simulator.md).
B2B_REASON_TYPES = {
    "BusinessPayBill": "Business Pay Bill",
    "BusinessBuyGoods": "Business Buy Goods",
    "BusinessPayToBulk": "Business To Business Transfer",
}
_NAMES = ("JANE WANJIKU DOE", "JOHN OTIENO DOE", "MARY AKINYI ROE", "PETER KAMAU ROE", "GRACE CHEBET DOE")
_UPPER = string.ascii_uppercase + string.digits


def now() -> datetime:
    return datetime.now(NAIROBI)


def receipt() -> str:
    """An M-Pesa-like receipt: "SIM" and seven random upper-case letters or digits."""
    return "SIM" + "".join(secrets.choice(_UPPER) for _ in range(7))


def conversation_id() -> str:
    return f"AG_{now():%Y%m%d}_{secrets.token_hex(10)}"


def originator_id() -> str:
    """The id Daraja makes up for requests that bring none (status and balance queries)."""
    return f"{random.randint(10000, 99999)}-{random.randint(10_000_000, 99_999_999)}-1"


def request_id() -> str:
    return f"{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(8)}"


def checkout_request_id() -> str:
    return f"ws_CO_{now():%d%m%Y%H%M%S}{random.randint(100_000_000, 999_999_999)}"


def public_name(phone: str) -> str:
    return f"{phone} - {_NAMES[int(phone[-4:] or 0) % len(_NAMES)]}"


def compact_time(moment: datetime) -> str:
    return f"{moment.astimezone(NAIROBI):%Y%m%d%H%M%S}"


def error_body(code: str, message: str) -> dict[str, str]:
    """Daraja's synchronous error shape (samples/b2c_response_error.json)."""
    return {"requestId": request_id(), "errorCode": code, "errorMessage": message}


def accepted_body(conversation: str, originator: str) -> dict[str, str]:
    return {
        "ConversationID": conversation,
        "OriginatorConversationID": originator,
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }


def _money(value: Decimal | int) -> float:
    # Daraja sends these as JSON numbers (8959269.60 in the sample), not strings.
    return float(Decimal(value).quantize(Decimal("0.01")))


def b2c_result(record: PaymentRecord) -> dict[str, Any]:
    """The Result posted to ResultURL: samples/b2c_result_success.json or b2c_result_failure.json."""
    result: dict[str, Any] = {
        "ResultType": 0,
        "ResultCode": int(record.result_code) if record.result_code.isdigit() else record.result_code,
        "ResultDesc": record.result_desc,
        "OriginatorConversationID": record.originator_conversation_id,
        "ConversationID": record.conversation_id,
        "TransactionID": record.transaction_id,
    }
    if record.paid:
        completed = datetime.fromisoformat(record.completed_at).astimezone(NAIROBI)
        parameters = [
            {"Key": "TransactionAmount", "Value": record.amount},
            {"Key": "TransactionReceipt", "Value": record.transaction_id},
            {"Key": "ReceiverPartyPublicName", "Value": public_name(record.phone)},
            {"Key": "TransactionCompletedDateTime", "Value": f"{completed:%d.%m.%Y %H:%M:%S}"},
            {"Key": "B2CUtilityAccountAvailableFunds", "Value": _money(Decimal(record.utility_balance_after))},
            {"Key": "B2CWorkingAccountAvailableFunds", "Value": _money(Decimal(record.working_balance_after or 0))},
            {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
            {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": _money(0)},
        ]
        # Daraja's order varies: shuffling makes an integrator that reads by position fail here, not in production.
        random.shuffle(parameters)
        result["ResultParameters"] = {"ResultParameter": parameters}
    result["ReferenceData"] = {"ReferenceItem": dict(B2C_REFERENCE)}
    return {"Result": result}


def reported_result(record: PaymentRecord, *, code: str, desc: str) -> dict[str, Any]:
    """A failure-shaped Result carrying `code` for a request M-Pesa in fact paid (15 Duplicate Detected,
    17 Internal Failure): no ResultParameters; only a status query shows the payment."""
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": int(code) if code.isdigit() else code,
            "ResultDesc": desc,
            "OriginatorConversationID": record.originator_conversation_id,
            "ConversationID": record.conversation_id,
            "TransactionID": record.transaction_id,
            "ReferenceData": {"ReferenceItem": dict(B2C_REFERENCE)},
        }
    }


PLACEHOLDER_TRANSACTION_ID = "OA00000000"


def single_parameter_failure(record: PaymentRecord) -> dict[str, Any]:
    """A failure as some real ones look: ResultParameter is one object (BOCompletedTime), not a list, and
    TransactionID is a placeholder many failures share."""
    body = b2c_result(record)
    body["Result"]["TransactionID"] = PLACEHOLDER_TRANSACTION_ID
    body["Result"]["ResultParameters"] = {
        "ResultParameter": {"Key": "BOCompletedTime", "Value": int(compact_time(now()))}
    }
    return body


def c2b_confirmation(
    *, shortcode: str, amount: int, msisdn: str, bill_ref: str, receipt_no: str, hashed: bool
) -> dict[str, Any]:
    """samples/c2b_confirmation.json for a simulated payment. The MSISDN is masked as in the sample, or
    (hashed) the 64-character SHA-256 hex of the number, as real confirmations carry it since 2025."""
    shown = hashlib.sha256(msisdn.encode()).hexdigest() if hashed else f"{msisdn[:4]} ***** {msisdn[-3:]}"
    return {
        "TransactionType": "Pay Bill",
        "TransID": receipt_no,
        "TransTime": compact_time(now()),
        "TransAmount": f"{amount:.2f}",
        "BusinessShortCode": shortcode,
        "BillRefNumber": bill_ref,
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": shown,
        "FirstName": "SIMULATED",
        "MiddleName": "",
        "LastName": "",
    }


def timeout_result(record: PaymentRecord) -> dict[str, Any]:
    """The Result-envelope form of a queue timeout (the simulator's choice; see docs/simulator.md)."""
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": "1037",
            "ResultDesc": "The request timed out in the M-Pesa queue.",
            "OriginatorConversationID": record.originator_conversation_id,
            "ConversationID": record.conversation_id,
            "TransactionID": record.transaction_id,
            "ReferenceData": {"ReferenceItem": dict(B2C_REFERENCE)},
        }
    }


def status_result(
    *, query_originator: str, query_conversation: str, record: PaymentRecord | B2BRecord | None, occasion: str
) -> dict[str, Any]:
    """The Transaction Status Result: the query's own ids in the envelope, the payment's in the parameters (a
    B2B payment's: its paybill, till or our B2C shortcode as the credit party, from the Working account)."""
    envelope: dict[str, Any] = {
        "ResultType": "0",
        "OriginatorConversationID": query_originator,
        "ConversationID": query_conversation,
    }
    if record is None or record.outcome not in ("paid", "failed"):
        # Not found: nothing with that id reached M-Pesa (or it timed out in the queue unprocessed).
        envelope.update(
            ResultCode="R000002",
            ResultDesc="The transaction was not found: no request with this OriginalConversationID was processed.",
            TransactionID="",
        )
        return {"Result": envelope}
    completed = datetime.fromisoformat(record.completed_at)
    if isinstance(record, B2BRecord):
        received = datetime.fromisoformat(record.received_at or record.completed_at)
        credit, account = f"{record.party_b} - {record.receiver_name}", "Working Account"
        reason = B2B_REASON_TYPES.get(record.command_id, B2B_REASON_TYPES["BusinessPayToBulk"])
    else:
        received = datetime.fromisoformat(record.received_at[0]) if record.received_at else completed
        credit, account = public_name(record.phone), "Utility Account"
        reason = REASON_TYPES.get(record.command_id, REASON_TYPES["BusinessPayment"])
    parameters = [
        {"Key": "DebitPartyName", "Value": f"{record.party_a} - SIMULATED B2C ORGANISATION"},
        {"Key": "CreditPartyName", "Value": credit},
        {"Key": "ReceiverPartyPublicName", "Value": credit},
        {"Key": "OriginatorConversationID", "Value": record.originator_conversation_id},
        {"Key": "InitiatedTime", "Value": int(compact_time(received))},
        {"Key": "DebitAccountType", "Value": account},
        {"Key": "DebitPartyCharges", "Value": ""},
        {"Key": "TransactionReason", "Value": "" if record.paid else record.result_desc},
        {"Key": "ReasonType", "Value": reason},
        {"Key": "TransactionStatus", "Value": "Completed" if record.paid else "Failed"},
        {"Key": "FinalisedTime", "Value": int(compact_time(completed))},
        {"Key": "Amount", "Value": _money(record.amount)},
        {"Key": "ConversationID", "Value": record.conversation_id},
        {"Key": "ReceiptNo", "Value": record.transaction_id},
    ]
    envelope.update(
        ResultCode="0",
        ResultDesc="The service request is processed successfully.",
        TransactionID=record.transaction_id,
        ResultParameters={"ResultParameter": parameters},
        ReferenceData={"ReferenceItem": {"Key": "Occasion", "Value": occasion}},
    )
    return {"Result": envelope}


def balance_result(
    *, originator: str, conversation: str, utility_balance: Decimal, working_balance: Decimal = Decimal(0)
) -> dict[str, Any]:
    """samples/account_balance_result.json with the simulator's Utility float and Working account."""
    utility, working = f"{utility_balance:.2f}", f"{working_balance:.2f}"
    accounts = "&".join(
        (
            f"Working Account|KES|{working}|{working}|0.00|0.00",
            "Float Account|KES|0.00|0.00|0.00|0.00",
            f"Utility Account|KES|{utility}|{utility}|0.00|0.00",
            "Charges Paid Account|KES|0.00|0.00|0.00|0.00",
            "Organization Settlement Account|KES|0.00|0.00|0.00|0.00",
        )
    )
    return {
        "Result": {
            "ResultType": "0",
            "ResultCode": "0",
            "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": originator,
            "ConversationID": conversation,
            "TransactionID": receipt(),
            "ResultParameters": {
                "ResultParameter": [
                    {"Key": "AccountBalance", "Value": accounts},
                    {"Key": "BOCompletedTime", "Value": compact_time(now())},
                ]
            },
            "ReferenceData": {"ReferenceItem": dict(BALANCE_REFERENCE)},
        }
    }


def credential_failure(*, originator: str, conversation: str) -> dict[str, Any]:
    """What a query with a SecurityCredential that does not decrypt gets back (Result 2001)."""
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": 2001,
            "ResultDesc": "The initiator information is invalid.",
            "OriginatorConversationID": originator,
            "ConversationID": conversation,
            "TransactionID": receipt(),
            "ReferenceData": {"ReferenceItem": dict(B2C_REFERENCE)},
        }
    }


def stk_callback(
    *, merchant_request: str, checkout_request: str, code: int, desc: str, amount: int, phone: str, receipt_no: str
) -> dict[str, Any]:
    """samples/stk_callback_success.json / stk_callback_cancelled.json."""
    callback: dict[str, Any] = {
        "MerchantRequestID": merchant_request,
        "CheckoutRequestID": checkout_request,
        "ResultCode": code,
        "ResultDesc": desc,
    }
    if code == 0:
        callback["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": float(amount)},
                {"Name": "MpesaReceiptNumber", "Value": receipt_no},
                {"Name": "Balance"},  # Daraja sends some Items without a Value
                {"Name": "TransactionDate", "Value": int(compact_time(now()))},
                {"Name": "PhoneNumber", "Value": int(phone)},
            ]
        }
    return {"Body": {"stkCallback": callback}}
