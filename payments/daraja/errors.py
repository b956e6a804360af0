"""What went wrong talking to Daraja, sorted by the one question that matters for money:
could M-Pesa have processed the request?

- DarajaNotSent: certainly not processed. The same request may be sent again (if `retryable`).
- DarajaOutcomeUnknown: it might have been processed. Never resend: settle it with a Transaction Status
  query (DESIGN.md "Patterns that keep money safe", 4).

Messages never carry a secret, token, SecurityCredential or password: they are shown to admins and logged.
"""

from __future__ import annotations

from typing import ClassVar

# REFERENCE.md "Synchronous error codes".
INVALID_TOKEN_CODES = frozenset({"404.001.03", "401.002.01", "400.003.01"})
INVALID_AUTH_HEADER = "404.001.04"
MERCHANT_ERROR = "500.001.1001"  # merchant/credentials problem, or (STK) "Unable to lock subscriber"
DUPLICATE_ORIGINATOR_ID = "500.002.1001"
SPIKE_ARREST = "500.003.02"
QUOTA_VIOLATION = "500.003.03"
INTERNAL_ERROR = "500.003.1001"
VALIDATION_CODES = frozenset({"400.002.02", "400.002.05"})

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
    """Map a Daraja error code (errorCode of an error body, or a non-zero ResponseCode) to its class.

    Codes we do not know are judged by their family (4xx.* refused, 500.* unknown), then by the HTTP status:
    a 2xx that carries a non-zero ResponseCode declined the request; a 5xx may have been processed.
    """
    code = str(code or "").strip()
    message = message or code or "Daraja error"
    kwargs = {"http_status": http_status, "request_id": request_id}
    if code in INVALID_TOKEN_CODES:
        # Raised only after the one refresh-and-retry: a fresh token might work later.
        return DarajaAuthError(code, message, retryable=True, **kwargs)
    if code == INVALID_AUTH_HEADER:
        return DarajaAuthError(code, message, **kwargs)
    if code == MERCHANT_ERROR:
        # The same code covers wrong credentials/merchant (a config problem) and, for STK, "Unable to lock
        # subscriber" (the customer already has a prompt open: wait and try again). Neither was processed.
        if "lock" in message.lower():
            return DarajaRateLimited(code, message, **kwargs)
        return DarajaAuthError(code, message, **kwargs)
    if code == DUPLICATE_ORIGINATOR_ID:
        return DarajaDuplicate(code, message, **kwargs)
    if code in (SPIKE_ARREST, QUOTA_VIOLATION):
        return DarajaRateLimited(code, message, **kwargs)
    if code == INTERNAL_ERROR:
        return DarajaOutcomeUnknown(code, message, **kwargs)
    if code in VALIDATION_CODES or code.startswith("400."):
        return DarajaValidationError(code, message, **kwargs)
    if code.startswith(("401.", "403.")):
        return DarajaAuthError(code, message, **kwargs)
    if code.startswith("404."):
        return DarajaValidationError(code, message, **kwargs)
    if code.startswith("500."):
        return DarajaOutcomeUnknown(code, message, **kwargs)
    if http_status is not None and 200 <= http_status < 300:
        # A 2xx that names a non-zero ResponseCode declined the request instead of accepting it.
        return DarajaValidationError(code or "declined", message, **kwargs)
    return error_for_http_status(http_status, code=code, message=message, request_id=request_id)


def error_for_http_status(
    http_status: int | None,
    *,
    code: str = "",
    message: str = "",
    request_id: str = "",
) -> DarajaError:
    """An error answer without a code we recognise, judged by its status alone."""
    status = http_status or 0
    code = code or f"http_{status}"
    message = message or f"Daraja answered HTTP {status}"
    kwargs = {"http_status": http_status, "request_id": request_id}
    if status == 429:
        return DarajaRateLimited(code, message, **kwargs)
    if status in (401, 403):
        return DarajaAuthError(code, message, **kwargs)
    if 300 <= status < 500:
        # A redirect or a 4xx is an answer given instead of processing.
        return DarajaValidationError(code, message, **kwargs)
    # 5xx (502/504 from a gateway included): the upstream may have acted before failing.
    return DarajaOutcomeUnknown(code, message, **kwargs)
