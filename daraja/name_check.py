"""Looking up who will be paid, before paying: B2C Hakikisha (a phone's registered name) and Query Org Info (a
paybill's or till's organisation name). Both are synchronous, OAuth only (no initiator).

Neither ever raises for Daraja's answer or the network: a lookup that did not work is NOT_CHECKED, and the
payout goes on as it would without one (a person sees that it was not checked). Bad input raises
DarajaValidationError before anything is sent; credentials or configuration a person must fix raise too.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from core.phone import MSISDN, mask_msisdn
from daraja.client import DarajaClient, Product, _error_fields, _text
from daraja.errors import DarajaAuthError, DarajaConfigurationError, DarajaError, DarajaValidationError

HAKIKISHA_PATH = "/mpesa/b2c/hakikisha/v1/hakikisha"
ORG_INFO_PATH = "/sfcverify/v1/query/info"
ORG_TYPES = {"paybill": "4", "till": "2", "4": "4", "2": "2"}
# Words of an answer that says the number or organisation does not exist (not that the lookup failed).
_NOT_FOUND = re.compile(r"does ?n[o']t exist|not (?:be )?found|not registered|no such|unknown (?:customer|org)", re.I)


class NameCheckOutcome(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"  # M-Pesa says the number / organisation does not exist
    NOT_CHECKED = "not_checked"  # an error, a timeout, an answer we cannot read: nothing is known


@dataclass(frozen=True)
class HakikishaAnswer:
    outcome: NameCheckOutcome
    first_name: str = ""  # in the clear
    middle_name: str = ""  # masked by M-Pesa ("M******")
    last_name: str = ""  # masked by M-Pesa
    message: str = ""  # Daraja's words, or what went wrong

    @property
    def masked_rest(self) -> str:
        return " ".join(name for name in (self.middle_name, self.last_name) if name)


def hakikisha_payload(*, request_id: str, timestamp: str, msisdn: str, shortcode: str) -> dict[str, Any]:
    """The request body (samples: hakikisha_request.json)."""
    if not MSISDN.fullmatch(msisdn or ""):
        raise DarajaValidationError("invalid_phone", "The phone number must be 12 digits: 2547XXXXXXXX or 2541XXXXXXXX")
    if not shortcode or not shortcode.isdigit():
        raise DarajaConfigurationError("missing_configuration", "Not configured: B2C shortcode")
    return {
        "header": {"requestID": request_id, "timestamp": timestamp},
        "body": {"msisdn": msisdn, "shortcode": shortcode},
    }


def hakikisha_lookup(
    client: DarajaClient, *, msisdn: str, shortcode: str = "", request_id: str = "", product: Product = "b2c"
) -> HakikishaAnswer:
    """The registered name of `msisdn`: first name in the clear, the rest masked."""
    payload = hakikisha_payload(
        request_id=request_id or str(uuid.uuid4()),
        timestamp=str(int(client._clock())),
        msisdn=msisdn,
        shortcode=shortcode or client.config.b2c_shortcode,
    )
    context = f"hakikisha {mask_msisdn(msisdn)}"
    try:
        status, body = client.request_raw(product=product, path=HAKIKISHA_PATH, payload=payload, context=context)
    except (DarajaAuthError, DarajaConfigurationError):
        raise
    except DarajaError as exc:
        return HakikishaAnswer(NameCheckOutcome.NOT_CHECKED, message=exc.message)
    return parse_hakikisha(status, body)


def parse_hakikisha(status: int, body: Any) -> HakikishaAnswer:
    """A Hakikisha answer (samples: hakikisha_response.json, hakikisha_error.json); pure, no I/O."""
    header = body.get("header") if isinstance(body, dict) else None
    content = body.get("body") if isinstance(body, dict) else None
    if not isinstance(header, dict) or not isinstance(content, dict):
        code, message = _error_fields(body)
        return HakikishaAnswer(NameCheckOutcome.NOT_CHECKED, message=message or code or f"HTTP {status}, unreadable")
    answer_status = _text(header.get("status"))
    message = _text(content.get("message")) or _text(header.get("message"))
    first_name = _text(content.get("firstName"))
    if answer_status == "200" and first_name:
        return HakikishaAnswer(
            NameCheckOutcome.FOUND,
            first_name=first_name,
            middle_name=_text(content.get("middleName")),
            last_name=_text(content.get("lastName")),
            message=message,
        )
    if answer_status.startswith("4") and _NOT_FOUND.search(message):
        return HakikishaAnswer(NameCheckOutcome.NOT_FOUND, message=message)
    return HakikishaAnswer(NameCheckOutcome.NOT_CHECKED, message=message or f"status {answer_status or status}")


@dataclass(frozen=True)
class OrgInfoAnswer:
    outcome: NameCheckOutcome
    organization_name: str = ""
    shortcode: str = ""
    charge_profile_id: str = ""
    response_code: str = ""
    message: str = ""


def org_info_payload(*, identifier: str, identifier_type: str) -> dict[str, str]:
    """The request body (samples: org_info_request.json): type "4" a paybill, "2" a till."""
    kind = ORG_TYPES.get(str(identifier_type).lower())
    if kind is None:
        raise DarajaValidationError("invalid_identifier_type", 'IdentifierType must be "4" (paybill) or "2" (till)')
    if not identifier or not str(identifier).isdigit() or not 5 <= len(str(identifier)) <= 7:
        raise DarajaValidationError("invalid_identifier", "Identifier must be a paybill or till number (5-7 digits)")
    return {"IdentifierType": kind, "Identifier": str(identifier)}


def org_info_lookup(
    client: DarajaClient,
    *,
    identifier: str,
    identifier_type: Literal["paybill", "till", "4", "2"],
    product: Product = "b2c",
) -> OrgInfoAnswer:
    """The organisation behind a paybill or till number."""
    payload = org_info_payload(identifier=identifier, identifier_type=identifier_type)
    try:
        status, body = client.request_raw(
            product=product, path=ORG_INFO_PATH, payload=payload, context=f"org info {payload['Identifier']}"
        )
    except (DarajaAuthError, DarajaConfigurationError):
        raise
    except DarajaError as exc:
        return OrgInfoAnswer(NameCheckOutcome.NOT_CHECKED, message=exc.message)
    return parse_org_info(status, body)


def parse_org_info(status: int, body: Any) -> OrgInfoAnswer:
    """Success is an OrganizationName, whatever the code says ("4000" in the sample, 0 in the docs' table)."""
    if not isinstance(body, dict):
        return OrgInfoAnswer(NameCheckOutcome.NOT_CHECKED, message=f"HTTP {status}, unreadable")
    name = _text(body.get("OrganizationName"))
    code = _text(body.get("ResponseCode"))
    error_code, error_message = _error_fields(body)
    message = _text(body.get("DetailedMessage") or body.get("ResponseMessage")) or error_message
    if name:
        return OrgInfoAnswer(
            NameCheckOutcome.FOUND,
            organization_name=name,
            shortcode=_text(body.get("OrganizationShortCode")),
            charge_profile_id=_text(body.get("ChargeProfileID")),
            response_code=code,
            message=message,
        )
    outcome = (
        NameCheckOutcome.NOT_FOUND if status < 500 and _NOT_FOUND.search(message) else NameCheckOutcome.NOT_CHECKED
    )
    return OrgInfoAnswer(outcome, response_code=code or error_code, message=message or f"HTTP {status}")
