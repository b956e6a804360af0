"""Money in, apart from the STK push itself (client.py): C2B URL registration and the STK Push Query.

`check_callback_url` refuses, before anything is sent, a URL Safaricom would refuse (a word of
FORBIDDEN_URL_WORDS): the error names the word and the field, never the URL (it carries a secret token).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from core.nairobi_time import NAIROBI
from daraja.client import DarajaClient, Product, _error_fields, _text
from daraja.config import FORBIDDEN_URL_WORDS
from daraja.errors import (
    DarajaAuthError,
    DarajaConfigurationError,
    DarajaError,
    DarajaRateLimited,
    DarajaValidationError,
)
from daraja.result_codes import Namespace, SyncKind, classify, classify_sync, normalize_code

C2B_REGISTER_PATHS = {"v1": "/mpesa/c2b/v1/registerurl", "v2": "/mpesa/c2b/v2/registerurl"}
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"
RESPONSE_TYPES = ("Completed", "Cancelled")
STILL_PROCESSING = "500.001.1001"  # "The transaction is being processed": the customer has not answered yet


def forbidden_url_word(url: str) -> str:
    """The first word of FORBIDDEN_URL_WORDS in `url` (case-insensitive), or ""."""
    lowered = (url or "").lower()
    return next((word for word in FORBIDDEN_URL_WORDS if word in lowered), "")


def check_callback_url(name: str, url: str) -> None:
    """Raise DarajaValidationError for a URL Safaricom refuses or that is not http(s)://host/..."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DarajaValidationError("invalid_url", f"{name} must be an http(s) URL")
    word = forbidden_url_word(url)
    if word:
        raise DarajaValidationError(
            "forbidden_url_word", f'{name} contains "{word}", a word Safaricom refuses in callback URLs'
        )


# --- C2B URL registration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class C2BRegistration:
    response_code: str
    response_description: str
    originator_conversation_id: str


def c2b_register_urls(
    client: DarajaClient,
    *,
    shortcode: str,
    confirmation_url: str,
    validation_url: str,
    response_type: Literal["Completed", "Cancelled"] = "Completed",
    version: Literal["v1", "v2"] = "v2",
    product: Product = "stk",
) -> C2BRegistration:
    """Register where M-Pesa posts a shortcode's C2B confirmations and validations. `response_type` is what
    M-Pesa does when the validation URL does not answer. In production Safaricom keeps the first registration."""
    if not shortcode or not shortcode.isdigit():
        raise DarajaValidationError("invalid_shortcode", "ShortCode must be digits")
    if response_type not in RESPONSE_TYPES:
        raise DarajaValidationError("invalid_response_type", "ResponseType must be Completed or Cancelled")
    if version not in C2B_REGISTER_PATHS:
        raise DarajaValidationError("invalid_version", "The C2B register URL version must be v1 or v2")
    check_callback_url("ConfirmationURL", confirmation_url)
    check_callback_url("ValidationURL", validation_url)
    payload = {
        "ShortCode": shortcode,
        "ResponseType": response_type,
        "ConfirmationURL": confirmation_url,
        "ValidationURL": validation_url,
    }
    body = client.request(
        product=product,
        path=C2B_REGISTER_PATHS[version],
        payload=payload,
        context=f"c2b register {shortcode}",
        required="ResponseCode",
    )
    return C2BRegistration(
        response_code=_text(body.get("ResponseCode")),
        response_description=_text(body.get("ResponseDescription")),
        # sic: Daraja spells it "OriginatorCoversationID" in this answer
        originator_conversation_id=_text(body.get("OriginatorCoversationID") or body.get("OriginatorConversationID")),
    )


# --- STK Push Query ---------------------------------------------------------------------------------------


class StkQueryOutcome(StrEnum):
    PAID = "paid"  # ResultCode 0: paid, but the answer holds no receipt (the callback or a statement has it)
    FAILED = "failed"  # a code that proves the customer did not pay (1032, 1037, 2001, 1, 1019, 1025, 9999, ...)
    RETRY_LATER = "retry_later"  # throttled (500.003.02): ask again later, nothing is known
    PENDING = "pending"  # still being processed, or an answer that proves nothing: ask again later


@dataclass(frozen=True)
class StkQueryAnswer:
    outcome: StkQueryOutcome
    result_code: str = ""
    result_description: str = ""
    reason: str = ""  # for a person: the catalogue's words for a failure, or what kept it pending
    checkout_request_id: str = ""
    merchant_request_id: str = ""


def stk_password(shortcode: str, passkey: str, moment: datetime) -> tuple[str, str]:
    """(Password, Timestamp) as the push and its query build them."""
    timestamp = moment.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode("ascii"), timestamp


def stk_query(client: DarajaClient, *, checkout_request_id: str) -> StkQueryAnswer:
    """What became of an STK push. Never raises for Daraja's answer or the network (it only reads): a throttle
    is RETRY_LATER, anything unclear PENDING. Raises only what a person must fix (credentials, configuration)
    and a missing CheckoutRequestID."""
    if not (checkout_request_id or "").strip():
        raise DarajaValidationError("invalid_checkout_request_id", "CheckoutRequestID is required")
    config = client.config
    if not config.stk_shortcode or not config.stk_passkey:
        raise DarajaConfigurationError("missing_configuration", "Not configured: STK shortcode, STK passkey")
    password, timestamp = stk_password(config.stk_shortcode, config.stk_passkey, _now(client))
    payload = {
        "BusinessShortCode": config.stk_shortcode,
        "Password": password,
        "Timestamp": timestamp,
        "CheckoutRequestID": checkout_request_id.strip(),
    }
    try:
        status, body = client.request_raw(
            product="stk", path=STK_QUERY_PATH, payload=payload, context=f"stk query {checkout_request_id}"
        )
    except (DarajaAuthError, DarajaConfigurationError):
        raise
    except DarajaRateLimited as exc:
        return StkQueryAnswer(StkQueryOutcome.RETRY_LATER, exc.code, exc.message, "Daraja throttled the query")
    except DarajaError as exc:
        return StkQueryAnswer(StkQueryOutcome.PENDING, exc.code, exc.message, "No answer from Daraja")
    return classify_stk_query(status, body)


def classify_stk_query(status: int, body: Any) -> StkQueryAnswer:
    """An STK Push Query answer (samples: stk_query_response.json) as an outcome; pure, no I/O."""
    if not isinstance(body, dict):
        return StkQueryAnswer(StkQueryOutcome.PENDING, reason=f"HTTP {status} with a body that is not JSON")
    ids = {
        "checkout_request_id": _text(body.get("CheckoutRequestID")),
        "merchant_request_id": _text(body.get("MerchantRequestID")),
    }
    error_code, message = _error_fields(body)
    if status == 429:
        return StkQueryAnswer(StkQueryOutcome.RETRY_LATER, error_code, message, "Daraja throttled the query", **ids)
    if error_code:
        info = classify_sync(error_code, http_status=status)
        if info.sync_kind == SyncKind.RATE_LIMITED and error_code != STILL_PROCESSING:
            return StkQueryAnswer(StkQueryOutcome.RETRY_LATER, error_code, message, info.admin_message, **ids)
        return StkQueryAnswer(StkQueryOutcome.PENDING, error_code, message, message or info.admin_message, **ids)
    raw_code = body.get("ResultCode")
    description = _text(body.get("ResultDesc"))
    if raw_code is None or _text(raw_code) == "":
        return StkQueryAnswer(StkQueryOutcome.PENDING, "", description, "The answer holds no ResultCode", **ids)
    code = normalize_code(raw_code)
    info = classify(Namespace.STK, code)
    if info.is_success:
        return StkQueryAnswer(StkQueryOutcome.PAID, code, description, "Paid (the query carries no receipt)", **ids)
    if info.is_final_failure:
        return StkQueryAnswer(StkQueryOutcome.FAILED, code, description, info.admin_message, **ids)
    return StkQueryAnswer(StkQueryOutcome.PENDING, code, description, info.admin_message, **ids)


def _now(client: DarajaClient) -> datetime:
    return datetime.fromtimestamp(client._clock(), NAIROBI)
