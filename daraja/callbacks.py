"""Parsing of the bodies Daraja posts to our callback URLs. Pure Python: no ORM, no Django models.

Reads Daraja defensively (docs/daraja.md): keys are looked up by name (order varies), codes come as numbers or
strings, ReferenceItem is an object or a list, TransactionCompletedDateTime is Nairobi time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.nairobi_time import NAIROBI
from daraja.result_codes import Namespace, classify, is_code_value

_CREDENTIAL_RE = re.compile(r'("(?:SecurityCredential|InitiatorPassword|Password)"\s*:\s*)"[^"]*"', re.IGNORECASE)


class CallbackParseError(ValueError):
    """The body is not something we can act on. The message is safe to return to the caller."""


def redact_secrets(raw: str) -> str:
    """Blank out credentials a QueueTimeOut body may echo back, before the body is stored or logged."""
    return _CREDENTIAL_RE.sub(r'\1"[REDACTED]"', raw)


def load_json(raw: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CallbackParseError(f"Body is not valid JSON: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise CallbackParseError("Body must be a JSON object.")
    return data


def _code(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    return str(value).strip()


def _result_code(container: dict[str, Any], where: str, *, required: bool = True) -> str:
    """The ResultCode, which must be a whole number or a code string: an object, a list, a boolean or an
    empty value is not a code, and a body carrying one is invalid (stored, answered 400, changes nothing)."""
    value = container.get("ResultCode")
    if value is None or (isinstance(value, str) and not value.strip()):
        if not required:
            return ""
        raise CallbackParseError(f"Missing field: {where}.ResultCode")
    if not is_code_value(value):
        raise CallbackParseError(f"Invalid field: {where}.ResultCode is not a number or a code string")
    return _code(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value).replace(",", ""))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


# What a payment's amount column holds (12 digits, 2 of them decimals). A larger amount, or one with parts of a
# cent, would fail when stored, after the 200 promise, and be retried for nothing: the body itself is invalid.
MAX_PAYMENT_AMOUNT = Decimal("9999999999.99")
_CENT = Decimal("0.01")


def _payment_amount(value: Any) -> Decimal | None:
    """A positive amount a payment can hold, to the cent; None for anything else ("1e20", NaN, 100.005)."""
    amount = _decimal(value)
    if amount is None or not (0 < amount <= MAX_PAYMENT_AMOUNT) or amount != amount.quantize(_CENT):
        return None
    return amount.quantize(_CENT)


def _key_values(container: Any, list_key: str, key_name: str = "Key") -> dict[str, Any]:
    """{"ResultParameter": [{"Key": k, "Value": v}, ...]} (or a single object) -> {k: v}."""
    if not isinstance(container, dict):
        return {}
    items = container.get(list_key)
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return {}
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and key_name in item:
            # Older API versions spell keys with spaces ("Originator Conversation ID"): read both spellings.
            key = str(item[key_name])
            out.setdefault(key.replace(" ", ""), item.get("Value"))
            out[key] = item.get("Value")
    return out


def parse_daraja_datetime(value: Any) -> datetime | None:
    """`dd.MM.yyyy HH:mm:ss`, `yyyymmddHHMMSS` or ISO 8601 (some integrations relay it so), Nairobi time unless
    it names its own offset, to an aware datetime (None if unreadable)."""
    text = _code(value)
    for fmt in ("%d.%m.%Y %H:%M:%S", "%Y%m%d%H%M%S", "%d-%m-%Y %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=NAIROBI)
        except ValueError:
            continue
    if "-" in text[:10]:  # ISO starts with a dated year; fromisoformat alone also reads bare digit strings
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=NAIROBI)
    return None


_CUSTOMER_NUMBER = re.compile(r"^(?:\+?254|0)?[17][0-9]{8}$")
# "<number> - <NAME>", also written without spaces ("254708374149-JOHN"); the number may be masked
# ("2547 ***** 149"). Without a digit before the dash it is a name ("MARY-JANE").
_NUMBERED_PARTY = re.compile(r"^(?=\+?[0-9*\s]*[0-9])(\+?[0-9*\s]+?)\s*-\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Party:
    """A party as a result names it: "254705912645 - NICHOLAS JOHN SONGOK", "600992 - Test Org",
    "2547 ***** 149 - J*** D**" or a bare name. `number` is what stands before the dash, as given."""

    number: str = ""
    name: str = ""

    @property
    def phone(self) -> str:
        """The number when it is shaped like a customer's mobile number: a paybill or till party ("490742 -
        FINGO AFRICA") names a shortcode, never a phone."""
        return self.number if _CUSTOMER_NUMBER.match(self.number) else ""

    def __bool__(self) -> bool:
        return bool(self.number or self.name)


def parse_party(value: Any) -> Party:
    text = _text(value)
    match = _NUMBERED_PARTY.match(text)
    if match:
        return Party(number=" ".join(match.group(1).split()), name=match.group(2).strip())
    return Party(name=text)


def _receiving_party(params: dict[str, Any], keys: tuple[str, ...]) -> Party:
    """The first of `keys` that names a party. Only the receiving side: DebitPartyName is the payer, and for
    a payout the payer is us, never the customer."""
    for key in keys:
        party = parse_party(params.get(key))
        if party:
            return party
    return Party()


def _result_envelope(data: dict[str, Any]) -> dict[str, Any]:
    result = data.get("Result")
    if not isinstance(result, dict):
        raise CallbackParseError("Missing field: Result")
    return result


def _require(result: dict[str, Any], name: str) -> str:
    value = _code(result.get(name))
    if not value:
        raise CallbackParseError(f"Missing field: Result.{name}")
    return value


@dataclass(frozen=True)
class B2CResult:
    originator_conversation_id: str
    conversation_id: str
    result_code: str
    result_description: str
    transaction_id: str = ""
    amount: Decimal | None = None
    receipt: str = ""
    receiver_phone: str = ""
    receiver_name: str = ""
    completed_at: datetime | None = None
    utility_funds: Decimal | None = None
    working_funds: Decimal | None = None

    @property
    def code_info(self):
        return classify(Namespace.B2C, self.result_code)

    @property
    def succeeded(self) -> bool:
        return self.code_info.is_success


def parse_b2c_result(data: dict[str, Any]) -> B2CResult:
    result = _result_envelope(data)
    ocid = _require(result, "OriginatorConversationID")
    code = _result_code(result, "Result")
    params = _key_values(result.get("ResultParameters"), "ResultParameter")
    receiver = _receiving_party(params, ("ReceiverPartyPublicName", "CreditPartyName"))
    succeeded = classify(Namespace.B2C, code).is_success
    # Only a success's receipt is trusted: a failure may carry a placeholder (OA00000000) shared by many.
    receipt = _text(params.get("TransactionReceipt")) if succeeded else ""
    return B2CResult(
        originator_conversation_id=ocid,
        conversation_id=_code(result.get("ConversationID")),
        result_code=code,
        result_description=_text(result.get("ResultDesc"))[:255],
        # On failures TransactionID may be a placeholder; only a success's receipt is trusted.
        transaction_id=receipt or (_text(result.get("TransactionID")) if succeeded else ""),
        # Only B2C's own key: a body with `Amount` (B2B-shaped) says nothing we can check this payout against.
        amount=_decimal(params.get("TransactionAmount")),
        receipt=receipt,
        receiver_phone=receiver.phone,
        receiver_name=receiver.name,
        completed_at=parse_daraja_datetime(params.get("TransactionCompletedDateTime")),
        utility_funds=_decimal(params.get("B2CUtilityAccountAvailableFunds")),
        working_funds=_decimal(params.get("B2CWorkingAccountAvailableFunds")),
    )


@dataclass(frozen=True)
class TimeoutNotice:
    """A QueueTimeOutURL post: either the original request echoed back, or a Result envelope."""

    originator_conversation_id: str
    result_code: str = ""
    result_description: str = ""
    # Of an echoed request without an OriginatorConversationID: whom and how much it asked to pay.
    party_b: str = ""
    amount: Decimal | None = None


_B2C_COMMANDS = frozenset({"BusinessPayment", "SalaryPayment", "PromotionPayment", "BusinessPayToPochi"})


def parse_timeout(data: dict[str, Any]) -> TimeoutNotice:
    """Both shapes normally carry the OriginatorConversationID (a v3 request always has one). Old-style bodies
    do not (v1 requests had none): the URL's token names the payout, so such a body is still a timeout when
    it is one of the two shapes in full, a Result with its code and description, or a B2C request echoed back
    with its CommandID, PartyB and Amount (checked against the payout by the caller). Anything less says
    nothing about any payout and is refused, so junk can never move a payout to `verifying`."""
    if isinstance(data.get("Result"), dict):
        result = data["Result"]
        ocid = _code(result.get("OriginatorConversationID"))
        code = _result_code(result, "Result", required=False)
        description = _text(result.get("ResultDesc"))[:255]
        if not ocid and not (code and description):
            raise CallbackParseError(
                "Missing field: Result.OriginatorConversationID (nor a ResultCode with its ResultDesc)"
            )
        return TimeoutNotice(originator_conversation_id=ocid, result_code=code, result_description=description)
    ocid = _code(data.get("OriginatorConversationID") or data.get("OriginalConversationID"))
    if ocid:
        return TimeoutNotice(originator_conversation_id=ocid)
    party_b, amount = _code(data.get("PartyB")), _decimal(data.get("Amount"))
    if _text(data.get("CommandID")) in _B2C_COMMANDS and party_b and amount is not None:
        return TimeoutNotice(originator_conversation_id="", party_b=party_b, amount=amount)
    raise CallbackParseError("Missing field: OriginatorConversationID (neither a Result nor an echoed request)")


def parse_balance_timeout(data: dict[str, Any]) -> TimeoutNotice:
    """A timeout at the Account Balance QueueTimeOutURL: a Result envelope, or our AccountBalance request
    echoed back (it has no OriginatorConversationID to name: the query is not bound to a payout)."""
    if isinstance(data.get("Result"), dict):
        result = data["Result"]
        return TimeoutNotice(
            originator_conversation_id=_code(result.get("OriginatorConversationID")),
            result_code=_result_code(result, "Result", required=False),
            result_description=_text(result.get("ResultDesc"))[:255],
        )
    if _text(data.get("CommandID")) == "AccountBalance":
        return TimeoutNotice(originator_conversation_id="")
    raise CallbackParseError("Neither a Result nor an echoed AccountBalance request")


@dataclass(frozen=True)
class StatusResult:
    """A Transaction Status answer. `original_conversation_id` is the payout's, when Daraja includes it."""

    result_code: str
    result_description: str
    query_originator_conversation_id: str
    original_conversation_id: str = ""
    conversation_id: str = ""
    transaction_status: str = ""
    receipt: str = ""
    amount: Decimal | None = None
    receiver_phone: str = ""
    receiver_name: str = ""
    finalised_at: datetime | None = None
    # DebitPartyCharges: what M-Pesa charged for the transaction (None when it says nothing).
    charges: Decimal | None = None
    # Who paid whom, and M-Pesa's name for the kind of transaction: a status answer may describe any
    # transaction that carries the receipt asked about, money in as well as out (settlement checks them).
    debit_party: Party = field(default_factory=Party)
    credit_party: Party = field(default_factory=Party)
    reason_type: str = ""

    @property
    def code_info(self):
        """The query's own ResultCode (B2C table): anything but success means the QUERY did not answer, so
        it never fails the payout."""
        return classify(Namespace.B2C, self.result_code)

    @property
    def found_completed(self) -> bool:
        return self.code_info.is_success and self.transaction_status.lower() == "completed"

    @property
    def found_failed(self) -> bool:
        return self.code_info.is_success and self.transaction_status.lower() in {
            "failed",
            "cancelled",
            "declined",
            "expired",
        }


def parse_status_result(data: dict[str, Any]) -> StatusResult:
    result = _result_envelope(data)
    code = _result_code(result, "Result")
    params = _key_values(result.get("ResultParameters"), "ResultParameter")
    credit = _receiving_party(params, ("CreditPartyName", "ReceiverPartyPublicName"))
    return StatusResult(
        result_code=code,
        result_description=_text(result.get("ResultDesc"))[:255],
        query_originator_conversation_id=_code(result.get("OriginatorConversationID")),
        # Not necessarily ours: Daraja's sample carries one it made ("3211-416020-3").
        original_conversation_id=_code(params.get("OriginatorConversationID")),
        conversation_id=_code(params.get("ConversationID")),
        transaction_status=_text(params.get("TransactionStatus")),
        receipt=_text(params.get("ReceiptNo")),
        amount=_decimal(params.get("Amount")),
        receiver_phone=credit.phone,
        receiver_name=credit.name,
        debit_party=parse_party(params.get("DebitPartyName")),
        credit_party=credit,
        reason_type=_text(params.get("ReasonType")),
        finalised_at=parse_daraja_datetime(params.get("FinalisedTime")),
        charges=parse_charges(params.get("DebitPartyCharges")),
    )


def parse_charges(value: Any) -> Decimal | None:
    """DebitPartyCharges: "" when none, a number, or "<name>|<currency>|<amount>" items separated by ";"
    ("Business Payment Charge|KES|15.00"). The total, or None when nothing in it is an amount."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return _decimal(value)
    total, found = Decimal("0"), False
    for item in _text(value).split(";"):
        amount = _decimal(item.split("|")[-1].strip()) if item.strip() else None
        if amount is not None and amount >= 0:
            total, found = total + amount, True
    return total if found else None


@dataclass(frozen=True)
class AccountBalance:
    result_code: str
    accounts: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    @property
    def utility_available(self) -> Decimal | None:
        return self.accounts.get("Utility Account", {}).get("available")

    @property
    def working_available(self) -> Decimal | None:
        return self.accounts.get("Working Account", {}).get("available")


def parse_balance_result(data: dict[str, Any]) -> AccountBalance:
    result = _result_envelope(data)
    code = _result_code(result, "Result")
    params = _key_values(result.get("ResultParameters"), "ResultParameter")
    accounts: dict[str, dict[str, Decimal]] = {}
    for entry in _text(params.get("AccountBalance")).split("&"):
        parts = entry.split("|")
        if len(parts) < 4:
            continue
        current, available = _decimal(parts[2]), _decimal(parts[3])
        if available is None:
            continue
        accounts[parts[0].strip()] = {"current": current or Decimal("0"), "available": available}
    if classify(Namespace.B2C, code).is_success and not accounts:
        raise CallbackParseError("Missing field: ResultParameters AccountBalance")
    return AccountBalance(result_code=code, accounts=accounts)


@dataclass(frozen=True)
class StkCallback:
    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_description: str
    amount: Decimal | None = None
    receipt: str = ""
    phone: str = ""
    transaction_date: datetime | None = None

    @property
    def code_info(self):
        return classify(Namespace.STK, self.result_code)

    @property
    def succeeded(self) -> bool:
        return self.code_info.is_success


def parse_stk_callback(data: dict[str, Any]) -> StkCallback:
    body = data.get("Body")
    callback = body.get("stkCallback") if isinstance(body, dict) else None
    if not isinstance(callback, dict):
        raise CallbackParseError("Missing field: Body.stkCallback")
    checkout = _code(callback.get("CheckoutRequestID"))
    if not checkout:
        raise CallbackParseError("Missing field: Body.stkCallback.CheckoutRequestID")
    code = _result_code(callback, "Body.stkCallback")
    items = _key_values(callback.get("CallbackMetadata"), "Item", key_name="Name")
    parsed = StkCallback(
        merchant_request_id=_code(callback.get("MerchantRequestID")),
        checkout_request_id=checkout,
        result_code=code,
        result_description=_text(callback.get("ResultDesc"))[:255],
        amount=_decimal(items.get("Amount")),
        receipt=_text(items.get("MpesaReceiptNumber")),
        phone=_code(items.get("PhoneNumber")),
        transaction_date=parse_daraja_datetime(items.get("TransactionDate")),
    )
    if parsed.succeeded and (not parsed.receipt or parsed.amount is None):
        raise CallbackParseError("A successful STK callback must carry MpesaReceiptNumber and Amount.")
    return parsed


@dataclass(frozen=True)
class C2BConfirmation:
    transaction_id: str
    amount: Decimal
    phone: str
    account_reference: str
    payer_name: str
    transaction_time: datetime | None
    transaction_type: str
    short_code: str


_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


def _payer_msisdn(value: Any) -> str:
    text = _text(value)
    return text.lower() if _SHA256_HEX.fullmatch(text) else text[:64]


def parse_c2b(data: dict[str, Any]) -> C2BConfirmation:
    trans_id = _text(data.get("TransID"))
    if not trans_id:
        raise CallbackParseError("Missing field: TransID")
    amount = _payment_amount(data.get("TransAmount"))
    if amount is None:
        raise CallbackParseError(
            "Missing or invalid field: TransAmount (a positive amount in shillings, at most "
            f"{MAX_PAYMENT_AMOUNT:,} with two decimals)"
        )
    names = (_text(data.get(k)) for k in ("FirstName", "MiddleName", "LastName"))
    return C2BConfirmation(
        transaction_id=trans_id[:32],
        amount=amount,
        # Kept whole: since 2025 confirmations may carry a 64-character SHA-256 hex instead of the number
        # (stored in lower case, so one spelling finds it).
        phone=_payer_msisdn(data.get("MSISDN")),
        account_reference=_text(data.get("BillRefNumber"))[:100],
        payer_name=" ".join(n for n in names if n)[:150],
        transaction_time=parse_daraja_datetime(data.get("TransTime")),
        transaction_type=_text(data.get("TransactionType")),
        short_code=_text(data.get("BusinessShortCode")),
    )
