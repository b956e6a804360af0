"""Reversal of a C2B receipt (money a customer paid us, sent back to them): the request and its result.

The request carries no id of ours: the synchronous answer gives Daraja's OriginatorConversationID and
ConversationID, and the result comes to the per-reversal ResultURL (a token in the URL binds it). If that
answer is lost, only the result callback or a person with the org portal can say what happened: never send a
reversal again on a lost answer. B2C payouts cannot be reversed through the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from daraja.callbacks import (
    CallbackParseError,
    Party,
    _code,
    _decimal,
    _key_values,
    _require,
    _result_code,
    _result_envelope,
    _text,
    parse_daraja_datetime,
    parse_party,
)
from daraja.client import DarajaClient, Product, _check_length, _whole_shillings, answer_ids
from daraja.errors import DarajaConfigurationError, DarajaValidationError
from daraja.rail_results import parse_b2b_timeout
from daraja.result_codes import Namespace, ResultCodeInfo, classify

REVERSAL_PATH = "/mpesa/reversal/v1/request"
ALREADY_REVERSED = "R000001"
_RECEIPT = re.compile(r"^[A-Z0-9]{8,20}$")
_SHORTCODE = re.compile(r"^[0-9]{5,7}$")


@dataclass(frozen=True)
class ReversalAccepted:
    """Daraja took the reversal in (not done yet): its ids are what the result will carry."""

    conversation_id: str
    originator_conversation_id: str
    response_code: str
    response_description: str


def reversal_payload(
    *,
    transaction_id: str,
    amount: Decimal,
    receiver_party: str,
    remarks: str,
    result_url: str,
    timeout_url: str,
    initiator_name: str,
    security_credential: str,
) -> dict[str, str]:
    """The request body (samples: reversal_request.json), checked before anything is sent."""
    receipt = (transaction_id or "").strip().upper()
    if not _RECEIPT.match(receipt):
        raise DarajaValidationError("invalid_transaction_id", "TransactionID must be an M-Pesa receipt (A-Z, 0-9)")
    if not _SHORTCODE.match(receiver_party or ""):
        raise DarajaValidationError("invalid_receiver_party", "ReceiverParty must be the shortcode (5-7 digits)")
    shillings = _whole_shillings(amount)
    _check_length("Remarks", remarks, 2, 100)
    if not initiator_name or not security_credential:
        raise DarajaConfigurationError(
            "missing_configuration", "Not configured: the reversal initiator's name and security credential"
        )
    return {
        "Initiator": initiator_name,
        "SecurityCredential": security_credential,
        "CommandID": "TransactionReversal",
        "TransactionID": receipt,
        "Amount": str(shillings),
        "ReceiverParty": receiver_party,
        "RecieverIdentifierType": "11",  # sic: Daraja's spelling; 11 = the organisation's shortcode
        "ResultURL": result_url,
        "QueueTimeOutURL": timeout_url,
        "Remarks": remarks,
    }


def reversal_request(
    client: DarajaClient,
    *,
    transaction_id: str,
    amount: Decimal,
    receiver_party: str,
    remarks: str,
    result_url: str,
    timeout_url: str,
    initiator_name: str = "",
    security_credential: str = "",
    product: Product = "stk",
) -> ReversalAccepted:
    """Ask M-Pesa to send receipt `transaction_id` back to its payer. The initiator (role "Org Reversals
    Initiator") defaults to the configured one; `product` is the Daraja app of the shortcode that was paid (the
    STK/C2B app unless told). Errors raise as for B2C: DarajaNotSent proves it was not received,
    DarajaOutcomeUnknown does not (then only the result or the portal tells)."""
    payload = reversal_payload(
        transaction_id=transaction_id,
        amount=amount,
        receiver_party=receiver_party,
        remarks=remarks,
        result_url=result_url,
        timeout_url=timeout_url,
        initiator_name=initiator_name or client.config.initiator_name,
        security_credential=security_credential or client.config.security_credential,
    )
    context = f"reversal receipt={payload['TransactionID']} amount={payload['Amount']}"
    body = client.request(
        product=product, path=REVERSAL_PATH, payload=payload, context=context, required="ConversationID"
    )
    return ReversalAccepted(**answer_ids(body))


class ReversalOutcome(StrEnum):
    COMPLETED = "completed"  # the money is back with the payer (0, or R000001: already reversed)
    FAILED = "failed"  # a code that proves nothing was reversed (R000002, 8006, ...)
    UNKNOWN = "unknown"  # anything else: it may or may not have been reversed


@dataclass(frozen=True)
class ReversalResult:
    originator_conversation_id: str
    conversation_id: str
    result_code: str
    result_description: str
    outcome: ReversalOutcome
    already_reversed: bool = False  # R000001: completed by an earlier reversal, worth a person's look
    transaction_id: str = ""  # the reversal's own receipt (success only: a failure's is a placeholder)
    original_transaction_id: str = ""
    amount: Decimal | None = None
    charge: Decimal | None = None
    credit_party: Party = Party()  # who got the money back: "254705912645 - NICHOLAS JOHN SONGOK"
    completed_at: datetime | None = None

    @property
    def code_info(self) -> ResultCodeInfo:
        return classify(Namespace.REVERSAL, self.result_code)


def parse_reversal_result(data: dict[str, Any]) -> ReversalResult:
    """A Reversal result (samples: reversal_result_success.json, reversal_result_invalid.json). Raises
    CallbackParseError for a body that is not one (no Result, no ids, a ResultCode that is not a code)."""
    result = _result_envelope(data)
    ocid = _require(result, "OriginatorConversationID")
    code = _result_code(result, "Result")
    info = classify(Namespace.REVERSAL, code)
    outcome = _outcome(info)
    params = _key_values(result.get("ResultParameters"), "ResultParameter")
    completed = outcome is ReversalOutcome.COMPLETED
    return ReversalResult(
        originator_conversation_id=ocid,
        conversation_id=_code(result.get("ConversationID")),
        result_code=info.code,
        result_description=_text(result.get("ResultDesc")),
        outcome=outcome,
        already_reversed=info.code == ALREADY_REVERSED,
        transaction_id=_text(result.get("TransactionID")) if completed and info.code == "0" else "",
        original_transaction_id=_text(params.get("OriginalTransactionID")),
        amount=_decimal(params.get("Amount")),
        charge=_decimal(params.get("Charge")),
        credit_party=parse_party(params.get("CreditPartyPublicName")),
        completed_at=parse_daraja_datetime(params.get("TransCompletedTime")),
    )


def _outcome(info: ResultCodeInfo) -> ReversalOutcome:
    if info.is_success:
        return ReversalOutcome.COMPLETED
    if info.is_final_failure:
        return ReversalOutcome.FAILED
    return ReversalOutcome.UNKNOWN


@dataclass(frozen=True)
class ReversalTimeout:
    """A post to a reversal's QueueTimeOutURL: a Result envelope (its ids and code), or our request echoed back
    (the receipt and amount it asked to reverse, which the caller checks against the payout). Never a failure:
    the reversal may still happen."""

    originator_conversation_id: str = ""
    result_code: str = ""
    result_description: str = ""
    transaction_id: str = ""
    amount: Decimal | None = None


def parse_reversal_timeout(data: dict[str, Any]) -> ReversalTimeout:
    """Raises CallbackParseError for a body that is neither a Result envelope nor a whole reversal request."""
    if isinstance(data.get("Result"), dict):
        notice = parse_b2b_timeout(data)  # the same envelope as a B2B request's timeout
        return ReversalTimeout(notice.originator_conversation_id, notice.result_code, notice.result_description)
    receipt, amount = _text(data.get("TransactionID")).strip().upper(), _decimal(data.get("Amount"))
    if _text(data.get("CommandID")) == "TransactionReversal" and receipt and amount is not None:
        return ReversalTimeout(transaction_id=receipt, amount=amount)
    raise CallbackParseError("Neither a Result nor an echoed reversal request (CommandID, TransactionID, Amount)")
