"""Kenyan MSISDNs as Daraja wants them (2547XXXXXXXX / 2541XXXXXXXX) and as logs may show them."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().]")
# ASCII digits only: Python's \d also matches other scripts' digits ("2547123456\uff17" with a full-width
# seven), which would pass here and then escape limits and search that compare the stored text.
# A full Kenyan mobile number as M-Pesa takes it: 254, then 7 or 1, then eight digits.
MSISDN = re.compile(r"^254[17][0-9]{8}$", re.ASCII)
_HASHED = re.compile(r"^[0-9a-f]{64}$", re.ASCII | re.IGNORECASE)


class InvalidPhoneNumber(ValueError):
    pass


def normalize_msisdn(value: str | int) -> str:
    """Return the 12-digit 2547/2541 form of a Kenyan mobile number, or raise InvalidPhoneNumber.

    Accepts 07XXXXXXXX, 01XXXXXXXX, 7XXXXXXXX, +2547XXXXXXXX, 2547XXXXXXXX, with spaces or dashes.
    """
    raw = _SEPARATORS.sub("", str(value).strip())
    if raw.startswith("+"):
        raw = raw[1:]
    if raw.startswith("0") and len(raw) == 10:
        raw = "254" + raw[1:]
    elif len(raw) == 9 and raw[0] in "17":
        raw = "254" + raw
    if not MSISDN.fullmatch(raw):
        raise InvalidPhoneNumber(
            "Enter a Kenyan mobile number such as 0712345678 or 254712345678 (Safaricom needs 2547XXXXXXXX "
            "or 2541XXXXXXXX)."
        )
    return raw


def is_full_msisdn(value: str) -> bool:
    return bool(MSISDN.fullmatch(value or ""))


def is_hashed_msisdn(value: str | None) -> bool:
    """A C2B confirmation's MSISDN given as a 64-character SHA-256 hex (real confirmations since 2025)."""
    return bool(_HASHED.fullmatch(value or ""))


def display_payer_phone(value: str | None) -> str:
    """How a payer's number is shown: masked when it is a number, named as a hash when it is one."""
    if is_hashed_msisdn(value):
        return f"SHA-256 hash {value[:8].lower()}…{value[-4:].lower()} (not a phone number)"
    return mask_msisdn(value) if is_full_msisdn(value or "") else (value or "")


def mask_msisdn(value: str | None) -> str:
    """2547****2645: enough to tell numbers apart in a log, not enough to call anyone."""
    if not value:
        return ""
    digits = str(value)
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:4]}****{digits[-4:]}"
