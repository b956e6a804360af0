"""Registering this system with Daraja, once: the C2B confirmation and validation URLs it serves
(`register_c2b_urls`), and the shortcode for Pull Transactions (`pull_register`). Both are safe to send again.
A URL holding a word Safaricom refuses is refused before anything is sent (daraja/money_in.py); the error names
the word and the field, never the URL (it carries a token)."""

from __future__ import annotations

from django.conf import settings

from core.phone import MSISDN
from daraja.errors import DarajaValidationError
from daraja.money_in import RESPONSE_TYPES, C2BRegistration, c2b_register_urls, check_callback_url
from daraja.pull_transactions import PullRegistration, pull_register
from payments.callbacks.tokens import static_url
from payments.daraja_client import daraja_client


class RegistrationNotSent(ValueError):
    """What we would send is refused before sending (a setting to fix): input, never Daraja's answer."""


def _checked(name: str, url: str) -> str:
    try:
        check_callback_url(name, url)
    except DarajaValidationError as exc:
        raise RegistrationNotSent(exc.message) from None
    return url


def c2b_urls_register(*, response_type: str = "Completed") -> C2BRegistration:
    """Register where M-Pesa posts this shortcode's C2B confirmations and validations. In production Safaricom
    keeps the first registration (changing it needs their support); in the sandbox it is replaced."""
    if response_type not in RESPONSE_TYPES:
        raise RegistrationNotSent("ResponseType must be Completed or Cancelled")
    return c2b_register_urls(
        daraja_client(),
        shortcode=settings.MPESA_SHORTCODE,
        confirmation_url=_checked("ConfirmationURL", static_url("c2b-confirmation")),
        validation_url=_checked("ValidationURL", static_url("c2b-validation")),
        response_type=response_type,
        version=settings.MPESA_C2B_REGISTER_VERSION,
    )


def pull_shortcode_register() -> PullRegistration:
    """Register the C2B shortcode for Pull Transactions (1000 registered now, 1001 already: both success)."""
    if not MSISDN.fullmatch(settings.MPESA_PULL_NOMINATED_NUMBER or ""):
        raise RegistrationNotSent("MPESA_PULL_NOMINATED_NUMBER must be 12 digits: 2547XXXXXXXX")
    return pull_register(
        daraja_client(),
        shortcode=settings.MPESA_PULL_SHORTCODE or settings.MPESA_SHORTCODE,
        nominated_number=settings.MPESA_PULL_NOMINATED_NUMBER,
        callback_url=_checked("CallBackURL", static_url("c2b-confirmation")),
    )
