"""Parsing of the results of the payout rails beyond B2C (docs/daraja.md, "Payout rails"). Pure Python.

A B2B result (paybill, till, float top-up) is not a B2C result: its parameters are `Amount`,
`TransCompletedTime` (yyyyMMddHHmmss), `DebitPartyCharges` (may be empty), `ReceiverPartyPublicName`
("888880 - Biller Name": a shortcode, never a phone), the paying account's balance in two shapes
(`DebitAccountBalance` / `InitiatorAccountCurrentBalance` as "{Amount={CurrencyCode=KES, MinimumAmount=618683,
BasicAmount=6186.83}}", `DebitPartyAffectedAccountBalance` as "Working Account|KES|current|available|reserved|
uncleared"), and `ReferenceData` carries `BillReferenceNumber`. A failure may carry `ResultParameter` as one
object and a placeholder `TransactionID` (OAK0000000), which is never a receipt. A Pochi result is a B2C
result: `parse_rail_result` reads it with daraja.callbacks.parse_b2c_result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from daraja.callbacks import (
    B2CResult,
    CallbackParseError,
    TimeoutNotice,
    _code,
    _decimal,
    _key_values,
    _result_code,
    _result_envelope,
    _text,
    parse_b2c_result,
    parse_charges,
    parse_daraja_datetime,
    parse_party,
)
from daraja.result_codes import RAIL_NAMESPACES, Namespace, ResultCodeInfo, classify

# A placeholder many failures share: two or three letters, then only zeros (OA00000000, OAK0000000).
_PLACEHOLDER = re.compile(r"^[A-Z]{2,3}0{7,8}$")
_BASIC_AMOUNT = re.compile(r"BasicAmount\s*=\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)")
_MINIMUM_AMOUNT = re.compile(r"MinimumAmount\s*=\s*(-?[0-9]+)")
_CENTS = Decimal("100")


def is_placeholder_receipt(value: Any) -> bool:
    """Whether a TransactionID is a placeholder (OAK0000000), not a receipt of any transaction."""
    return bool(_PLACEHOLDER.fullmatch(_text(value).upper()))


@dataclass(frozen=True)
class AccountReading:
    """One "Account|Currency|current|available|reserved|uncleared" entry."""

    account: str
    currency: str
    current: Decimal | None
    available: Decimal | None
    reserved: Decimal | None = None
    uncleared: Decimal | None = None


def parse_account_reading(value: Any) -> AccountReading | None:
    """ "Working Account|KES|346568.83|6186.83|340382.00|0.00" -> its parts (None if it is not that shape)."""
    parts = [part.strip() for part in _text(value).split("|")]
    if len(parts) < 4 or not parts[0]:
        return None
    amounts = [_decimal(part) for part in parts[2:6]] + [None] * (6 - len(parts))
    if amounts[1] is None:
        return None
    return AccountReading(parts[0], parts[1], *amounts[:4])


def parse_amount_form(value: Any) -> Decimal | None:
    """ "{Amount={CurrencyCode=KES, MinimumAmount=618683, BasicAmount=6186.83}}" -> 6186.83 (BasicAmount; else
    MinimumAmount, which is in cents). None when neither is there."""
    text = _text(value)
    basic = _BASIC_AMOUNT.search(text)
    if basic:
        return _decimal(basic.group(1))
    minimum = _MINIMUM_AMOUNT.search(text)
    return Decimal(minimum.group(1)) / _CENTS if minimum else None


@dataclass(frozen=True)
class B2BResult:
    originator_conversation_id: str
    conversation_id: str
    result_code: str
    result_description: str
    receipt: str | None = None  # None for a failure and for a placeholder TransactionID
    amount: Decimal | None = None
    completed_at: datetime | None = None
    charges: Decimal | None = None  # DebitPartyCharges; None when empty
    receiver_number: str = ""  # the paybill or till ("888880" of "888880 - Biller Name")
    receiver_name: str = ""
    # The paying (Working) account's available balance after the payment: DebitPartyAffectedAccountBalance's
    # available amount, else the BasicAmount of DebitAccountBalance or InitiatorAccountCurrentBalance.
    working_balance: Decimal | None = None
    affected_account: AccountReading | None = None
    bill_reference: str = ""  # ReferenceData BillReferenceNumber
    currency: str = ""

    @property
    def code_info(self) -> ResultCodeInfo:
        return classify(Namespace.B2B, self.result_code)

    @property
    def succeeded(self) -> bool:
        return self.code_info.is_success


def parse_b2b_result(data: dict[str, Any]) -> B2BResult:
    """A B2B Result. Raises CallbackParseError (safe to answer) when it is not one we can act on."""
    result = _result_envelope(data)
    code = _result_code(result, "Result")
    ocid, conversation = _code(result.get("OriginatorConversationID")), _code(result.get("ConversationID"))
    if not ocid and not conversation:
        raise CallbackParseError("Missing field: Result.OriginatorConversationID (nor a ConversationID)")
    params = _key_values(result.get("ResultParameters"), "ResultParameter")
    references = _key_values(result.get("ReferenceData"), "ReferenceItem")
    succeeded = classify(Namespace.B2B, code).is_success
    transaction_id = _text(result.get("TransactionID"))
    receiver = parse_party(params.get("ReceiverPartyPublicName"))
    affected = parse_account_reading(params.get("DebitPartyAffectedAccountBalance"))
    return B2BResult(
        originator_conversation_id=ocid,
        conversation_id=conversation,
        result_code=code,
        result_description=_text(result.get("ResultDesc"))[:255],
        # Only a success's TransactionID is a receipt, and never a placeholder.
        receipt=transaction_id if succeeded and transaction_id and not is_placeholder_receipt(transaction_id) else None,
        amount=_decimal(params.get("Amount")),
        completed_at=parse_daraja_datetime(params.get("TransCompletedTime") or params.get("BOCompletedTime")),
        charges=parse_charges(params.get("DebitPartyCharges")),
        receiver_number=receiver.number,
        receiver_name=receiver.name,
        working_balance=_working_balance(params, affected),
        affected_account=affected,
        bill_reference=_text(references.get("BillReferenceNumber")),
        currency=_text(params.get("Currency")),
    )


def _working_balance(params: dict[str, Any], affected: AccountReading | None) -> Decimal | None:
    if affected is not None and affected.account.lower().startswith("working"):
        return affected.available
    for key in ("DebitAccountBalance", "InitiatorAccountCurrentBalance"):
        amount = parse_amount_form(params.get(key))
        if amount is not None:
            return amount
    return None


_B2B_COMMANDS = frozenset({"BusinessPayBill", "BusinessBuyGoods", "BusinessPayToBulk"})


def parse_b2b_timeout(data: dict[str, Any]) -> TimeoutNotice:
    """A post to a B2B request's QueueTimeOutURL: a Result envelope, or our request echoed back. The request
    carried no id of ours, so an echo is bound by the URL's token and is a timeout only when it is a whole B2B
    request (CommandID, PartyB, Amount: the caller checks them against the payout). Never a failure."""
    if isinstance(data.get("Result"), dict):
        result = data["Result"]
        notice = TimeoutNotice(
            originator_conversation_id=_code(result.get("OriginatorConversationID")),
            result_code=_result_code(result, "Result", required=False),
            result_description=_text(result.get("ResultDesc"))[:255],
        )
        if not notice.originator_conversation_id and not (notice.result_code and notice.result_description):
            raise CallbackParseError(
                "Missing field: Result.OriginatorConversationID (nor a ResultCode with its ResultDesc)"
            )
        return notice
    party_b, amount = _code(data.get("PartyB")), _decimal(data.get("Amount"))
    if _text(data.get("CommandID")) in _B2B_COMMANDS and party_b and amount is not None:
        return TimeoutNotice(originator_conversation_id="", party_b=party_b, amount=amount)
    raise CallbackParseError("Neither a Result nor an echoed B2B request (CommandID, PartyB and Amount)")


def parse_rail_result(rail: str, data: dict[str, Any]) -> B2CResult | B2BResult:
    """A payout's result, read as its rail's Daraja product writes it (Pochi: a B2C result)."""
    namespace = RAIL_NAMESPACES.get(str(rail))
    if namespace is None:
        raise ValueError(f"Unknown payout rail {rail!r}")
    return parse_b2c_result(data) if namespace == Namespace.B2C else parse_b2b_result(data)
