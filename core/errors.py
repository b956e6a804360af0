"""The application's errors: one family under `ApplicationError`, and the codes they carry (`ErrorCode`).

Every entry point turns an `ApplicationError` into a clean answer with nothing written: the API a 4xx
(`core.api_errors`), the admin a message, a command its exit 2. `message` is safe to show to the user;
`code` is what a program reads (the API's `code` field). An `ErrorCode` is a `StrEnum`: it compares equal to
(and serialises as) the string it replaced, so answers and stored texts read as before.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "invalid"
    PERMISSION_DENIED = "permission_denied"
    INVALID_STATE = "invalid_state"
    NOT_FOUND = "not_found"
    # Four eyes (payments/payouts/four_eyes.py).
    OWN_PAYOUT = "own_payout"
    OWN_EDIT = "own_edit"
    OWN_REVIEW = "own_review"
    ALREADY_APPROVED = "already_approved"
    ALREADY_RETRIED = "already_retried"
    NO_REVIEW = "no_review"
    REVIEW_WAITING = "review_waiting"
    # A saved recipient's four eyes and payability (payments/recipients/).
    OWN_RECIPIENT = "own_recipient"
    RECIPIENT_NOT_ACTIVE = "recipient_not_active"
    REFERENCE_TAKEN = "reference_taken"
    # The name check (payments/payouts/name_check.py): a mismatched name approved without "I have checked it".
    NAME_NOT_CONFIRMED = "name_not_confirmed"
    # Input.
    AMOUNT = "amount"
    INVALID_PHONE = "invalid_phone"
    OVER_REFUND = "over_refund"
    TEXT = "text"
    FORM_NONCE = "form_nonce"


class ApplicationError(Exception):
    """A rule refused the request. `message` is safe to show to the user; nothing was changed."""

    status_code = 400
    default_code = ErrorCode.INVALID

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class PayoutError(ApplicationError):
    """A payments rule refused the request (a payout's or a payment's amount, phone, file, form)."""


class LedgerError(ApplicationError):
    """A ledger rule refused the request (a funding entry's kind or amount)."""


class PermissionDenied(ApplicationError):
    status_code = 403
    default_code = ErrorCode.PERMISSION_DENIED


class InvalidState(ApplicationError):
    status_code = 409
    default_code = ErrorCode.INVALID_STATE


class NotFound(ApplicationError):
    status_code = 404
    default_code = ErrorCode.NOT_FOUND

    def __init__(self, message: str = "Not found.", *, code: str | None = None) -> None:
        super().__init__(message, code=code)
