"""The one application error type: the API turns it into a clean 4xx, the admin into a message."""

from __future__ import annotations


class PayoutError(Exception):
    """A rule refused the request. `message` is safe to show to the user; nothing was changed."""

    status_code = 400

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class PermissionDenied(PayoutError):
    status_code = 403

    def __init__(self, message: str, *, code: str = "permission_denied") -> None:
        super().__init__(message, code=code)


class InvalidState(PayoutError):
    status_code = 409

    def __init__(self, message: str, *, code: str = "invalid_state") -> None:
        super().__init__(message, code=code)


class NotFound(PayoutError):
    status_code = 404

    def __init__(self, message: str = "Not found.", *, code: str = "not_found") -> None:
        super().__init__(message, code=code)
