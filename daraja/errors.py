"""What went wrong talking to Daraja, sorted by the one question that matters for money:
could M-Pesa have processed the request?

- DarajaNotSent: certainly not processed. The same request may be sent again (if `retryable`).
- DarajaOutcomeUnknown: it might have been processed. Never resend: settle it with a Transaction Status
  query (docs/result-codes.md).

Messages never carry a secret, token, SecurityCredential or password: they are shown to admins and logged.
"""

from __future__ import annotations

from typing import ClassVar

from daraja.result_codes import CATALOGUE, Namespace, SyncKind, classify_sync

# The synchronous codes the client itself must recognise; what every code means is in result_codes.py.
INVALID_TOKEN_CODES = frozenset(
    info.code for info in CATALOGUE[Namespace.SYNC].values() if info.sync_kind == SyncKind.TOKEN
)
APP_LACKS_PRODUCT = "404.001.03"  # also the answer when the Daraja app does not have the product
MERCHANT_ERROR = "500.001.1001"  # merchant/credentials problem, or (STK) "Unable to lock subscriber"

_MAX_MESSAGE = 300


class DarajaError(Exception):
    """Base class. `code` is Daraja's errorCode/ResponseCode or one of ours (e.g. "connect_error")."""

    default_retryable: ClassVar[bool] = False
    # True when M-Pesa may have acted on the request: the caller must settle it by a status query.
    may_have_been_processed: ClassVar[bool] = False

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool | None = None,
        http_status: int | None = None,
        request_id: str = "",
    ) -> None:
        self.code = str(code)
        self.message = _safe_message(message)
        self.retryable = self.default_retryable if retryable is None else retryable
        self.http_status = http_status
        self.request_id = request_id
        super().__init__(self.code, self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, retryable={self.retryable!r}, "
            f"http_status={self.http_status!r})"
        )


class DarajaNotSent(DarajaError):
    """Certainly not processed by M-Pesa."""


class DarajaAuthError(DarajaNotSent):
    """OAuth failed, the credentials/shortcode are wrong, or the token stayed invalid after one refresh."""


class DarajaValidationError(DarajaNotSent):
    """Daraja (or the client, before sending) refused the request as malformed."""


class DarajaConfigurationError(DarajaNotSent):
    """Something the request needs (shortcode, initiator, credential) is not configured: nothing was sent."""


class DarajaRateLimited(DarajaNotSent):
    """Spike arrest or quota: refused before processing. Slow down, then the same request may be sent again."""

    default_retryable = True


class DarajaConnectError(DarajaNotSent):
    """No connection was made (refused, DNS, connect timeout): not a byte of the request left us."""

    default_retryable = True


class DarajaOutcomeUnknown(DarajaError):
    """The request may have reached M-Pesa: read timeout, dropped connection, 5xx, unreadable answer."""

    may_have_been_processed = True


class DarajaDuplicate(DarajaOutcomeUnknown):
    """500.002.1001: M-Pesa already holds a request with this OriginatorConversationID. Its outcome is
    whatever happened to that first request: ask with a Transaction Status query."""


def _safe_message(message: str) -> str:
    text = " ".join(str(message or "").split())
    return text[:_MAX_MESSAGE]


def error_for_code(
    code: str,
    message: str,
    *,
    http_status: int | None = None,
    request_id: str = "",
) -> DarajaError:
    """Map a Daraja error code (errorCode of an error body, or a non-zero ResponseCode) to its class, as the
    catalogue's synchronous table classifies it (daraja/result_codes.py): a code it does not hold
    is judged by its family (4xx.* refused, 500.* unknown), then by the HTTP status."""
    code = str(code or "").strip()
    message = message or code or "Daraja error"
    kwargs = {"http_status": http_status, "request_id": request_id}
    info = classify_sync(code, http_status=http_status)
    kind = info.sync_kind
    if code == MERCHANT_ERROR and "lock" in message.lower():
        # The same code covers wrong credentials/merchant (a config problem) and, for STK, "Unable to lock
        # subscriber" (the customer already has a prompt open: wait and try again). Neither was processed.
        return DarajaRateLimited(code, message, **kwargs)
    if not code:
        return error_for_http_status(http_status, message=message, request_id=request_id)
    return _error_of_kind(kind, code, message, **kwargs)


def _error_of_kind(kind: str, code: str, message: str, **kwargs) -> DarajaError:
    if kind == SyncKind.TOKEN:
        # Raised only after the one refresh-and-retry: a fresh token might work later.
        return DarajaAuthError(code, message, retryable=True, **kwargs)
    if kind == SyncKind.AUTH:
        return DarajaAuthError(code, message, **kwargs)
    if kind == SyncKind.CONFIGURATION:
        return DarajaConfigurationError(code, message, **kwargs)
    if kind == SyncKind.RATE_LIMITED:
        return DarajaRateLimited(code, message, **kwargs)
    if kind == SyncKind.DUPLICATE:
        return DarajaDuplicate(code, message, **kwargs)
    if kind == SyncKind.VALIDATION:
        return DarajaValidationError(code, message, **kwargs)
    return DarajaOutcomeUnknown(code, message, **kwargs)


def error_for_http_status(
    http_status: int | None,
    *,
    code: str = "",
    message: str = "",
    request_id: str = "",
) -> DarajaError:
    """An error answer without a code we recognise, judged by its status alone (429 throttled, 401/403
    refused credentials, another 3xx/4xx refused, a 5xx - a gateway's 502/504 included - may have acted)."""
    status = http_status or 0
    code = code or f"http_{status}"
    message = message or f"Daraja answered HTTP {status}"
    info = classify_sync("", http_status=status)
    return _error_of_kind(info.sync_kind, code, message, http_status=http_status, request_id=request_id)
