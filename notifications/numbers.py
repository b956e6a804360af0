"""WhatsApp numbers: normalised to the digits the Cloud API takes, and masked wherever they reach a log."""

from __future__ import annotations

import re

from core.phone import mask_msisdn

_SEPARATORS = re.compile(r"[\s\-().]")
# E.164 allows at most 15 digits; the shortest real mobile numbers have 8.
_INTERNATIONAL = re.compile(r"^[1-9]\d{7,14}$")
# Anything that looks like a phone number inside free text (a message body on its way to the console log).
_NUMBER_IN_TEXT = re.compile(r"\+?\d{9,15}")


class InvalidWhatsAppNumber(ValueError):
    pass


def normalize_whatsapp_number(value: str) -> str:
    """+254712345678, 254712345678, 0712345678 (Kenyan) or any E.164 number -> digits without "+"."""
    raw = _SEPARATORS.sub("", str(value or "").strip())
    if raw.startswith("+"):
        raw = raw[1:]
    elif raw.startswith("00"):
        raw = raw[2:]
    elif raw.startswith("0") and len(raw) == 10:
        raw = "254" + raw[1:]  # a local Kenyan number
    if not _INTERNATIONAL.match(raw):
        raise InvalidWhatsAppNumber(
            f"Enter a WhatsApp number in international form, such as +254712345678 or 254712345678 "
            f"(got {mask_number(raw)!r})."
        )
    return raw


def mask_number(value: str | None) -> str:
    return mask_msisdn(value)


def _mask_match(match: re.Match) -> str:
    found = match.group(0)
    if found.startswith("+"):
        return "+" + mask_msisdn(found[1:])
    return mask_msisdn(found)


def mask_numbers_in_text(text: str) -> str:
    return _NUMBER_IN_TEXT.sub(_mask_match, text or "")
