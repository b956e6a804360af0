"""The simulator's name checks: B2C Hakikisha (a phone's registered name) and Query Org Info (a paybill's or
till's organisation). Synchronous, token only. Outcomes by the last three digits (scenarios.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.phone import MSISDN
from daraja_simulator import payloads
from daraja_simulator.engine import Reply, _invalid, _missing
from daraja_simulator.scenarios import (
    HAKIKISHA_NOT_FOUND_SUFFIX,
    HAKIKISHA_OTHER_NAME_SUFFIX,
    ORG_UNKNOWN_SUFFIX,
)

if TYPE_CHECKING:
    from daraja_simulator.engine import DarajaSimulator

OTHER_NAME = "SAMUEL KIPROTICH LANGAT"


class NameCheckDesk:
    def __init__(self, simulator: DarajaSimulator) -> None:
        self.sim = simulator

    def hakikisha(self, authorization: str | None, raw: bytes) -> Reply:
        body = self.sim._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        header, content = body.get("header"), body.get("body")
        if not isinstance(header, dict) or not isinstance(content, dict):
            return _invalid("header")
        refused = _missing(content, ("msisdn", "shortcode"))
        if refused:
            return refused
        msisdn = str(content["msisdn"]).strip()
        answer_header = {
            "requestID": str(header.get("requestID") or ""),
            "timestamp": str(header.get("timestamp") or ""),
        }
        if not MSISDN.fullmatch(msisdn):
            return Reply(400, _hakikisha(answer_header, "400", "Error", {"message": "Invalid msisdn."}))
        if msisdn.endswith(HAKIKISHA_NOT_FOUND_SUFFIX):
            return Reply(400, _hakikisha(answer_header, "400", "Error", {"message": "The customer does not exist."}))
        full_name = OTHER_NAME if msisdn.endswith(HAKIKISHA_OTHER_NAME_SUFFIX) else _name_of(msisdn)
        first, *rest = full_name.split()
        middle, last = (rest + ["", ""])[:2] if len(rest) < 2 else (rest[0], rest[-1])
        names = {"firstName": first.lower(), "middleName": _masked(middle), "lastName": _masked(last)}
        return Reply(200, _hakikisha(answer_header, "200", "Success", names))

    def org_info(self, authorization: str | None, raw: bytes) -> Reply:
        body = self.sim._authorised_json(authorization, raw)
        if isinstance(body, Reply):
            return body
        refused = _missing(body, ("IdentifierType", "Identifier"))
        if refused:
            return refused
        identifier = str(body["Identifier"]).strip()
        if str(body["IdentifierType"]) not in ("2", "4"):
            return _invalid("IdentifierType")
        if not identifier.isdigit():
            return _invalid("Identifier")
        conversation = payloads.request_id()
        if identifier.endswith(ORG_UNKNOWN_SUFFIX):
            # Undocumented: the simulator's own shape for an organisation M-Pesa does not know.
            return Reply(
                200,
                {
                    "ConversationID": conversation,
                    "ResponseCode": "4001",
                    "ResponseMessage": "Failed",
                    "DetailedMessage": "Organization not found",
                },
            )
        return Reply(
            200,
            {
                "ConversationID": conversation,
                "ResponseCode": "4000",
                "ResponseMessage": "Success",
                "DetailedMessage": "Request received successfully",
                "OrganizationShortCode": identifier,
                "OrganizationName": f"Simulated Business {identifier}",
                "ChargeProfileID": "20013",
            },
        )


def _name_of(msisdn: str) -> str:
    """The name B2C results give this number ("254700000645 - JOHN OTIENO DOE")."""
    return payloads.public_name(msisdn).split(" - ", 1)[1]


def _masked(name: str) -> str:
    return f"{name[:1]}******" if name else ""


def _hakikisha(header: dict[str, str], status: str, message: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"header": {**header, "status": status, "message": message}, "body": content}
