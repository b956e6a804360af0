"""The one place that decides what a Daraja code means for money: success, final failure, or unknown.

Daraja speaks in four code namespaces that reuse the same numbers for different things, so each has its own
table (docs/result-codes.md lists them all):

- `sync`: the `ResponseCode`/`errorCode` of the synchronous answer to a request (and this system's own codes
  for transport failures, such as `read_timeout`). *Final failure* here means the request was refused before
  M-Pesa processed it; *unknown* means it may have been processed.
- `b2c`: the `ResultCode` of an asynchronous B2C Result (also of Transaction Status and Account Balance
  results). *Final failure* means M-Pesa proves that no money moved (balance, limits, initiator, credential,
  account state, unknown party), each with the published source that says so (`source`). Anything else,
  including every code not in the table (15 Duplicate Detected, 17 Internal Failure, 26 system busy, 1037),
  is *unknown*: a Transaction Status query settles it.
- `stk`: the `ResultCode` of an STK push callback (17 there is "rule limited", not "internal failure").
- `c2b_validation`: the codes our validation URL answers with to accept or reject a customer's payment.
- `b2b`: the `ResultCode` of an asynchronous B2B Result (paybill, till and float top-up payments). Same rule
  as `b2c`; the money comes from a Working account, and SFC_IC0003 means the receiver type did not match the
  number (a till sent as a paybill). `classify_rail()` picks the table by payout rail (Pochi results are B2C
  results).
- `reversal`: the `ResultCode` of a Reversal result (a C2B receipt sent back to its payer). `R000001` (already
  reversed) means the money is back, as `0` does; a code the table does not hold is read as in `b2c`.

`retryable` means: the condition is transient, so a later attempt may succeed without anyone acting. For a
B2C payout a later attempt is always a NEW request with a new OriginatorConversationID, made only after a
status query has shown that the first one did not pay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Namespace(StrEnum):
    SYNC = "sync"
    B2C = "b2c"
    STK = "stk"
    C2B_VALIDATION = "c2b_validation"
    B2B = "b2b"
    REVERSAL = "reversal"


class CodeClass(StrEnum):
    SUCCESS = "success"
    FINAL_FAILURE = "final_failure"
    UNKNOWN = "unknown"


class SyncKind(StrEnum):
    """For `sync` codes: which DarajaError a refusal becomes (daraja/errors.py)."""

    ACCEPTED = "accepted"
    TOKEN = "token"  # invalid token: refreshed once automatically
    AUTH = "auth"
    CONFIGURATION = "configuration"
    VALIDATION = "validation"
    RATE_LIMITED = "rate_limited"  # refused for now; the same request may be sent again later
    DUPLICATE = "duplicate"
    UNKNOWN = "unknown"  # may have been processed


@dataclass(frozen=True)
class ResultCodeInfo:
    code: str
    meaning: str
    retryable: bool
    admin_message: str
    action: str
    namespace: str = Namespace.B2C
    klass: str = CodeClass.UNKNOWN
    sync_kind: str = ""
    known: bool = True
    # For a final failure: the published source showing the code means "refused before any money moved"
    # (docs/result-codes.md prints it beside the code, so each one's proof can be checked).
    source: str = ""

    @property
    def is_success(self) -> bool:
        return self.klass == CodeClass.SUCCESS

    @property
    def is_final_failure(self) -> bool:
        return self.klass == CodeClass.FINAL_FAILURE

    @property
    def is_unknown(self) -> bool:
        return self.klass == CodeClass.UNKNOWN


SUCCESS = "0"
S, F, U = CodeClass.SUCCESS, CodeClass.FINAL_FAILURE, CodeClass.UNKNOWN

_SETTLE_FIRST = "Check the payout with a Transaction Status query before doing anything else"
_SETTLED_BY_QUERY = (
    "None at first: the payout is `verifying` and a Transaction Status query settles it; if it ends in review, "
    "check the M-Pesa portal before requesting a new payout"
)
_TOKEN_ACTION = "None: a new token is fetched automatically; if it persists, check the consumer key and secret"


# Where each final failure's meaning is published. A code whose only description is "busy", "error" or a
# number is not proof that nothing moved, so it is unknown (26, 17, 29, ...), whatever it is called.
G2_TABLE = (
    "Safaricom M-Pesa G2 API result code table (B2C API Specification v1.5, \"Response and Result Codes\"), "
    "also reported by integrators (Peach Payments, \"M-Pesa error codes\"): a refusal of the request"
)
DARAJA_B2C = "Safaricom Daraja docs, Business To Customer (B2C) API page, result codes: a refusal of the request"
DARAJA_ERRORS = "Safaricom Daraja docs, API error codes: the gateway refused the request before it reached M-Pesa"
DARAJA_STK = "Safaricom Daraja docs, M-Pesa Express (STK push) result codes: the customer did not pay"
DARAJA_C2B = "Safaricom Daraja docs, C2B API page: a non-zero validation answer cancels the customer's payment"
CLIENT_NO_CONNECTION = "This client: no connection was made, so no request reached Daraja"


def _b2c(code, klass, meaning, admin_message, action, retryable=False, source="") -> ResultCodeInfo:
    return ResultCodeInfo(code, meaning, retryable, admin_message, action, Namespace.B2C, klass, source=source)


def _stk(code, klass, meaning, admin_message, action, retryable=False, source=DARAJA_STK) -> ResultCodeInfo:
    source = source if klass == F else ""
    return ResultCodeInfo(code, meaning, retryable, admin_message, action, Namespace.STK, klass, source=source)


def _sync(code, kind, meaning, admin_message, action, retryable=False, source=DARAJA_ERRORS) -> ResultCodeInfo:
    klass = {SyncKind.ACCEPTED: S, SyncKind.DUPLICATE: U, SyncKind.UNKNOWN: U}.get(kind, F)
    source = source if klass == F else ""
    return ResultCodeInfo(
        code, meaning, retryable, admin_message, action, Namespace.SYNC, klass, kind, source=source
    )


def _c2b(code, klass, meaning, admin_message, action) -> ResultCodeInfo:
    source = DARAJA_C2B if klass == F else ""
    return ResultCodeInfo(
        code, meaning, False, admin_message, action, Namespace.C2B_VALIDATION, klass, source=source
    )


_B2C_ENTRIES = (
    _b2c("0", S, "Success", "Completed successfully", "None"),
    _b2c("1", F, "Insufficient funds in our B2C utility account", "B2C utility account balance too low",
         "Top up the B2C utility account, then request a new payout", source=DARAJA_B2C),
    _b2c("2", F, "Declined: amount below the minimum transaction value",
         "Amount is below the M-Pesa minimum per transaction",
         "Request a new payout of at least the minimum (KES 10)", source=G2_TABLE),
    _b2c("3", F, "Declined: amount above the maximum transaction value",
         "Amount is above the M-Pesa maximum per transaction",
         "Split the amount into payouts below the per-transaction maximum (KES 250,000)", source=G2_TABLE),
    _b2c("4", F, "Declined: the customer's daily transfer limit would be exceeded",
         "The recipient has reached their daily M-Pesa limit",
         "Request a new payout tomorrow, or pay by another method", source=G2_TABLE),
    _b2c("5", F, "Declined: our account would fall below its minimum balance",
         "The B2C account would go below its minimum balance",
         "Top up the B2C utility account, then request a new payout", source=G2_TABLE),
    _b2c("6", F, "Unresolved primary party: M-Pesa does not know the initiating organisation",
         "M-Pesa could not resolve our shortcode (PartyA)",
         "Check MPESA_B2C_SHORTCODE and that the shortcode is live for this environment", source=G2_TABLE),
    _b2c("7", F, "Unresolved receiver party: M-Pesa does not know the recipient",
         "M-Pesa could not resolve the recipient (PartyB)",
         "Check the recipient's phone number; it must be a registered M-Pesa number", source=G2_TABLE),
    _b2c("8", F, "Declined: the customer's account would exceed its maximum balance",
         "The recipient's M-Pesa account is at its maximum balance",
         "Ask the recipient to lower their M-Pesa balance, then request a new payout", source=G2_TABLE),
    _b2c("11", F, "The debit party (our account) is in an invalid state",
         "Our B2C shortcode is in a state that does not allow payouts",
         "Ask Safaricom support to check the B2C shortcode's status", source=G2_TABLE),
    _b2c("12", F, "The credit account (the recipient's) is invalid",
         "The recipient's M-Pesa account cannot receive this payment",
         "Ask the recipient to check their M-Pesa account, or pay by another method", source=G2_TABLE),
    _b2c("13", F, "Unresolved debit account", "M-Pesa could not find our B2C account",
         "Ask Safaricom support to check the B2C shortcode's accounts", source=G2_TABLE),
    _b2c("14", F, "Unresolved credit account", "M-Pesa could not find the recipient's account",
         "Check the recipient's phone number, or pay by another method", source=G2_TABLE),
    _b2c("15", U, "Duplicate detected: M-Pesa saw this request before (the first one may have paid)",
         "M-Pesa reported the payout as a duplicate: it may already have been paid",
         f"Do not resend. {_SETTLED_BY_QUERY}"),
    _b2c("17", U, "Internal failure inside M-Pesa: the payout may or may not have been made",
         "M-Pesa had an internal failure: the payout may or may not have been made", _SETTLED_BY_QUERY),
    _b2c("18", F, "Initiator credential check failure", "The initiator's security credential was refused",
         "Regenerate the security credential with the right certificate (sandbox and production differ)",
         source=G2_TABLE),
    _b2c("19", U, "Message sequencing failure", "M-Pesa reported a message sequencing failure", _SETTLED_BY_QUERY),
    _b2c("20", F, "Unresolved initiator: M-Pesa does not know the initiator user",
         "The API initiator name is not known to M-Pesa",
         "Check MPESA_INITIATOR_NAME against the API user on the M-Pesa org portal", source=G2_TABLE),
    _b2c("21", F, "The initiator is not allowed to initiate this request (initiator to primary party permission)",
         "The API initiator user may not make this payment",
         "Give the initiator user the B2C API role on the M-Pesa org portal", source=G2_TABLE),
    _b2c("22", F, "Initiator to debit account permission failure",
         "The API initiator user may not debit the B2C account",
         "Give the initiator user rights on the B2C utility account on the M-Pesa org portal", source=G2_TABLE),
    _b2c("24", F, "Missing mandatory fields", "M-Pesa refused the request: a mandatory field is missing",
         "Report this to the developers: a request field is missing", source=G2_TABLE),
    _b2c("25", U, "Code 25 (integrators report it with varying descriptions; not proof that nothing was paid)",
         "M-Pesa answered with code 25, which does not prove that nothing was paid", _SETTLED_BY_QUERY),
    # 26: no published source says a request refused this way never moved money (a busy system may still have
    # processed it), so a status query settles it: failing it freed a refund's reservation, refunded twice.
    _b2c("26", U, "Traffic blocking condition in place (system busy): not proof that nothing was paid",
         "M-Pesa reported it was refusing traffic (system busy): the payout may or may not have been made",
         _SETTLED_BY_QUERY),
    _b2c("29", U, "System error (integrators' lists): the payout may or may not have been made",
         "M-Pesa reported a system error: the payout may or may not have been made", _SETTLED_BY_QUERY),
    _b2c("1037", U, "Timeout: no answer in time inside M-Pesa (B2C queue timeout)",
         "M-Pesa timed out waiting for an answer: the payout may or may not have been made",
         f"Do not resend. {_SETTLED_BY_QUERY}"),
    _b2c("2001", F, "The initiator information is invalid (initiator name or password)",
         "The initiator name or security credential is wrong",
         "Check the initiator name and regenerate the security credential with the right certificate "
         "(sandbox and production differ)", source=DARAJA_B2C),
    _b2c("2006", F, "Declined: the account status does not allow this transaction",
         "An M-Pesa account status does not allow this transaction",
         "Ask the recipient to contact Safaricom about their M-Pesa account, or pay by another method",
         source=DARAJA_B2C),
    _b2c("2028", F, "The request is not permitted according to product assignment",
         "Our shortcode is not set up for this payment type (CommandID)",
         "Use a CommandID the shortcode is set up for, or ask Safaricom to enable it", source=DARAJA_B2C),
    _b2c("2040", F, "Credit party customer type is not supported (e.g. unregistered customer)",
         "The recipient is not a registered M-Pesa customer",
         "Ask the recipient to register for M-Pesa, or pay by another method", source=DARAJA_B2C),
    _b2c("8006", F, "The security credential is locked", "The initiator's security credential is locked",
         "Reset the initiator password on the M-Pesa org portal, then regenerate the security credential",
         source=DARAJA_B2C),
    _b2c("SFC_IC0003", F, "The operator does not exist", "The recipient number is not an M-Pesa number",
         "Check the recipient's phone number", source=DARAJA_B2C),
    # Reversal results (string codes). Neither proves anything about a B2C payout.
    _b2c("R000001", U, "The transaction has already been reversed", "This transaction was already reversed",
         "Nothing to do: check the statement for the earlier reversal"),
    _b2c("R000002", U, "The original transaction is invalid or was not found",
         "M-Pesa does not know the original transaction",
         "Check the receipt or OriginatorConversationID; if this answered a status query, query again later "
         "before concluding that nothing was paid"),
)

# 1000000xx: platform codes integrators report in asynchronous results; none is documented as proof that
# nothing moved, so the whole family is unknown.
_B2C_FAMILY = re.compile(r"^1000000\d\d$")
_B2C_FAMILY_INFO = _b2c(
    "1000000xx", U, "Daraja platform code of the 1000000xx family (undocumented; not proof that nothing was paid)",
    "M-Pesa answered with a 1000000xx platform code: the payout may or may not have been made", _SETTLED_BY_QUERY,
)

_STK_ENTRIES = (
    _stk("0", S, "Success: the customer paid", "The customer paid", "None"),
    _stk("1", F, "The customer's M-Pesa balance is insufficient", "The customer had too little on M-Pesa",
         "Ask the customer to top up and try again"),
    _stk("17", F, "Rule limited: the same amount to the same customer within 2 minutes",
         "M-Pesa refused a repeat of the same amount to the same customer within 2 minutes",
         "Wait two minutes before prompting the customer again"),
    _stk("1019", F, "Transaction expired before the customer answered", "The M-Pesa prompt expired",
         "Ask the customer to try again"),
    _stk("1025", F, "An error occurred while sending the push request (or the message was too long)",
         "M-Pesa could not deliver the prompt", "Try again; keep AccountReference and description short"),
    _stk("9999", F, "An error occurred while sending the push request", "M-Pesa could not deliver the prompt",
         "Try again"),
    _stk("1032", F, "Request cancelled by the user", "The customer cancelled the M-Pesa prompt",
         "Ask the customer to try again"),
    _stk("1036", F, "The prompt could not be shown (SIM toolkit or phone not reachable)",
         "M-Pesa could not show the prompt on the customer's phone",
         "Ask the customer to update their SIM toolkit or try again"),
    _stk("1037", F, "DS timeout: the customer's phone could not be reached",
         "The customer's phone could not be reached",
         "Ask the customer to try again with the phone on and unlocked"),
    _stk("2001", F, "Wrong PIN entered", "The customer entered a wrong M-Pesa PIN", "Ask the customer to try again"),
    # Seen in STK callbacks for a number M-Pesa does not serve: the push was refused, nobody was prompted.
    _stk("SFC_IC0003", F, "The operator does not exist: M-Pesa refused the push (not an M-Pesa number)",
         "M-Pesa refused the prompt: the number is not an M-Pesa number", "Check the customer's phone number",
         source="Integrator reports (M-Pesa Express callbacks with SFC_IC0003 \"The operator does not exist\" "
         "for a number M-Pesa does not serve); the same code is a refusal in Daraja's B2C result codes"),
)

DARAJA_REVERSAL = (
    "Safaricom Daraja docs, Reversal API page, result codes: the original transaction id is refused, nothing "
    "was reversed"
)


def _rev(code, klass, meaning, admin_message, action, source="") -> ResultCodeInfo:
    return ResultCodeInfo(code, meaning, False, admin_message, action, Namespace.REVERSAL, klass, source=source)


_REVERSAL_ENTRIES = (
    _rev("0", S, "Reversed: the money went back to the payer", "The payment was reversed", "None"),
    _rev("R000001", S, "The transaction had already been reversed: the money is back with the payer",
         "The payment had already been reversed (by an earlier request or on the org portal)",
         "None for the money; check who reversed it first (the statement shows the earlier reversal)"),
    _rev("R000002", F, "The original transaction id is invalid: nothing was reversed",
         "M-Pesa does not know the receipt that was to be reversed", "Check the receipt and the shortcode",
         source=DARAJA_REVERSAL),
)

_C2B_ENTRIES = (
    _c2b("0", S, "Accept the payment", "Payment accepted", "None"),
    _c2b("C2B00011", F, "Reject: invalid MSISDN", "Payment rejected: invalid phone number",
         "None: the customer's payment was cancelled and not taken"),
    _c2b("C2B00012", F, "Reject: invalid account number", "Payment rejected: invalid account number",
         "Tell the customer the right account number"),
    _c2b("C2B00013", F, "Reject: invalid amount", "Payment rejected: invalid amount",
         "Tell the customer the right amount"),
    _c2b("C2B00014", F, "Reject: invalid KYC details", "Payment rejected: KYC details do not match",
         "None: the customer's payment was cancelled and not taken"),
    _c2b("C2B00015", F, "Reject: invalid shortcode", "Payment rejected: invalid shortcode",
         "Check the shortcode the customer paid to"),
    _c2b("C2B00016", F, "Reject: other error", "Payment rejected", "None: the customer's payment was not taken"),
)

DARAJA_B2B = "Safaricom Daraja docs, Business To Business (B2B) API page: the documented failure result"
B2B_RECEIVER_TYPE = (
    "Integrator reports (B2B results with SFC_IC0003 when RecieverIdentifierType does not match the number: a "
    "till sent as type 4, a paybill as 2); the same code is a refusal in Daraja's B2C result codes"
)
_CHECK_TYPE = (
    "Check whether the number is a paybill or a till (Buy Goods): pay a till on the till rail and a paybill on "
    "the paybill rail, then request a new payout"
)


def _b2b(code, klass, meaning, admin_message, action, retryable=False, source="") -> ResultCodeInfo:
    source = (source or G2_TABLE) if klass == F else ""
    return ResultCodeInfo(code, meaning, retryable, admin_message, action, Namespace.B2B, klass, source=source)


_B2B_ENTRIES = (
    _b2b("0", S, "Success", "Completed successfully", "None"),
    _b2b("1", F, "Insufficient funds in the paying Working account", "Working account balance too low",
         "Move money into the Working account (M-Pesa org portal), then request a new payout"),
    _b2b("2", F, "Declined: amount below the minimum transaction value",
         "Amount is below the M-Pesa minimum per transaction", "Request a new payout of at least the minimum"),
    _b2b("3", F, "Declined: amount above the maximum transaction value",
         "Amount is above the M-Pesa maximum per transaction", "Split the amount into smaller payouts"),
    _b2b("11", F, "The debit party (our account) is in an invalid state",
         "Our paying shortcode is in a state that does not allow payments",
         "Ask Safaricom support to check the B2B shortcode's status"),
    _b2b("15", U, "Duplicate detected: M-Pesa saw this request before (the first one may have paid)",
         "M-Pesa reported the payment as a duplicate: it may already have been paid",
         "Do not resend. Check the M-Pesa org portal before requesting a new payout"),
    _b2b("17", U, "Internal failure inside M-Pesa: the payment may or may not have been made",
         "M-Pesa had an internal failure: the payment may or may not have been made",
         "Check the M-Pesa org portal before requesting a new payout"),
    _b2b("18", F, "Initiator credential check failure", "The initiator's security credential was refused",
         "Regenerate the security credential with the right certificate (sandbox and production differ)"),
    _b2b("20", F, "Unresolved initiator: M-Pesa does not know the initiator user",
         "The API initiator name is not known to M-Pesa",
         "Check MPESA_INITIATOR_NAME against the API user on the M-Pesa org portal"),
    _b2b("21", F, "The initiator is not allowed to initiate this request",
         "The API initiator user lacks the role for this rail",
         "Give the initiator the rail's role on the M-Pesa org portal (Org Business Pay Bill, Buy Goods or "
         "Pay to Bulk API initiator: docs/daraja.md)"),
    _b2b("26", U, "Traffic blocking condition in place (system busy): not proof that nothing was paid",
         "M-Pesa reported it was refusing traffic: the payment may or may not have been made",
         "Check the M-Pesa org portal before requesting a new payout"),
    _b2b("1037", U, "Timeout: no answer in time inside M-Pesa", "M-Pesa timed out: the payment may or may not "
         "have been made", "Do not resend. Check the M-Pesa org portal before requesting a new payout"),
    _b2b("2001", F, "The initiator information is invalid (initiator name or password)",
         "The initiator name or security credential is wrong",
         "Check the initiator name and regenerate the security credential", source=DARAJA_B2B),
    _b2b("2028", F, "The request is not permitted according to product assignment",
         "Our shortcode is not set up for this rail (CommandID)",
         "Ask Safaricom to enable the rail's product on the paying shortcode"),
    _b2b("8006", F, "The security credential is locked", "The initiator's security credential is locked",
         "Reset the initiator password on the M-Pesa org portal, then regenerate the security credential"),
    _b2b("SFC_IC0003", F, "The receiver type does not match the number (a till sent as a paybill, or a paybill "
         "as a till), or the receiver does not exist", "M-Pesa refused the receiver: check paybill against till",
         _CHECK_TYPE, source=B2B_RECEIVER_TYPE),
)

# Which table a payout rail's asynchronous result is read with (daraja.rails.Rail names the rails).
RAIL_NAMESPACES = {
    "mobile": Namespace.B2C,
    "pochi": Namespace.B2C,
    "paybill": Namespace.B2B,
    "till": Namespace.B2B,
    "float_topup": Namespace.B2B,
}

_SYNC_ENTRIES = (
    _sync("0", SyncKind.ACCEPTED, "Accepted for processing (not yet paid)", "Accepted by M-Pesa",
          "None: the Result will follow"),
    _sync("400.002.02", SyncKind.VALIDATION, "Bad request: invalid field",
          "Daraja refused the request: a field is invalid", "Fix the field named in the message, then send again"),
    _sync("400.002.05", SyncKind.VALIDATION, "Invalid request payload",
          "Daraja refused the request: the payload is malformed",
          "Report this to the developers: the request body is malformed"),
    _sync("400.003.01", SyncKind.TOKEN, "Invalid access token", "The Daraja access token was refused", _TOKEN_ACTION,
          retryable=True),
    _sync("400.003.02", SyncKind.VALIDATION, "Bad request (the request was not accepted as sent)",
          "Daraja refused the request as malformed", "Report this to the developers with the message"),
    _sync("400.008.01", SyncKind.AUTH, "OAuth refused: invalid grant type or authentication",
          "Daraja refused to issue an access token",
          "Check MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET (sandbox and production apps differ)"),
    _sync("400.008.02", SyncKind.AUTH, "OAuth refused: invalid grant type or authentication",
          "Daraja refused to issue an access token",
          "Check MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET (sandbox and production apps differ)"),
    _sync("401.002.01", SyncKind.TOKEN, "Invalid access token", "The Daraja access token was refused", _TOKEN_ACTION,
          retryable=True),
    _sync("404.001.01", SyncKind.CONFIGURATION, "Resource not found (wrong URL)",
          "Daraja has no such API path", "Check MPESA_BASE_URL: the API path does not exist there"),
    _sync("404.001.03", SyncKind.TOKEN,
          "Invalid access token, or the Daraja app lacks this product (B2C not added to the app)",
          "The Daraja access token was refused",
          "None at first: a new token is fetched once; if a fresh token is refused too, add the product (B2C, "
          "Transaction Status, Account Balance or M-Pesa Express) to the Daraja app on the developer portal, "
          "or check the consumer key and secret", retryable=True),
    _sync("404.001.04", SyncKind.AUTH, "Invalid authentication header", "Daraja refused the authentication header",
          "Check the consumer key and secret of the Daraja app"),
    _sync("404.002.01", SyncKind.CONFIGURATION, "Resource not found", "Daraja has no such resource",
          "Check MPESA_BASE_URL and the API version in use"),
    _sync("404.003.01", SyncKind.CONFIGURATION, "Resource not found", "Daraja has no such resource",
          "Check MPESA_BASE_URL and the API version in use"),
    _sync("405.001", SyncKind.CONFIGURATION, "Method not allowed (wrong HTTP method for this path)",
          "Daraja refused the HTTP method", "Report this to the developers: the request used the wrong method"),
    _sync("500.001.1001", SyncKind.AUTH,
          "Merchant or credentials problem (STK: a prompt is already open for the subscriber)",
          "Daraja refused the request: merchant, credentials or subscriber lock",
          "Check the shortcode, passkey and initiator settings; for STK, wait for the open prompt to finish"),
    _sync("500.002.1001", SyncKind.DUPLICATE,
          "Duplicate OriginatorConversationID, or \"System internal error\": either way it proves neither that "
          "the request was received nor that it was not",
          "M-Pesa answered 500.002.1001 (a duplicate OriginatorConversationID or a system internal error): the "
          "payout may or may not have been made",
          f"Do not resend. {_SETTLED_BY_QUERY}"),
    _sync("500.003.02", SyncKind.RATE_LIMITED, "Spike arrest violation",
          "Daraja throttled the request (too many requests per second)",
          "None: the request is retried later automatically", retryable=True),
    _sync("500.003.03", SyncKind.RATE_LIMITED, "Quota violation", "The Daraja app's request quota is used up",
          "Wait for the quota to reset, or ask Safaricom to raise it", retryable=True),
    _sync("500.003.1001", SyncKind.UNKNOWN, "Internal server error",
          "Daraja had an internal error: the payout may or may not have been made", _SETTLE_FIRST),
    _sync("00.002.1001", SyncKind.RATE_LIMITED, "Service under maintenance: the request was not processed",
          "Daraja is under maintenance", "None: the request is retried later automatically", retryable=True),
    # The client's own codes (DarajaError.code when Daraja sent no code).
    _sync("connect_error", SyncKind.RATE_LIMITED, "No connection to Daraja could be made",
          "Could not connect to M-Pesa: nothing was sent",
          "None: the request can be sent again; if it persists, check the network and MPESA_BASE_URL",
          retryable=True, source=CLIENT_NO_CONNECTION),
    _sync("connect_timeout", SyncKind.RATE_LIMITED, "Connecting to Daraja timed out",
          "Connecting to M-Pesa timed out: nothing was sent",
          "None: the request can be sent again; if it persists, check the network", retryable=True,
          source=CLIENT_NO_CONNECTION),
    _sync("read_timeout", SyncKind.UNKNOWN, "Daraja did not answer in time after the request was sent",
          "M-Pesa did not answer in time: the payout may or may not have been made", _SETTLE_FIRST),
    _sync("connection_lost", SyncKind.UNKNOWN, "The connection dropped after the request was sent",
          "The connection to M-Pesa dropped: the payout may or may not have been made", _SETTLE_FIRST),
    _sync("unparseable_response", SyncKind.UNKNOWN, "Daraja's answer could not be read",
          "M-Pesa's answer could not be read: the payout may or may not have been made", _SETTLE_FIRST),
)

CATALOGUE: dict[str, dict[str, ResultCodeInfo]] = {
    Namespace.B2C: {info.code: info for info in _B2C_ENTRIES},
    Namespace.STK: {info.code: info for info in _STK_ENTRIES},
    Namespace.SYNC: {info.code: info for info in _SYNC_ENTRIES},
    Namespace.C2B_VALIDATION: {info.code: info for info in _C2B_ENTRIES},
    Namespace.B2B: {info.code: info for info in _B2B_ENTRIES},
    Namespace.REVERSAL: {info.code: info for info in _REVERSAL_ENTRIES},
}


def all_entries() -> list[ResultCodeInfo]:
    """Every catalogued code, namespace by namespace (the 1000000xx family as one row)."""
    out: list[ResultCodeInfo] = []
    for namespace in Namespace:
        out.extend(CATALOGUE[namespace].values())
        if namespace == Namespace.B2C:
            out.append(_B2C_FAMILY_INFO)
    return out


_CODE_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")


def is_code_value(value: Any) -> bool:
    """Whether a JSON value can be a result code at all: a whole number or a short code string. An object,
    a list, a boolean, null, an empty or blank string, or a fraction is not."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, (Decimal, float)):
        number = Decimal(str(value))
        return number.is_finite() and number >= 0 and number == number.to_integral_value()
    if isinstance(value, str):
        return bool(_CODE_TEXT.match(value.strip()))
    return False


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
    if text[:1].isalpha() and any(text.upper() in table for table in CATALOGUE.values()):
        return text.upper()
    return text


def _looks_synchronous(key: str) -> bool:
    return "." in key or (key[:1].islower() and key in CATALOGUE[Namespace.SYNC])


def _unknown(key: str, namespace: str) -> ResultCodeInfo:
    return ResultCodeInfo(
        code=key,
        meaning="Unknown code",
        retryable=False,
        admin_message=f"M-Pesa answered with code {key or '(none)'}, which this system does not know",
        action=f"{_SETTLE_FIRST}; if it did not pay, report the code to Safaricom support",
        namespace=namespace,
        klass=CodeClass.UNKNOWN,
        sync_kind=SyncKind.UNKNOWN if namespace == Namespace.SYNC else "",
        known=False,
    )


def classify(namespace: str, code: Any) -> ResultCodeInfo:
    """The entry for `code` in `namespace`'s table; a code the table does not hold is UNKNOWN (for `b2c`:
    the payout is verified by a Transaction Status query, never failed)."""
    key = normalize_code(code)
    table = CATALOGUE[Namespace(namespace)]
    known = table.get(key)
    if known is not None:
        return known
    if namespace == Namespace.B2C and _B2C_FAMILY.match(key):
        return ResultCodeInfo(**{**_B2C_FAMILY_INFO.__dict__, "code": key})
    if namespace == Namespace.REVERSAL:
        return classify(Namespace.B2C, key)  # "others as B2C" (8006 a locked credential, ...)
    return _unknown(key, namespace)


def classify_sync(code: Any, *, http_status: int | None = None) -> ResultCodeInfo:
    """A synchronous answer's code. One the table does not hold is judged by its family (4xx.* refused,
    500.* may have been processed), then by the HTTP status: a 2xx with a non-zero ResponseCode declined the
    request; a 5xx may have been processed."""
    key = normalize_code(code)
    known = CATALOGUE[Namespace.SYNC].get(key)
    if known is not None:
        return known
    generic = _unknown(key, Namespace.SYNC)
    kind = _sync_family(key, http_status)
    klass = {SyncKind.UNKNOWN: U, SyncKind.DUPLICATE: U, SyncKind.ACCEPTED: S}.get(kind, F)
    if klass == F:
        # Refused before processing: nothing was sent, so no status query is needed.
        return ResultCodeInfo(**{
            **generic.__dict__,
            "sync_kind": kind,
            "klass": klass,
            "meaning": "Request declined by Daraja (a synchronous code not in the catalogue)",
            "admin_message": f"Daraja declined the request with code {key or '(none)'}: nothing was paid",
            "action": "Read Daraja's message on the payout, fix what it names, then request a new payout",
        })
    return ResultCodeInfo(**{**generic.__dict__, "sync_kind": kind, "klass": klass})


def _sync_family(key: str, http_status: int | None) -> str:
    if key.startswith(("401.", "403.")):
        return SyncKind.AUTH
    if key.startswith(("400.", "404.", "405.")):
        return SyncKind.VALIDATION
    if key.startswith("500."):
        return SyncKind.UNKNOWN
    status = http_status or 0
    if key and 200 <= status < 300:
        return SyncKind.VALIDATION  # a 2xx naming a non-zero ResponseCode declined the request
    if status == 429:
        return SyncKind.RATE_LIMITED
    if status in (401, 403):
        return SyncKind.AUTH
    if 300 <= status < 500:
        return SyncKind.VALIDATION
    return SyncKind.UNKNOWN


def lookup(code: str | int | float | Decimal | None, namespace: str | None = None) -> ResultCodeInfo:
    """The catalogue entry for `code`, for an operator's eyes. Without `namespace`, a dotted code or one of
    the client's own codes is read as synchronous and anything else as a B2C ResultCode."""
    key = normalize_code(code)
    if namespace is None:
        namespace = Namespace.SYNC if _looks_synchronous(key) else Namespace.B2C
    if namespace == Namespace.SYNC:
        # A synchronous code without dots is a ResponseCode, which Daraja sends only in a 2xx answer.
        return classify_sync(key, http_status=200 if key and "." not in key else None)
    return classify(namespace, key)


def is_success(code: str | int | float | Decimal | None, namespace: str = Namespace.B2C) -> bool:
    return classify(namespace, code).is_success


def classify_rail(rail: str, code: Any) -> ResultCodeInfo:
    """A payout's asynchronous ResultCode, read with its rail's table (B2C for mobile and Pochi, B2B for
    paybill, till and float top-up). An unknown rail is a bug, not input: ValueError."""
    namespace = RAIL_NAMESPACES.get(str(rail))
    if namespace is None:
        raise ValueError(f"Unknown payout rail {rail!r}")
    return classify(namespace, code)
