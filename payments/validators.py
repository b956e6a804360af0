"""Field checks shared by the console's forms and the API's serializers, so that a form or a 400 names every
bad field at once: the phone and amount rules are the services' own (normalize_msisdn, validate_amount), run
per field before the service is called, which checks them again (and the limits that span fields)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError

from core.errors import ApplicationError, ErrorCode
from core.phone import InvalidPhoneNumber, normalize_msisdn
from payments.payouts.limits import validate_amount


def kenyan_phone(value: str) -> None:
    if not value:
        return  # an optional phone left blank; a required one is refused by its field
    try:
        normalize_msisdn(value)
    except InvalidPhoneNumber as exc:
        raise ValidationError(str(exc), code=ErrorCode.INVALID_PHONE) from None


def payable_amount(value: Decimal) -> None:
    try:
        validate_amount(value)
    except ApplicationError as exc:
        raise ValidationError(exc.message, code=ErrorCode.AMOUNT) from None
