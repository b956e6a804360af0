"""The Daraja HTTP client: OAuth, B2C, Transaction Status, Account Balance and STK push.

Pure Python (no ORM). Every failure is raised as a DarajaNotSent (certainly not processed) or a
DarajaOutcomeUnknown (may have been processed), so the caller knows whether a status query must settle it.
Nothing here resends a payment: the only retry is the one after an invalid-token answer, which proves that the
request was refused before processing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from core.nairobi_time import NAIROBI
from core.phone import MSISDN, mask_msisdn
from daraja.config import DarajaConfig, DarajaCredentials
from daraja.errors import (
    APP_LACKS_PRODUCT,
    INVALID_TOKEN_CODES,
    DarajaAuthError,
    DarajaConfigurationError,
    DarajaConnectError,
    DarajaError,
    DarajaNotSent,
    DarajaOutcomeUnknown,
    DarajaRateLimited,
    DarajaValidationError,
    error_for_code,
    error_for_http_status,
)
from daraja.result_codes import classify_sync

logger = logging.getLogger(__name__)

Product = Literal["b2c", "stk"]

TOKEN_SAFETY_MARGIN = 60  # seconds before Daraja's expiry at which we fetch a new token
DEFAULT_TOKEN_LIFETIME = 3599  # used when Daraja omits or garbles expires_in
B2C_COMMANDS = frozenset({"BusinessPayment", "SalaryPayment", "PromotionPayment"})
_B2C_SETTINGS = {
    "b2c_shortcode": "B2C shortcode",
    "initiator_name": "initiator name",
    "security_credential": "security credential",
}

OAUTH_PATH = "/oauth/v1/generate"
B2C_PATH = "/mpesa/b2c/v3/paymentrequest"
STATUS_PATH = "/mpesa/transactionstatus/v1/query"
BALANCE_PATH = "/mpesa/accountbalance/v1/query"
STK_PATH = "/mpesa/stkpush/v1/processrequest"


class TokenCache(Protocol):
    """The part of Django's cache API we use; Django's cache satisfies it."""

    def get(self, key: str) -> Any: ...
    def set(self, key: str, value: Any, timeout: int | None) -> Any: ...
    def delete(self, key: str) -> Any: ...


@dataclass(frozen=True)
class B2CAccepted:
    conversation_id: str
    originator_conversation_id: str
    response_code: str
    response_description: str


@dataclass(frozen=True)
class QueryAccepted:
    conversation_id: str
    originator_conversation_id: str
    response_code: str
    response_description: str


@dataclass(frozen=True)
class StkAccepted:
    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str
    customer_message: str


class _InvalidToken(Exception):
    """Internal signal: Daraja refused the token, so the request was not processed."""

    def __init__(self, error: DarajaError) -> None:
        super().__init__(error.code)
        self.error = error


class DarajaClient:
    def __init__(
        self,
        config: DarajaConfig,
        cache: TokenCache,
        session: requests.Session | None = None,
        *,
        clock: Callable[[], float] = time.time,
        hold_tokens: bool = True,
    ) -> None:
        self.config = config
        self._cache = cache
        self._session = session or requests.Session()
        self._clock = clock
        self._base_url = config.base_url.rstrip("/")
        # Tokens this client fetched or read from the shared cache, with the time they are due for refresh:
        # while one is fresh it is used without asking the shared cache (a round trip to Redis per request).
        self._hold_tokens = hold_tokens
        self._held: dict[str, tuple[str, float]] = {}
        self._keys: dict[DarajaCredentials, str] = {}

    # --- OAuth ---------------------------------------------------------------------------------------

    def access_token(self, *, product: Product) -> str:
        """A valid token for the product's Daraja app: the one this client holds while it is fresh, else the
        shared cache's, else a freshly fetched one."""
        credentials = self._credentials(product)
        key = self._token_cache_key(credentials)
        held = self._held.get(key)
        if held is not None and held[1] > self._clock():
            return held[0]
        cached = self._cache.get(key)
        if isinstance(cached, dict) and cached.get("token") and float(cached.get("refresh_at", 0)) > self._clock():
            self._hold(key, str(cached["token"]), float(cached["refresh_at"]))
            return str(cached["token"])
        token, lifetime = self._fetch_token(credentials, product)
        # Refresh a little before Daraja's expiry, so no request goes out with a token about to lapse.
        margin = min(TOKEN_SAFETY_MARGIN, lifetime / 2)
        keep_for = max(1, math.floor(lifetime - margin))
        refresh_at = self._clock() + keep_for
        self._cache.set(key, {"token": token, "refresh_at": refresh_at}, keep_for)
        self._hold(key, token, refresh_at)
        return token

    def _hold(self, key: str, token: str, refresh_at: float) -> None:
        if self._hold_tokens:
            self._held[key] = (token, refresh_at)

    def _credentials(self, product: Product) -> DarajaCredentials:
        if product == "b2c":
            credentials = self.config.b2c_credentials
        elif product == "stk":
            credentials = self.config.stk_credentials
        else:
            raise ValueError(f"Unknown Daraja product {product!r}")
        if not credentials.consumer_key or not credentials.consumer_secret:
            raise DarajaConfigurationError(
                "missing_credentials", f"The Daraja consumer key and secret for {product} are not configured"
            )
        return credentials

    def _token_cache_key(self, credentials: DarajaCredentials) -> str:
        key = self._keys.get(credentials)
        if key is None:
            # One token per Daraja app and host. Hashed so the key reveals neither; the secret is never in it.
            digest = hashlib.sha256(f"{self._base_url}\n{credentials.consumer_key}".encode()).hexdigest()[:32]
            key = self._keys[credentials] = f"daraja:oauth-token:{digest}"
        return key

    def _drop_token(self, product: Product, token: str) -> None:
        """Forget a refused token, unless another process has already replaced it with a newer one."""
        key = self._token_cache_key(self._credentials(product))
        held = self._held.get(key)
        if held is not None and held[0] == token:
            del self._held[key]
        cached = self._cache.get(key)
        if not isinstance(cached, dict) or cached.get("token") == token:
            self._cache.delete(key)

    def _fetch_token(self, credentials: DarajaCredentials, product: Product) -> tuple[str, int]:
        # Any failure here happens before the API call it serves, so every error is a DarajaNotSent.
        url = f"{self._base_url}{OAUTH_PATH}"
        try:
            response = self._session.get(
                url,
                params={"grant_type": "client_credentials"},
                auth=(credentials.consumer_key, credentials.consumer_secret),
                timeout=self.config.timeout,
            )
        except requests.exceptions.RequestException as exc:
            error = _transport_error(exc)
            logger.warning("Daraja OAuth for %s failed before any API call: %s", product, error.code)
            if isinstance(error, DarajaNotSent):
                raise error from None
            raise DarajaAuthError(
                error.code, f"Fetching the access token failed: {error.message}", retryable=True
            ) from None

        body = _json_or_none(response)
        if response.status_code >= 400 or not isinstance(body, dict):
            code, message = _error_fields(body)
            logger.warning("Daraja OAuth for %s refused: HTTP %s %s", product, response.status_code, code)
            if response.status_code == 429 or code in ("500.003.02", "500.003.03"):
                raise DarajaRateLimited(
                    code or "http_429", message or "OAuth throttled", http_status=response.status_code
                )
            raise DarajaAuthError(
                code or f"oauth_http_{response.status_code}",
                message or f"Fetching the access token failed (HTTP {response.status_code})",
                retryable=not 400 <= response.status_code < 500,  # 4xx: the credentials; else: Daraja's side
                http_status=response.status_code,
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise DarajaAuthError("oauth_bad_response", "The OAuth answer holds no access token", retryable=True)
        lifetime = _parse_lifetime(body.get("expires_in"))
        logger.info("Fetched a Daraja access token for %s (expires in %ss)", product, lifetime)
        return token, lifetime

    # --- API calls -----------------------------------------------------------------------------------

    def b2c_payment(
        self,
        *,
        originator_conversation_id: str,
        command_id: str,
        amount: Decimal,
        phone: str,
        remarks: str,
        occasion: str,
        result_url: str,
        timeout_url: str,
    ) -> B2CAccepted:
        """Ask M-Pesa to pay `phone`. Acceptance is not payment: the result arrives at result_url."""
        if not originator_conversation_id:
            raise DarajaValidationError("invalid_originator_conversation_id", "OriginatorConversationID is required")
        if command_id not in B2C_COMMANDS:
            raise DarajaValidationError("invalid_command_id", f"CommandID must be one of {sorted(B2C_COMMANDS)}")
        shillings = _whole_shillings(amount)
        _check_msisdn(phone)
        _check_length("Remarks", remarks, 2, 100)
        _check_length("Occasion", occasion, 0, 100)
        self._require(**_B2C_SETTINGS)
        payload = {
            "OriginatorConversationID": originator_conversation_id,
            "InitiatorName": self.config.initiator_name,
            "SecurityCredential": self.config.security_credential,
            "CommandID": command_id,
            "Amount": str(shillings),
            "PartyA": self.config.b2c_shortcode,
            "PartyB": phone,
            "Remarks": remarks,
            "QueueTimeOutURL": timeout_url,
            "ResultURL": result_url,
            "Occassion": occasion,  # sic: Daraja's spelling
        }
        context = f"b2c ocid={originator_conversation_id} phone={mask_msisdn(phone)} amount={shillings}"
        body = self._call(product="b2c", path=B2C_PATH, payload=payload, context=context, required="ConversationID")
        accepted = B2CAccepted(
            conversation_id=_text(body["ConversationID"]),
            originator_conversation_id=str(body.get("OriginatorConversationID") or originator_conversation_id),
            response_code=str(body.get("ResponseCode")),
            response_description=str(body.get("ResponseDescription") or ""),
        )
        if accepted.originator_conversation_id != originator_conversation_id:
            logger.warning(
                "Daraja echoed another OriginatorConversationID for %s: %s",
                context,
                accepted.originator_conversation_id,
            )
        logger.info("Daraja accepted %s conversation_id=%s", context, accepted.conversation_id)
        return accepted

    def transaction_status(
        self,
        *,
        original_conversation_id: str,
        result_url: str,
        timeout_url: str,
        transaction_id: str = "",
        remarks: str = "Status check",
        occasion: str = "",
        party_a: str = "",
        product: Product = "b2c",
    ) -> QueryAccepted:
        """Ask what became of a request sent from `party_a` (default the B2C shortcode: M-Pesa looks only there)
        through `product`'s Daraja app; the answer arrives at result_url. Safe to repeat."""
        if not original_conversation_id and not transaction_id:
            raise DarajaValidationError(
                "invalid_query", "An OriginalConversationID or a TransactionID is needed for a status query"
            )
        _check_length("Remarks", remarks, 2, 100)
        self._require(**_B2C_SETTINGS)
        payload = {
            "Initiator": self.config.initiator_name,
            "SecurityCredential": self.config.security_credential,
            "CommandID": "TransactionStatusQuery",
            "TransactionID": transaction_id,
            "OriginalConversationID": original_conversation_id,
            "PartyA": party_a or self.config.b2c_shortcode,
            "IdentifierType": "4",
            "ResultURL": result_url,
            "QueueTimeOutURL": timeout_url,
            "Remarks": remarks,
            "Occasion": occasion,
        }
        context = f"status original_ocid={original_conversation_id} transaction_id={transaction_id}"
        body = self._call(
            product=product, path=STATUS_PATH, payload=payload, context=context, required="ConversationID"
        )
        return self._query_accepted(body, context)

    def account_balance(self, *, result_url: str, timeout_url: str, remarks: str = "Balance check") -> QueryAccepted:
        """Ask for the B2C shortcode's balances; the answer arrives at result_url."""
        _check_length("Remarks", remarks, 2, 100)
        self._require(**_B2C_SETTINGS)
        payload = {
            "Initiator": self.config.initiator_name,
            "SecurityCredential": self.config.security_credential,
            "CommandID": "AccountBalance",
            "PartyA": self.config.b2c_shortcode,
            "IdentifierType": "4",
            "Remarks": remarks,
            "QueueTimeOutURL": timeout_url,
            "ResultURL": result_url,
        }
        body = self._call(
            product="b2c", path=BALANCE_PATH, payload=payload, context="account balance", required="ConversationID"
        )
        return self._query_accepted(body, "account balance")

    def stk_push(
        self,
        *,
        phone: str,
        amount: Decimal,
        account_reference: str,
        description: str,
        callback_url: str,
    ) -> StkAccepted:
        """Prompt `phone` to pay us (Lipa na M-Pesa Online); the outcome arrives at callback_url."""
        shillings = _whole_shillings(amount)
        _check_msisdn(phone)
        _check_length("AccountReference", account_reference, 1, 12)
        _check_length("TransactionDesc", description, 1, 13)
        self._require(stk_shortcode="STK shortcode", stk_passkey="STK passkey")
        timestamp = datetime.fromtimestamp(self._clock(), NAIROBI).strftime("%Y%m%d%H%M%S")
        shortcode = self.config.stk_shortcode
        password = base64.b64encode(f"{shortcode}{self.config.stk_passkey}{timestamp}".encode()).decode("ascii")
        payload = {
            "BusinessShortCode": shortcode,
            "Password": password,
            "Timestamp": timestamp,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": str(shillings),
            "PartyA": phone,
            "PartyB": shortcode,
            "PhoneNumber": phone,
            "CallBackURL": callback_url,
            "AccountReference": account_reference,
            "TransactionDesc": description,
        }
        context = f"stk phone={mask_msisdn(phone)} amount={shillings}"
        body = self._call(product="stk", path=STK_PATH, payload=payload, context=context, required="CheckoutRequestID")
        accepted = StkAccepted(
            merchant_request_id=str(body.get("MerchantRequestID") or ""),
            checkout_request_id=_text(body["CheckoutRequestID"]),
            response_code=str(body.get("ResponseCode")),
            response_description=str(body.get("ResponseDescription") or ""),
            customer_message=str(body.get("CustomerMessage") or ""),
        )
        logger.info("Daraja accepted %s checkout_request_id=%s", context, accepted.checkout_request_id)
        return accepted

    # --- Plumbing ------------------------------------------------------------------------------------

    def _require(self, **fields: str) -> None:
        missing = [label for name, label in fields.items() if not getattr(self.config, name)]
        if missing:
            raise DarajaConfigurationError("missing_configuration", f"Not configured: {', '.join(missing)}")

    def _query_accepted(self, body: dict[str, Any], context: str) -> QueryAccepted:
        accepted = QueryAccepted(
            conversation_id=_text(body["ConversationID"]),
            originator_conversation_id=str(body.get("OriginatorConversationID") or ""),
            response_code=str(body.get("ResponseCode")),
            response_description=str(body.get("ResponseDescription") or ""),
        )
        logger.info("Daraja accepted %s conversation_id=%s", context, accepted.conversation_id)
        return accepted

    def _call(
        self, *, product: Product, path: str, payload: dict[str, Any], context: str, required: str
    ) -> dict[str, Any]:
        """POST with a token; `required` is the id an acceptance must carry for the result to be matched."""
        token = self.access_token(product=product)
        try:
            return self._post(path, payload, token, context, required)
        except _InvalidToken:
            # The refusal proves nothing was processed: one retry with a fresh token is safe.
            logger.info("Daraja refused the access token for %s; fetching a new one and retrying once", context)
            self._drop_token(product, token)
            token = self.access_token(product=product)
        try:
            return self._post(path, payload, token, context, required)
        except _InvalidToken as again:
            self._drop_token(product, token)
            logger.warning("Daraja refused a fresh access token for %s: %s", context, again.error.code)
            if again.error.code == APP_LACKS_PRODUCT:
                # A token fetched a moment ago is not stale: 404.001.03 twice means the Daraja app cannot
                # call this API. Nothing was processed, and trying again changes nothing until someone acts.
                raise DarajaConfigurationError(
                    APP_LACKS_PRODUCT,
                    f"Daraja refused a freshly fetched access token for {product} (404.001.03): the Daraja app "
                    "probably lacks this product. Add it to the app on the Daraja portal, or check the consumer "
                    "key and secret",
                    http_status=again.error.http_status,
                ) from None
            raise again.error from None

    def _post(self, path: str, payload: dict[str, Any], token: str, context: str, required: str) -> dict[str, Any]:
        try:
            response = self._session.post(
                f"{self._base_url}{path}",
                json=payload,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.config.timeout,
                allow_redirects=False,  # a redirected POST would be replayed as a GET
            )
        except requests.exceptions.RequestException as exc:
            error = _transport_error(exc)
            logger.warning("Daraja %s: %s (%s)", context, error.code, type(error).__name__)
            raise error from None
        return self._interpret(response, context, required)

    def _interpret(self, response: requests.Response, context: str, required: str) -> dict[str, Any]:
        status = response.status_code
        body = _json_or_none(response)
        request_id = str(body.get("requestId") or "") if isinstance(body, dict) else ""
        code, message = _error_fields(body)

        if code in INVALID_TOKEN_CODES or status == 401:
            raise _InvalidToken(
                error_for_code(code or "401.002.01", message or "Invalid access token", http_status=status)
            )

        if 200 <= status < 300:
            if not isinstance(body, dict):
                error: DarajaError = DarajaOutcomeUnknown(
                    "unparseable_response",
                    f"Daraja answered HTTP {status} with a body that is not JSON",
                    http_status=status,
                )
            elif code:
                error = error_for_code(code, message, http_status=status, request_id=request_id)
            else:
                response_code = _text(body.get("ResponseCode"))
                accepted = bool(response_code) and classify_sync(response_code, http_status=status).is_success
                if accepted and _text(body.get(required)):
                    return body
                if accepted:
                    # Accepted, but without the id the result is matched on: as good as an unreadable answer.
                    error = DarajaOutcomeUnknown(
                        "unparseable_response", f"Daraja's acceptance holds no {required}", http_status=status
                    )
                elif not response_code:
                    error = DarajaOutcomeUnknown(
                        "unparseable_response", "Daraja's answer holds no ResponseCode", http_status=status
                    )
                else:
                    error = error_for_code(
                        response_code,
                        _text(body.get("ResponseDescription")) or _text(body.get("CustomerMessage")),
                        http_status=status,
                        request_id=request_id,
                    )
        elif code:
            error = error_for_code(code, message, http_status=status, request_id=request_id)
        else:
            error = error_for_http_status(status, message=message, request_id=request_id)
        logger.warning("Daraja %s refused: HTTP %s %s (%s)", context, status, error.code, type(error).__name__)
        raise error

    # --- For the products in their own modules (money_in.py, pull_transactions.py, name_check.py, ...) ---

    def request(
        self, *, product: Product, path: str, payload: dict[str, Any], context: str, required: str
    ) -> dict[str, Any]:
        """An ordinary Daraja request: ResponseCode "0" accepts it and the answer must carry `required`; every
        other answer raises as the B2C calls do."""
        return self._call(product=product, path=path, payload=payload, context=context, required=required)

    def request_raw(self, *, product: Product, path: str, payload: dict[str, Any], context: str) -> tuple[int, Any]:
        """(HTTP status, JSON body or None) of a request whose answer does not follow the ResponseCode "0"
        rule (Pull, STK query, Hakikisha, Org Info): the caller reads it. Transport failures raise as in every
        call; an invalid token is refreshed and the request sent once more (the refusal proves it was not
        processed). Numbers with a fraction are read as Decimal."""
        token = self.access_token(product=product)
        for attempt in (1, 2):
            try:
                response = self._session.post(
                    f"{self._base_url}{path}",
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=self.config.timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                error = _transport_error(exc)
                logger.warning("Daraja %s: %s (%s)", context, error.code, type(error).__name__)
                raise error from None
            body = _decimal_json(response)
            code, message = _error_fields(body)
            if code not in INVALID_TOKEN_CODES and response.status_code != 401:
                return response.status_code, body
            self._drop_token(product, token)
            if attempt == 1:
                logger.info("Daraja refused the access token for %s; fetching a new one and retrying once", context)
                token = self.access_token(product=product)
        logger.warning("Daraja refused a fresh access token for %s: %s", context, code)
        if code == APP_LACKS_PRODUCT:
            raise DarajaConfigurationError(
                APP_LACKS_PRODUCT,
                f"Daraja refused a freshly fetched access token for {context} (404.001.03): the Daraja app "
                "probably lacks this product",
                http_status=response.status_code,
            )
        raise DarajaAuthError(
            code or "401.002.01", message or "Invalid access token", retryable=True, http_status=response.status_code
        )


# --- Helpers (module level: no client state) -------------------------------------------------------------


def _transport_error(exc: requests.exceptions.RequestException) -> DarajaError:
    """Sort a requests failure by whether any of the request can have reached the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return DarajaConnectError("connect_timeout", "Connecting to Daraja timed out")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return DarajaOutcomeUnknown("read_timeout", "Daraja did not answer in time after the request was sent")
    if isinstance(
        exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)
    ):
        return DarajaConfigurationError("invalid_url", "The Daraja base URL is not a valid URL")
    if isinstance(exc, requests.exceptions.SSLError):
        if _cause_of_type(exc, _CERTIFICATE_ERRORS):
            return DarajaConnectError("tls_error", "Daraja's TLS certificate was refused", retryable=False)
        return DarajaOutcomeUnknown("tls_error", "The TLS connection to Daraja failed")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _cause_of_type(exc, _NEVER_CONNECTED):
            return DarajaConnectError("connect_error", "Could not connect to Daraja")
        return DarajaOutcomeUnknown("connection_lost", "The connection to Daraja dropped after the request was sent")
    return DarajaOutcomeUnknown("request_error", f"The request to Daraja failed ({type(exc).__name__})")


_CERTIFICATE_ERRORS: tuple[type[BaseException], ...] = (ssl.SSLCertVerificationError,)
# Errors urllib3 and the socket layer raise only while opening a connection, before any byte is sent.
_NEVER_CONNECTED: tuple[type[BaseException], ...] = (NewConnectionError, ConnectTimeoutError, ConnectionRefusedError)


def _cause_of_type(exc: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    """Whether `types` appear anywhere in the chain requests and urllib3 wrap an error in."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, types):
            return True
        pending.extend(item.args)
        pending.extend(x for x in (getattr(item, "reason", None), item.__cause__, item.__context__) if x is not None)
    return False


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _decimal_json(response: requests.Response) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None


def answer_ids(body: dict[str, Any], *, originator_conversation_id: str = "") -> dict[str, str]:
    """The ids and words of Daraja's synchronous acceptance, as every *Accepted dataclass takes them
    (OriginatorConversationID falls back to ours when the answer leaves it out)."""
    return {
        "conversation_id": _text(body["ConversationID"]),
        "originator_conversation_id": _text(body.get("OriginatorConversationID")) or originator_conversation_id,
        "response_code": _text(body.get("ResponseCode")),
        "response_description": _text(body.get("ResponseDescription")),
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _error_fields(body: Any) -> tuple[str, str]:
    """(errorCode, errorMessage) of a Daraja error body; OAuth errors may use resultCode/resultDesc."""
    if not isinstance(body, dict):
        return "", ""
    code = _text(body.get("errorCode") or body.get("resultCode"))
    message = _text(body.get("errorMessage") or body.get("resultDesc"))
    return code, message


def _parse_lifetime(value: Any) -> int:
    try:
        lifetime = int(str(value).strip())
    except ValueError:
        return DEFAULT_TOKEN_LIFETIME
    return lifetime if lifetime > 0 else DEFAULT_TOKEN_LIFETIME


def _whole_shillings(amount: Decimal | int | str) -> int:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise DarajaValidationError("invalid_amount", "The amount is not a number") from None
    if not value.is_finite() or value <= 0 or value != value.to_integral_value():
        raise DarajaValidationError("invalid_amount", "M-Pesa amounts are positive whole shillings")
    return int(value)


def _check_msisdn(phone: str) -> None:
    if not MSISDN.fullmatch(phone or ""):
        raise DarajaValidationError("invalid_phone", "The phone number must be 12 digits: 2547XXXXXXXX or 2541XXXXXXXX")


def _check_length(name: str, value: str, low: int, high: int) -> None:
    if not low <= len(value or "") <= high:
        raise DarajaValidationError(f"invalid_{name.lower()}", f"{name} must be {low} to {high} characters long")
