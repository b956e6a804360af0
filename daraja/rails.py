"""Payout rails beyond B2C: the request bodies of paybill, till, Pochi and float top-up payments, and their
sending through the Daraja client (docs/daraja.md, "Payout rails").

| rail        | Daraja call                       | CommandID           | RecieverIdentifierType | names       |
| mobile      | B2C v3 (DarajaClient.b2c_payment) | BusinessPayment ... | -                      | phone       |
| paybill     | B2B /mpesa/b2b/v1/paymentrequest  | BusinessPayBill     | "4"                    | party_b, AR |
| till        | B2B                               | BusinessBuyGoods    | "2"                    | party_b     |
| pochi       | /mpesa/b2pochi/v1/paymentrequest  | BusinessPayToPochi  | -                      | phone       |
| float_topup | B2B                               | BusinessPayToBulk   | "4"                    | nothing     |

AR: the account reference (1-13 characters; required for a paybill, optional for a till). A float top-up pays
our own B2C shortcode's Utility account.

The builders are pure (config and arguments in, a dict out) and raise DarajaValidationError, with a message
a person can act on, before anything is sent. B2C and Pochi carry our own OriginatorConversationID; B2B and
top-up requests carry no caller id: Daraja's synchronous answer gives both ids (B2BAccepted), and only the
result callback (its URL's token) says what became of a request whose answer was lost. Nothing here resends.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from core.phone import mask_msisdn
from daraja.client import B2CAccepted, DarajaClient, _check_length, _check_msisdn, _whole_shillings, answer_ids
from daraja.config import DarajaConfig
from daraja.errors import DarajaConfigurationError, DarajaValidationError

logger = logging.getLogger(__name__)

B2B_PATH = "/mpesa/b2b/v1/paymentrequest"
POCHI_PATH = "/mpesa/b2pochi/v1/paymentrequest"
POCHI_COMMAND = "BusinessPayToPochi"


class Rail(StrEnum):
    MOBILE = "mobile"
    PAYBILL = "paybill"
    TILL = "till"
    POCHI = "pochi"
    FLOAT_TOPUP = "float_topup"


# The B2B rails: (CommandID, RecieverIdentifierType). "Reciever" is Daraja's spelling.
B2B_COMMANDS: dict[str, tuple[str, str]] = {
    Rail.PAYBILL: ("BusinessPayBill", "4"),
    Rail.TILL: ("BusinessBuyGoods", "2"),
    Rail.FLOAT_TOPUP: ("BusinessPayToBulk", "4"),
}
# The API operator role each rail needs on the M-Pesa org portal (docs/daraja.md prints the same table).
OPERATOR_ROLES: dict[str, str] = {
    Rail.MOBILE: "Org B2C API initiator",
    Rail.PAYBILL: "Org Business Pay Bill API initiator",
    Rail.TILL: "Org Business Buy Goods API initiator",
    Rail.POCHI: "Org B2C API initiator (with B2Pochi enabled on the Daraja app)",
    Rail.FLOAT_TOPUP: "Org Business Pay to Bulk API initiator",
}

_SHORTCODE = re.compile(r"^[0-9]{5,7}$")
ACCOUNT_REFERENCE_MAX = 13


@dataclass(frozen=True)
class B2BAccepted:
    """Daraja took a B2B (paybill, till, top-up) request. Both ids are Daraja's: the request had none."""

    rail: str
    conversation_id: str
    originator_conversation_id: str
    response_code: str
    response_description: str


# --- Request bodies (pure) ---------------------------------------------------------------------------------


def party_a_for(config: DarajaConfig, rail: str) -> str:
    """The shortcode a rail's payment is drawn from: its request's PartyA, and so the shortcode a Transaction
    Status query about it must name (M-Pesa finds a transaction only under the shortcode that made it).
    Paybill, till and Pochi: MPESA_B2B_SHORTCODE (else the B2C one); a top-up: MPESA_TOPUP_FROM_SHORTCODE (else
    the B2B one); mobile: the B2C shortcode. The builders below and the status query both read it here."""
    if rail == Rail.FLOAT_TOPUP:
        return config.topup_party_a
    if rail in (Rail.PAYBILL, Rail.TILL, Rail.POCHI):
        return config.b2b_party_a
    return config.b2c_shortcode


def check_party_b(party_b: str, rail: str = Rail.PAYBILL) -> str:
    """A paybill or till number: 5 to 7 digits."""
    value = (party_b or "").strip()
    if not _SHORTCODE.fullmatch(value):
        kind = "till" if rail == Rail.TILL else "paybill"
        raise DarajaValidationError("invalid_party_b", f"The {kind} number must be 5 to 7 digits")
    return value


def check_account_reference(account_reference: str, *, required: bool) -> str:
    """The account at the paybill (1 to 13 characters); a till's is optional."""
    value = (account_reference or "").strip()
    if not value and not required:
        return ""
    if not 1 <= len(value) <= ACCOUNT_REFERENCE_MAX:
        raise DarajaValidationError(
            "invalid_account_reference",
            f"The account reference must be 1 to {ACCOUNT_REFERENCE_MAX} characters long"
            + ("" if required else " (or empty)"),
        )
    return value


def b2b_payload(
    config: DarajaConfig,
    *,
    rail: str,
    amount: Decimal,
    remarks: str,
    result_url: str,
    timeout_url: str,
    party_b: str = "",
    account_reference: str = "",
    requester: str = "",
) -> dict[str, Any]:
    """The body of a paybill, till or float top-up request (a top-up names no party: it pays our own B2C
    shortcode's Utility account from MPESA_TOPUP_FROM_SHORTCODE's Working account)."""
    if rail not in B2B_COMMANDS:
        raise DarajaValidationError("invalid_rail", f"A B2B payment's rail must be one of {sorted(B2B_COMMANDS)}")
    command_id, receiver_type = B2B_COMMANDS[rail]
    shillings = _whole_shillings(amount)
    _check_length("Remarks", remarks, 2, 100)
    if requester:
        _check_msisdn(requester)
    if rail == Rail.FLOAT_TOPUP:
        if party_b:
            raise DarajaValidationError(
                "invalid_party_b", "A float top-up names no receiver: it always pays our own B2C shortcode"
            )
        _require(config, b2c_shortcode="B2C shortcode (MPESA_B2C_SHORTCODE)")
        party_b = config.b2c_shortcode
        account_reference = check_account_reference(account_reference, required=False)
    else:
        party_b = check_party_b(party_b, rail)
        account_reference = check_account_reference(account_reference, required=rail == Rail.PAYBILL)
    _require(config, initiator_name="initiator name", security_credential="security credential")
    party_a = party_a_for(config, rail)
    if not party_a:
        raise DarajaConfigurationError("missing_configuration", "Not configured: B2B shortcode (MPESA_B2B_SHORTCODE)")
    payload: dict[str, Any] = {
        "Initiator": config.initiator_name,
        "SecurityCredential": config.security_credential,
        "CommandID": command_id,
        "SenderIdentifierType": "4",
        "RecieverIdentifierType": receiver_type,  # sic: Daraja's spelling
        "Amount": str(shillings),
        "PartyA": party_a,
        "PartyB": party_b,
        "Remarks": remarks,
        "QueueTimeOutURL": timeout_url,
        "ResultURL": result_url,
    }
    if account_reference:
        payload["AccountReference"] = account_reference
    if requester:
        payload["Requester"] = requester
    return payload


def pochi_payload(
    config: DarajaConfig,
    *,
    originator_conversation_id: str,
    amount: Decimal,
    phone: str,
    remarks: str,
    result_url: str,
    timeout_url: str,
    occasion: str = "",
) -> dict[str, Any]:
    """The body of a B2Pochi payment: B2C-shaped, our own OriginatorConversationID, PartyB the trader's phone."""
    if not originator_conversation_id:
        raise DarajaValidationError("invalid_originator_conversation_id", "OriginatorConversationID is required")
    shillings = _whole_shillings(amount)
    _check_msisdn(phone)
    _check_length("Remarks", remarks, 2, 100)
    _check_length("Occasion", occasion, 0, 100)
    _require(config, initiator_name="initiator name", security_credential="security credential")
    party_a = party_a_for(config, Rail.POCHI)
    if not party_a:
        raise DarajaConfigurationError("missing_configuration", "Not configured: B2B shortcode (MPESA_B2B_SHORTCODE)")
    return {
        "OriginatorConversationID": originator_conversation_id,
        "InitiatorName": config.initiator_name,
        "SecurityCredential": config.security_credential,
        "CommandID": POCHI_COMMAND,
        "Amount": str(shillings),
        "PartyA": party_a,
        "PartyB": phone,
        "Remarks": remarks,
        "QueueTimeOutURL": timeout_url,
        "ResultURL": result_url,
        "Occassion": occasion,  # sic: Daraja's spelling
    }


def _require(config: DarajaConfig, **fields: str) -> None:
    missing = [label for name, label in fields.items() if not getattr(config, name)]
    if missing:
        raise DarajaConfigurationError("missing_configuration", f"Not configured: {', '.join(missing)}")


# --- Sending (one request, never resent) ---------------------------------------------------------------------


def pay_business(
    client: DarajaClient,
    *,
    rail: str,
    amount: Decimal,
    remarks: str,
    result_url: str,
    timeout_url: str,
    party_b: str = "",
    account_reference: str = "",
    requester: str = "",
) -> B2BAccepted:
    """Ask M-Pesa to pay a paybill or till, or to top up our B2C float. Acceptance is not payment: the result
    arrives at result_url. Raises DarajaNotSent / DarajaOutcomeUnknown as DarajaClient.b2c_payment does."""
    payload = b2b_payload(
        client.config,
        rail=rail,
        amount=amount,
        remarks=remarks,
        result_url=result_url,
        timeout_url=timeout_url,
        party_b=party_b,
        account_reference=account_reference,
        requester=requester,
    )
    context = f"b2b rail={rail} party_b={payload['PartyB']} amount={payload['Amount']}"
    body = client._call(product="b2c", path=B2B_PATH, payload=payload, context=context, required="ConversationID")
    accepted = B2BAccepted(rail=str(rail), **answer_ids(body))
    logger.info(
        "Daraja accepted %s conversation_id=%s originator_conversation_id=%s",
        context,
        accepted.conversation_id,
        accepted.originator_conversation_id,
    )
    return accepted


def top_up_float(
    client: DarajaClient, *, amount: Decimal, remarks: str, result_url: str, timeout_url: str
) -> B2BAccepted:
    """Move `amount` from MPESA_TOPUP_FROM_SHORTCODE's Working account into the B2C Utility account."""
    return pay_business(
        client, rail=Rail.FLOAT_TOPUP, amount=amount, remarks=remarks, result_url=result_url, timeout_url=timeout_url
    )


def pay_pochi(
    client: DarajaClient,
    *,
    originator_conversation_id: str,
    amount: Decimal,
    phone: str,
    remarks: str,
    result_url: str,
    timeout_url: str,
    occasion: str = "",
) -> B2CAccepted:
    """Ask M-Pesa to pay a Pochi la Biashara trader's phone; the result is a B2C result."""
    payload = pochi_payload(
        client.config,
        originator_conversation_id=originator_conversation_id,
        amount=amount,
        phone=phone,
        remarks=remarks,
        result_url=result_url,
        timeout_url=timeout_url,
        occasion=occasion,
    )
    context = f"pochi ocid={originator_conversation_id} phone={mask_msisdn(phone)} amount={payload['Amount']}"
    body = client._call(product="b2c", path=POCHI_PATH, payload=payload, context=context, required="ConversationID")
    accepted = B2CAccepted(**answer_ids(body, originator_conversation_id=originator_conversation_id))
    logger.info("Daraja accepted %s conversation_id=%s", context, accepted.conversation_id)
    return accepted
