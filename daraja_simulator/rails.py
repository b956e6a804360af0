"""The payout rails beyond B2C: B2B (paybill, till, float top-up) and B2Pochi, as Daraja answers them
(docs/simulator.md, "Payout rails").

- B2B requests carry no caller id: the simulator makes up the OriginatorConversationID and ConversationID
  and gives both in the synchronous answer. Results follow the documented samples, quirks included: string
  codes on success, a number code, ONE ResultParameter object and the placeholder TransactionID OAK0000000
  on failure.
- A small directory knows some paybills and tills: a known till sent as a paybill (RecieverIdentifierType
  "4") or a known paybill sent as a till ("2") fails with SFC_IC0003. Any other number is what it is sent as.
- Money: paybill and till payments are drawn from the Working account; a top-up moves Working -> Utility;
  B2C and Pochi pay from Utility (engine.py). The ledger keeps both balances.
- B2Pochi is B2C-shaped: it goes through the B2C flow (its scenarios, by the phone's last three digits).
- Scenarios are chosen by the last three digits of PartyB; for a top-up (whose PartyB is our own B2C
  shortcode) by the last three digits of the Amount in shillings.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from daraja_simulator import payloads
from daraja_simulator.engine import DarajaSimulator, Reply, _invalid, _missing, _urls_refused, _whole_amount
from daraja_simulator.ledger import FAILED, PAID, B2BRecord

POCHI_COMMAND = "BusinessPayToPochi"
PAYBILL, BUY_GOODS, TOPUP = "BusinessPayBill", "BusinessBuyGoods", "BusinessPayToBulk"
B2B_COMMANDS = (PAYBILL, BUY_GOODS, TOPUP)
PAYBILL_TYPE, TILL_TYPE = "4", "2"
PLACEHOLDER_RECEIPT = "OAK0000000"
B2B_REFERENCE = {
    "Key": "QueueTimeoutURL",
    "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2bresults/v1/submit",
}
_SHORTCODE = re.compile(r"^[0-9]{5,7}$")

# Numbers whose kind the simulator knows (docs/simulator.md lists them).
PAYBILLS = {"888880": "Kenya Power", "247247": "Equity Bank", "400200": "Co-operative Bank"}
TILLS = {"123456": "Mama Mboga Shop", "832909": "Duka la Simu"}
UNKNOWN_NAME = "Simulated Business"


class B2BDelivery(StrEnum):
    RESULT = "result"  # one Result to ResultURL after the delay
    NONE = "none"  # nothing is posted
    LOST_ANSWER = "lost_answer"  # the Result is posted; the synchronous answer waits slow_seconds (lost)


@dataclass(frozen=True)
class B2BScenario:
    suffix: str
    name: str
    summary: str
    result_code: str = "0"
    result_desc: str = "The service request is processed successfully"
    delivery: B2BDelivery = B2BDelivery.RESULT
    number_codes: bool = False  # a success with ResultType/ResultCode as numbers (the docs send strings)


B2B_SUCCESS = B2BScenario("", "success", 'Accepted; success Result (codes as strings "0") after the delay; paid')
_B2B_LIST = (
    B2BScenario(
        "001",
        "insufficient_funds",
        "Accepted; failure Result, ResultCode 1, one ResultParameter object, TransactionID OAK0000000; not paid",
        result_code="1",
        result_desc="The balance is insufficient for the transaction.",
    ),
    B2BScenario(
        "002",
        "initiator_invalid",
        "Accepted; the documented failure Result (ResultCode 2001 as a number, one ResultParameter object, "
        "TransactionID OAK0000000); not paid",
        result_code="2001",
        result_desc="The initiator information is invalid.",
    ),
    B2BScenario(
        "009",
        "number_codes",
        "Accepted; success Result with ResultType and ResultCode as numbers (0); paid",
        number_codes=True,
    ),
    B2BScenario("022", "no_result", "Accepted; no callback at all; paid", delivery=B2BDelivery.NONE),
    B2BScenario(
        "040",
        "lost_answer",
        "Paid; the success Result is posted after the delay, but the synchronous answer waits slow_seconds "
        "(the client's read timeout fires first: the answer is lost)",
        delivery=B2BDelivery.LOST_ANSWER,
    ),
)
B2B_SCENARIOS: dict[str, B2BScenario] = {scenario.suffix: scenario for scenario in _B2B_LIST}


def b2b_scenario_for(command: str, party_b: str, amount: int) -> B2BScenario:
    key = str(amount) if command == TOPUP else party_b
    return B2B_SCENARIOS.get(key[-3:], B2B_SUCCESS)


def receiver_name(party_b: str) -> str:
    return PAYBILLS.get(party_b) or TILLS.get(party_b) or UNKNOWN_NAME


def receiver_type_mismatch(party_b: str, receiver_type: str) -> bool:
    """A known till sent as a paybill (type "4"), or a known paybill sent as a till (type "2")."""
    return (party_b in TILLS and receiver_type != TILL_TYPE) or (party_b in PAYBILLS and receiver_type != PAYBILL_TYPE)


# --- HTTP handlers (server.py routes the paths here) ------------------------------------------------------


def pochi_payment(sim: DarajaSimulator, authorization: str | None, raw: bytes) -> Reply:
    """B2Pochi: a B2C request with CommandID BusinessPayToPochi, through the B2C flow and its scenarios."""
    return sim.b2c_payment(authorization, raw, commands=(POCHI_COMMAND,))


_B2B_REQUIRED = (
    "Initiator",
    "SecurityCredential",
    "CommandID",
    "SenderIdentifierType",
    "RecieverIdentifierType",
    "Amount",
    "PartyA",
    "PartyB",
    "Remarks",
    "QueueTimeOutURL",
    "ResultURL",
)


def b2b_payment(sim: DarajaSimulator, authorization: str | None, raw: bytes) -> Reply:
    body = sim._authorised_json(authorization, raw)
    if isinstance(body, Reply):
        return body
    refused = _missing(body, _B2B_REQUIRED) or _urls_refused(body, ("ResultURL", "QueueTimeOutURL"), sim.settings)
    if refused:
        return refused
    refused = _b2b_fields_refused(body)
    if refused:
        return refused
    command, party_b, amount = str(body["CommandID"]), str(body["PartyB"]).strip(), _whole_amount(body["Amount"])
    assert amount is not None  # checked above
    scenario = b2b_scenario_for(command, party_b, amount)
    credential_ok = sim._credential_ok(str(body["SecurityCredential"]))
    with sim.ledger.lock:
        record = _settle(sim, body, amount, scenario, credential_ok)
        sim.ledger.add_b2b(record)
    result = b2b_result(record, number_codes=scenario.number_codes)
    url, reference = str(body["ResultURL"]), record.originator_conversation_id
    delivery = scenario.delivery if credential_ok else B2BDelivery.RESULT
    if delivery is not B2BDelivery.NONE:
        sim.dispatcher.post_later(sim.settings.delay, url, result, kind="b2b_result", reference=reference)
    if delivery is B2BDelivery.LOST_ANSWER:
        sim._stopping.wait(sim.settings.slow_seconds)
    return Reply(200, payloads.accepted_body(record.conversation_id, record.originator_conversation_id))


def _b2b_fields_refused(body: dict[str, Any]) -> Reply | None:
    command = str(body["CommandID"])
    reference = str(body.get("AccountReference") or "")
    if command not in B2B_COMMANDS:
        return _invalid("CommandID")
    if str(body["RecieverIdentifierType"]) not in (PAYBILL_TYPE, TILL_TYPE):
        return _invalid("RecieverIdentifierType")
    if _whole_amount(body["Amount"]) is None:
        return _invalid("Amount")
    if not _SHORTCODE.fullmatch(str(body["PartyB"]).strip()):
        return _invalid("PartyB")
    if len(reference) > 13 or (command == PAYBILL and not reference):
        return _invalid("AccountReference")
    if not 2 <= len(str(body["Remarks"])) <= 100:
        return _invalid("Remarks")
    return None


def _settle(
    sim: DarajaSimulator, body: dict[str, Any], amount: int, scenario: B2BScenario, credential_ok: bool
) -> B2BRecord:
    """What M-Pesa does with an accepted B2B request, moving the balances if it pays (under the ledger lock)."""
    command, party_b = str(body["CommandID"]), str(body["PartyB"]).strip()
    receiver_type = str(body["RecieverIdentifierType"])
    outcome, code, desc = PAID, "0", "The service request is processed successfully"
    if not credential_ok:
        outcome, code, desc = FAILED, "2001", "The initiator information is invalid."
    elif scenario.result_code != "0":
        outcome, code, desc = FAILED, scenario.result_code, scenario.result_desc
    elif amount < sim.settings.min_amount:
        outcome, code, desc = FAILED, "2", "Declined due to limit rule: less than the smallest transaction value."
    elif amount > sim.settings.max_amount:
        outcome, code, desc = FAILED, "3", "Declined due to limit rule: greater than the maximum transaction amount."
    elif command != TOPUP and receiver_type_mismatch(party_b, receiver_type):
        outcome, code, desc = FAILED, "SFC_IC0003", "Operator does not exist."
    elif not sim.ledger.pay_from_working(amount, to_utility=command == TOPUP):
        outcome, code, desc = FAILED, "1", "The balance is insufficient for the transaction."
    paid = outcome == PAID
    return B2BRecord(
        originator_conversation_id=payloads.originator_id(),
        conversation_id=payloads.conversation_id(),
        transaction_id=payloads.receipt() if paid else PLACEHOLDER_RECEIPT,
        command_id=command,
        receiver_type=receiver_type,
        amount=amount,
        party_a=str(body["PartyA"]),
        party_b=party_b,
        account_reference=str(body.get("AccountReference") or ""),
        receiver_name=receiver_name(party_b),
        scenario=scenario.name,
        outcome=outcome,
        result_code=code,
        result_desc=desc,
        completed_at=payloads.now().isoformat(),
        working_balance_after=f"{sim.ledger.working_balance:.2f}",
        utility_balance_after=f"{sim.ledger.utility_balance:.2f}",
        received_at=payloads.now().isoformat(),
    )


# --- Result bodies (samples/b2b_result_success.json, b2b_result_failure.json) ------------------------------


def amount_form(balance: Decimal) -> str:
    """ "{Amount={CurrencyCode=KES, MinimumAmount=618683, BasicAmount=6186.83}}" (MinimumAmount in cents)."""
    return f"{{Amount={{CurrencyCode=KES, MinimumAmount={int(balance * 100)}, BasicAmount={balance:.2f}}}}}"


def b2b_result(record: B2BRecord, *, number_codes: bool = False) -> dict[str, Any]:
    if not record.paid:
        return _b2b_failure(record)
    working = Decimal(record.working_balance_after)
    completed = datetime.fromisoformat(record.completed_at)
    parameters = [
        {"Key": "DebitAccountBalance", "Value": amount_form(working)},
        {"Key": "Amount", "Value": f"{record.amount:.2f}"},
        {
            "Key": "DebitPartyAffectedAccountBalance",
            "Value": f"Working Account|KES|{working:.2f}|{working:.2f}|0.00|0.00",
        },
        {"Key": "TransCompletedTime", "Value": payloads.compact_time(completed)},
        {"Key": "DebitPartyCharges", "Value": ""},
        {"Key": "ReceiverPartyPublicName", "Value": f"{record.party_b} - {record.receiver_name}"},
        {"Key": "Currency", "Value": "KES"},
        {"Key": "InitiatorAccountCurrentBalance", "Value": amount_form(working)},
    ]
    random.shuffle(parameters)  # Daraja's order varies
    references: list[dict[str, str]] = [dict(B2B_REFERENCE)]
    if record.account_reference:
        references.insert(0, {"Key": "BillReferenceNumber", "Value": record.account_reference})
    code: int | str = 0 if number_codes else "0"
    return {
        "Result": {
            "ResultType": code,
            "ResultCode": code,
            "ResultDesc": record.result_desc,
            "OriginatorConversationID": record.originator_conversation_id,
            "ConversationID": record.conversation_id,
            "TransactionID": record.transaction_id,
            "ResultParameters": {"ResultParameter": parameters},
            "ReferenceData": {"ReferenceItem": references},
        }
    }


def _b2b_failure(record: B2BRecord) -> dict[str, Any]:
    """As documented: a number code, ONE ResultParameter object, the placeholder TransactionID."""
    completed = datetime.fromisoformat(record.completed_at)
    return {
        "Result": {
            "ResultType": 0,
            "ResultCode": int(record.result_code) if record.result_code.isdigit() else record.result_code,
            "ResultDesc": record.result_desc,
            "OriginatorConversationID": record.originator_conversation_id,
            "ConversationID": record.conversation_id,
            "TransactionID": PLACEHOLDER_RECEIPT,
            "ResultParameters": {
                "ResultParameter": {"Key": "BOCompletedTime", "Value": int(payloads.compact_time(completed))}
            },
            "ReferenceData": {"ReferenceItem": dict(B2B_REFERENCE)},
        }
    }


# Paths server.py routes to these handlers (each takes the simulator, the Authorization header and the body).
RAIL_ROUTES = {
    "/mpesa/b2b/v1/paymentrequest": b2b_payment,
    "/mpesa/b2pochi/v1/paymentrequest": pochi_payment,
}


def b2b_scenario_table() -> str:
    """The B2B table as plain text, for the management command's banner."""
    lines = ["B2B paybill/till (PartyB ends in; a top-up: its Amount ends in):"]
    lines += [f"  {s.suffix}  {s.name:<22} {s.summary}" for s in _B2B_LIST]
    lines.append(f"  ...  {B2B_SUCCESS.name:<22} {B2B_SUCCESS.summary} (any other number)")
    return "\n".join(lines)
