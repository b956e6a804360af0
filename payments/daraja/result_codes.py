"""Every result and error code in REFERENCE.md, with what an operator should read and do.

`retryable` means: the condition is transient, so a later attempt may succeed without anyone acting. For a
B2C payout a later attempt is always a NEW request with a new OriginatorConversationID, made only after a
status query has shown that the first one did not pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class ResultCodeInfo:
    code: str
    meaning: str
    retryable: bool
    admin_message: str
    action: str


SUCCESS = "0"

_SETTLE_FIRST = "Check the payout with a Transaction Status query before doing anything else"


def _entry(code: str, meaning: str, retryable: bool, admin_message: str, action: str) -> ResultCodeInfo:
    return ResultCodeInfo(code=code, meaning=meaning, retryable=retryable, admin_message=admin_message, action=action)


_ENTRIES = (
    # --- Result codes of B2C results (and, where noted, STK callbacks) ---------------------------------
    _entry("0", "Success", False, "Completed successfully", "None"),
    _entry(
        "1",
        "Insufficient balance (B2C: our utility account; STK: the customer's M-Pesa balance)",
        False,
        "B2C utility account balance too low",
        "Top up the B2C utility account, then request a new payout",
    ),
    _entry(
        "2",
        "Declined: amount below the minimum transaction value",
        False,
        "Amount is below the M-Pesa minimum per transaction",
        "Request a new payout of at least the minimum (KES 10)",
    ),
    _entry(
        "3",
        "Declined: amount above the maximum transaction value",
        False,
        "Amount is above the M-Pesa maximum per transaction",
        "Split the amount into payouts below the per-transaction maximum (KES 250,000)",
    ),
    _entry(
        "4",
        "Declined: the customer's daily transaction limit is reached",
        False,
        "The recipient has reached their daily M-Pesa limit",
        "Request a new payout tomorrow, or pay by another method",
    ),
    _entry(
        "8",
        "Declined: the customer's account would exceed its maximum balance",
        False,
        "The recipient's M-Pesa account is at its maximum balance",
        "Ask the recipient to lower their M-Pesa balance, then request a new payout",
    ),
    _entry(
        "11",
        "The debit party is in an invalid state",
        False,
        "Our B2C shortcode is in a state that does not allow payouts",
        "Ask Safaricom support to check the B2C shortcode's status",
    ),
    _entry(
        "15",
        "Duplicate detected",
        False,
        "M-Pesa rejected the payout as a duplicate",
        f"Do not resend. {_SETTLE_FIRST}: an earlier request may have paid the recipient",
    ),
    _entry(
        "17",
        "Internal failure",
        True,
        "M-Pesa had an internal failure",
        f"{_SETTLE_FIRST}; if it did not pay, request a new payout later",
    ),
    _entry(
        "21",
        "The initiator is not allowed to initiate this request",
        False,
        "The API initiator user may not make this payment",
        "Give the initiator user the B2C API role on the M-Pesa org portal",
    ),
    _entry(
        "26",
        "Traffic blocking condition in place",
        True,
        "M-Pesa is refusing traffic for now (system busy)",
        "Wait a few minutes, then request a new payout",
    ),
    _entry(
        "2001",
        "The initiator information is invalid (B2C: initiator name or password; STK: wrong PIN entered)",
        False,
        "The initiator name or security credential is wrong",
        "Check the initiator name and regenerate the security credential with the right certificate "
        "(sandbox and production differ)",
    ),
    _entry(
        "2006",
        "Declined: the account status does not allow this transaction",
        False,
        "An M-Pesa account status does not allow this transaction",
        "Ask the recipient to contact Safaricom about their M-Pesa account, or pay by another method",
    ),
    _entry(
        "2028",
        "The request is not permitted according to product assignment",
        False,
        "Our shortcode is not set up for this payment type (CommandID)",
        "Use a CommandID the shortcode is set up for, or ask Safaricom to enable it",
    ),
    _entry(
        "2040",
        "Credit party customer type is not supported (e.g. unregistered customer)",
        False,
        "The recipient is not a registered M-Pesa customer",
        "Ask the recipient to register for M-Pesa, or pay by another method",
    ),
    _entry(
        "8006",
        "The security credential is locked",
        False,
        "The initiator's security credential is locked",
        "Reset the initiator password on the M-Pesa org portal, then regenerate the security credential",
    ),
    _entry(
        "SFC_IC0003",
        "The operator does not exist",
        False,
        "The recipient number is not an M-Pesa number",
        "Check the recipient's phone number",
    ),
    _entry(
        "1032",
        "Request cancelled by the user (STK)",
        False,
        "The customer cancelled the M-Pesa prompt",
        "Ask the customer to try again",
    ),
    _entry(
        "1037",
        "Timeout: no answer in time (STK: the phone could not be reached; B2C queue timeout)",
        False,
        "M-Pesa timed out waiting for an answer",
        "STK: ask the customer to try again. B2C: do not resend; " + _SETTLE_FIRST.lower(),
    ),
    # --- Reversal (string codes) -------------------------------------------------------------------------
    _entry(
        "R000001",
        "The transaction has already been reversed",
        False,
        "This transaction was already reversed",
        "Nothing to do: check the statement for the earlier reversal",
    ),
    _entry(
        "R000002",
        "The original transaction is invalid or was not found",
        False,
        "M-Pesa does not know the original transaction",
        "Check the receipt or OriginatorConversationID; if this answered a status query, query again later "
        "before concluding that nothing was paid",
    ),
    # --- Synchronous error codes (errorCode of an HTTP error answer) -------------------------------------
    _entry(
        "400.002.02",
        "Bad request: invalid field",
        False,
        "Daraja refused the request: a field is invalid",
        "Fix the field named in the message, then send again",
    ),
    _entry(
        "400.002.05",
        "Invalid request payload",
        False,
        "Daraja refused the request: the payload is malformed",
        "Report this to the developers: the request body is malformed",
    ),
    _entry(
        "404.001.03",
        "Invalid access token",
        True,
        "The Daraja access token was refused",
        "None: a new token is fetched automatically; if it persists, check the consumer key and secret",
    ),
    _entry(
        "401.002.01",
        "Invalid access token",
        True,
        "The Daraja access token was refused",
        "None: a new token is fetched automatically; if it persists, check the consumer key and secret",
    ),
    _entry(
        "400.003.01",
        "Invalid access token",
        True,
        "The Daraja access token was refused",
        "None: a new token is fetched automatically; if it persists, check the consumer key and secret",
    ),
    _entry(
        "404.001.04",
        "Invalid authentication header",
        False,
        "Daraja refused the authentication header",
        "Check the consumer key and secret of the Daraja app",
    ),
    _entry(
        "500.001.1001",
        "Merchant or credentials problem (STK: a prompt is already open for the subscriber)",
        False,
        "Daraja refused the request: merchant, credentials or subscriber lock",
        "Check the shortcode, passkey and initiator settings; for STK, wait for the open prompt to finish",
    ),
    _entry(
        "500.002.1001",
        "Duplicate OriginatorConversationID",
        False,
        "M-Pesa already holds a request with this OriginatorConversationID",
        f"Do not resend. {_SETTLE_FIRST}",
    ),
    _entry(
        "500.003.02",
        "Spike arrest violation",
        True,
        "Daraja throttled the request (too many requests per second)",
        "None: the request is retried later automatically",
    ),
    _entry(
        "500.003.03",
        "Quota violation",
        True,
        "The Daraja app's request quota is used up",
        "Wait for the quota to reset, or ask Safaricom to raise it",
    ),
    _entry(
        "500.003.1001",
        "Internal server error",
        False,
        "Daraja had an internal error: the payout may or may not have been made",
        _SETTLE_FIRST,
    ),
    # --- The client's own codes (DarajaError.code when Daraja sent no code) ---------------------------
    _entry(
        "connect_error",
        "No connection to Daraja could be made",
        True,
        "Could not connect to M-Pesa: nothing was sent",
        "None: the request can be sent again; if it persists, check the network and MPESA_BASE_URL",
    ),
    _entry(
        "connect_timeout",
        "Connecting to Daraja timed out",
        True,
        "Connecting to M-Pesa timed out: nothing was sent",
        "None: the request can be sent again; if it persists, check the network",
    ),
    _entry(
        "read_timeout",
        "Daraja did not answer in time after the request was sent",
        False,
        "M-Pesa did not answer in time: the payout may or may not have been made",
        _SETTLE_FIRST,
    ),
    _entry(
        "connection_lost",
        "The connection dropped after the request was sent",
        False,
        "The connection to M-Pesa dropped: the payout may or may not have been made",
        _SETTLE_FIRST,
    ),
    _entry(
        "unparseable_response",
        "Daraja's answer could not be read",
        False,
        "M-Pesa's answer could not be read: the payout may or may not have been made",
        _SETTLE_FIRST,
    ),
)

CATALOGUE: dict[str, ResultCodeInfo] = {info.code: info for info in _ENTRIES}


def normalize_code(code: str | int | float | Decimal | None) -> str:
    """One spelling per code: 0, "0", " 0 ", 0.0 and "00" are all "0"; "sfc_ic0003" is "SFC_IC0003"."""
    if code is None:
        return ""
    if isinstance(code, bool):
        return str(int(code))
    if isinstance(code, (int, float, Decimal)):
        number = Decimal(str(code))
        return str(int(number)) if number == number.to_integral_value() else str(number)
    text = str(code).strip()
    if text.lstrip("-").isdigit():
        return str(int(text))
    # Dotted Daraja codes and our lower-case client codes keep their case; the alphanumeric ones do not.
    return text.upper() if text[:1].isalpha() and text.upper() in CATALOGUE else text


def lookup(code: str | int | float | Decimal | None) -> ResultCodeInfo:
    """The catalogue entry for `code`, or a generic one that tells the operator to check before acting."""
    key = normalize_code(code)
    known = CATALOGUE.get(key)
    if known is not None:
        return known
    return ResultCodeInfo(
        code=key,
        meaning="Unknown code",
        retryable=False,
        admin_message=f"M-Pesa answered with code {key or '(none)'}, which this system does not know",
        action=f"{_SETTLE_FIRST}; if it did not pay, report the code to Safaricom support",
    )


def is_success(code: str | int | float | Decimal | None) -> bool:
    return normalize_code(code) == SUCCESS
