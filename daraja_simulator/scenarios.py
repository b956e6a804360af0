"""What the simulator does, chosen by the last three digits of the recipient's phone number.

docs/simulator.md shows the same table (a test keeps the two in step). Any number whose last three digits are
not in a table gets the plain success behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Delivery(StrEnum):
    """How the B2C outcome reaches the integrator."""

    RESULT = "result"  # one Result to ResultURL after the delay
    RESULT_THRICE = "result_thrice"  # two identical Results at once, a third one delay later
    RESULT_BEFORE_ANSWER = "result_before_answer"  # Result posted, then the synchronous answer sent
    NONE = "none"  # nothing is posted: only a status query finds the outcome
    TIMEOUT_ECHO = "timeout_echo"  # the original request (with SecurityCredential) to QueueTimeOutURL
    TIMEOUT_RESULT = "timeout_result"  # a Result envelope with ResultCode "1037" to QueueTimeOutURL
    SLOW_ANSWER = "slow_answer"  # the synchronous answer comes after slow_seconds (a client read timeout)


class ResultShape(StrEnum):
    """How a failure-shaped Result is written."""

    PLAIN = "plain"  # no ResultParameters, the record's own TransactionID (samples/b2c_result_failure.json)
    SINGLE_PARAMETER = "single_parameter"  # ResultParameter is ONE object (BOCompletedTime); TransactionID OA00000000


class Rejection(StrEnum):
    """Synchronous refusals, before any processing."""

    SPIKE_ARREST = "spike_arrest"  # every attempt: 500.003.02, HTTP 429
    SPIKE_ARREST_FIRST = "spike_arrest_first"  # first attempt of each OriginatorConversationID: 500.003.02, HTTP 500
    DUPLICATE = "duplicate"  # 500.002.1001, as if an earlier request with this id had been received and paid


@dataclass(frozen=True)
class B2CScenario:
    suffix: str
    name: str
    summary: str
    result_code: str = "0"
    result_desc: str = "The service request is processed successfully."
    paid: bool = True  # whether money moves (the ledger, the float and status queries follow this)
    delivery: Delivery = Delivery.RESULT
    rejection: Rejection | None = None
    # The ResultCode the Result says although M-Pesa PAID (a status query says Completed): 15, 17.
    reported_code: str = ""
    shape: ResultShape = ResultShape.PLAIN


@dataclass(frozen=True)
class StkScenario:
    suffix: str
    name: str
    summary: str
    result_code: int = 0
    result_desc: str = "The service request is processed successfully."


B2C_SUCCESS = B2CScenario("", "success", "Accepted; success Result after the delay; paid")

_B2C_LIST = (
    B2CScenario(
        "001",
        "insufficient_balance",
        "Accepted; failure Result, ResultCode 1; not paid",
        result_code="1",
        result_desc="The balance is insufficient for the transaction.",
        paid=False,
    ),
    B2CScenario(
        "002",
        "initiator_invalid",
        "Accepted; failure Result, ResultCode 2001; not paid",
        result_code="2001",
        result_desc="The initiator information is invalid.",
        paid=False,
    ),
    B2CScenario(
        "003",
        "unregistered_customer",
        "Accepted; failure Result, ResultCode 2040; not paid",
        result_code="2040",
        result_desc=(
            "Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service."
        ),
        paid=False,
    ),
    B2CScenario(
        "004",
        "credential_locked",
        "Accepted; failure Result, ResultCode 8006; not paid",
        result_code="8006",
        result_desc="The security credential is locked.",
        paid=False,
    ),
    B2CScenario(
        "005",
        "operator_missing",
        "Accepted; failure Result, ResultCode SFC_IC0003; not paid",
        result_code="SFC_IC0003",
        result_desc="Operator does not exist.",
        paid=False,
    ),
    B2CScenario(
        "006",
        "failure_single_parameter",
        "Accepted; failure Result, ResultCode 21, ResultParameter one object (BOCompletedTime), "
        "placeholder TransactionID OA00000000; not paid",
        result_code="21",
        result_desc="The initiator is not allowed to initiate this request.",
        paid=False,
        shape=ResultShape.SINGLE_PARAMETER,
    ),
    B2CScenario(
        "015",
        "duplicate_detected_paid",
        "Accepted; Result ResultCode 15 (Duplicate Detected) although PAID (status query: Completed)",
        reported_code="15",
    ),
    B2CScenario(
        "017",
        "internal_failure_paid",
        "Accepted; Result ResultCode 17 (Internal Failure) although PAID (status query: Completed)",
        reported_code="17",
    ),
    B2CScenario(
        "010",
        "timeout_echo_unpaid",
        "Accepted; the original request echoed to QueueTimeOutURL; not paid (status query: not found)",
        paid=False,
        delivery=Delivery.TIMEOUT_ECHO,
    ),
    B2CScenario(
        "011",
        "timeout_echo_paid",
        "Accepted; the original request echoed to QueueTimeOutURL; PAID (status query: Completed)",
        delivery=Delivery.TIMEOUT_ECHO,
    ),
    B2CScenario(
        "012",
        "timeout_result_unpaid",
        'Accepted; Result envelope ResultCode "1037" to QueueTimeOutURL; not paid',
        paid=False,
        delivery=Delivery.TIMEOUT_RESULT,
    ),
    B2CScenario(
        "013",
        "timeout_result_paid",
        'Accepted; Result envelope ResultCode "1037" to QueueTimeOutURL; PAID',
        delivery=Delivery.TIMEOUT_RESULT,
    ),
    B2CScenario(
        "020",
        "result_thrice",
        "Accepted; the same success Result posted 3 times (2 at once, 1 a delay later); paid once",
        delivery=Delivery.RESULT_THRICE,
    ),
    B2CScenario(
        "021",
        "result_before_answer",
        "Success Result posted BEFORE the synchronous answer is sent; paid",
        delivery=Delivery.RESULT_BEFORE_ANSWER,
    ),
    B2CScenario(
        "022",
        "no_callback",
        "Accepted; no callback at all; paid (only a status query finds it)",
        delivery=Delivery.NONE,
    ),
    B2CScenario(
        "030",
        "spike_arrest",
        "Every attempt refused: HTTP 429, errorCode 500.003.02; nothing recorded as a payment",
        paid=False,
        rejection=Rejection.SPIKE_ARREST,
    ),
    B2CScenario(
        "031",
        "spike_arrest_first",
        "First attempt of each OriginatorConversationID refused (HTTP 500, 500.003.02); a resend succeeds",
        rejection=Rejection.SPIKE_ARREST_FIRST,
    ),
    B2CScenario(
        "032",
        "duplicate",
        "HTTP 500, errorCode 500.002.1001 at once; recorded as PAID by an earlier request, no callback",
        delivery=Delivery.NONE,
        rejection=Rejection.DUPLICATE,
    ),
    B2CScenario(
        "040",
        "slow_answer",
        "Recorded as paid, then the answer waits slow_seconds (default 35 s > a 30 s read timeout); "
        "success Result after that",
        delivery=Delivery.SLOW_ANSWER,
    ),
)

B2C_SCENARIOS: dict[str, B2CScenario] = {scenario.suffix: scenario for scenario in _B2C_LIST}

STK_SUCCESS = StkScenario("", "success", "Success callback with CallbackMetadata (receipt, amount, phone)")
_STK_LIST = (
    StkScenario(
        "001",
        "insufficient_funds",
        "Callback ResultCode 1, no CallbackMetadata",
        result_code=1,
        result_desc="The balance is insufficient for the transaction.",
    ),
    StkScenario("032", "cancelled", "Callback ResultCode 1032, no CallbackMetadata", 1032, "Request cancelled by user"),
    StkScenario(
        "037",
        "unreachable",
        "Callback ResultCode 1037, no CallbackMetadata",
        result_code=1037,
        result_desc="DS timeout user cannot be reached",
    ),
)
STK_SCENARIOS: dict[str, StkScenario] = {scenario.suffix: scenario for scenario in _STK_LIST}


# C2B payments made through the simulator's C2B simulate API, chosen by the last three digits of Msisdn.
C2B_HASHED_SUFFIX = "064"
C2B_UNCONFIRMED_SUFFIX = "099"
C2B_SCENARIOS = {
    C2B_HASHED_SUFFIX: "Confirmation whose MSISDN is the 64-character SHA-256 hex of the number (as since 2025)",
    C2B_UNCONFIRMED_SUFFIX: "Paid, but no confirmation is posted: only Pull Transactions (or a statement) finds it",
    "...": 'Confirmation with the MSISDN masked, as in samples/c2b_confirmation.json ("2547 ***** 126")',
}


def b2c_scenario_for(phone: str) -> B2CScenario:
    return B2C_SCENARIOS.get(str(phone)[-3:], B2C_SUCCESS)


def stk_scenario_for(phone: str) -> StkScenario:
    return STK_SCENARIOS.get(str(phone)[-3:], STK_SUCCESS)


def phone_for(suffix: str) -> str:
    """A 12-digit number that triggers `suffix`: 254700000 + the three digits."""
    return f"254700000{suffix}"


def scenario_table() -> str:
    """The tables as plain text, for the management command's banner."""
    lines = ["B2C (PartyB ends in):"]
    lines += [f"  {s.suffix}  {s.name:<22} {s.summary}" for s in _B2C_LIST]
    lines.append(f"  ...  {B2C_SUCCESS.name:<22} {B2C_SUCCESS.summary} (any other number)")
    lines.append("STK push (PhoneNumber ends in):")
    lines += [f"  {s.suffix}  {s.name:<22} {s.summary}" for s in _STK_LIST]
    lines.append(f"  ...  {STK_SUCCESS.name:<22} {STK_SUCCESS.summary} (any other number)")
    lines.append("C2B simulate (Msisdn ends in):")
    lines += [f"  {suffix}  {summary}" for suffix, summary in C2B_SCENARIOS.items()]
    lines.append("Name checks (Hakikisha msisdn / Org Info Identifier ends in):")
    lines += [f"  {where:<14} {summary}" for where, summary in NAME_CHECK_SCENARIOS.items()]
    return "\n".join(lines)


# Name checks, chosen by the last three digits of Hakikisha's msisdn or of Org Info's Identifier.
HAKIKISHA_NOT_FOUND_SUFFIX = "404"
HAKIKISHA_OTHER_NAME_SUFFIX = "405"
ORG_UNKNOWN_SUFFIX = "404"
NAME_CHECK_SCENARIOS = {
    f"hakikisha {HAKIKISHA_NOT_FOUND_SUFFIX}": 'header.status "400", body.message "The customer does not exist."',
    f"hakikisha {HAKIKISHA_OTHER_NAME_SUFFIX}": "Found, but with a first name that is not the one B2C results show",
    f"org info {ORG_UNKNOWN_SUFFIX}": "A till or paybill the simulator does not know: no OrganizationName",
}
