"""What each payout rail takes, requires and is limited by: the one place a rail's request rules live.

A new rail plugs in here (its payee fields, its CommandID, the account it leaves and its limits), in the
Daraja client (daraja/), in settlement's credit-party check (payments/payouts/settlement.py) and in the
ledger's posting; docs/architecture.md, "Where a new Daraja product plugs in", lists the steps.

`payee_problems()` answers every bad payee field at once (the API's 400 names each); `clean_payee()` is the
same rule for the services, raising the first problem as a PayoutError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from core.errors import PayoutError
from core.phone import InvalidPhoneNumber, normalize_msisdn
from payments.models import CommandID, PayoutRail

PAYEE_FIELDS = ("phone", "party_b", "account_reference")
_BUSINESS_NUMBER = re.compile(r"^[0-9]{5,7}$")
ACCOUNT_REFERENCE_MAX = 13


class Account:
    """Our M-Pesa accounts a payout can leave (the daily limits count each apart)."""

    UTILITY = "utility"  # B2C pays only from here
    WORKING = "working"  # B2B, top-ups and reversals


@dataclass(frozen=True)
class Rail:
    name: str
    takes: frozenset[str]  # payee fields it accepts
    requires: frozenset[str]  # payee fields it cannot go without
    command_id: str | None  # fixed by the rail; None: the requester chooses (B2C's CommandID)
    leaves: str  # Account.*

    def min_amount(self) -> Decimal:
        return settings.PAYOUT_MIN_AMOUNT if self.leaves == Account.UTILITY else settings.B2B_PAYOUT_MIN_AMOUNT

    def max_amount(self) -> Decimal:
        if self.name == PayoutRail.FLOAT_TOPUP:
            return settings.FLOAT_TOPUP_MAX_AMOUNT
        return settings.PAYOUT_MAX_AMOUNT if self.leaves == Account.UTILITY else settings.B2B_PAYOUT_MAX_AMOUNT

    def daily_limit(self) -> Decimal:
        return settings.PAYOUT_DAILY_LIMIT if self.leaves == Account.UTILITY else settings.B2B_DAILY_LIMIT


_PHONE = frozenset({"phone"})
_BUSINESS = frozenset({"party_b", "account_reference"})

_NONE: frozenset[str] = frozenset()
_U, _W = Account.UTILITY, Account.WORKING

RAILS: dict[str, Rail] = {
    PayoutRail.MOBILE: Rail(PayoutRail.MOBILE, _PHONE, _PHONE, None, _U),
    PayoutRail.POCHI: Rail(PayoutRail.POCHI, _PHONE, _PHONE, "BusinessPayToPochi", _U),
    PayoutRail.PAYBILL: Rail(PayoutRail.PAYBILL, _BUSINESS, _BUSINESS, "BusinessPayBill", _W),
    PayoutRail.TILL: Rail(PayoutRail.TILL, _BUSINESS, frozenset({"party_b"}), "BusinessBuyGoods", _W),
    PayoutRail.FLOAT_TOPUP: Rail(PayoutRail.FLOAT_TOPUP, _NONE, _NONE, "BusinessPayToBulk", _W),
    PayoutRail.REVERSAL: Rail(PayoutRail.REVERSAL, _NONE, _NONE, "TransactionReversal", _W),
}
# Rails a disbursement may name; a reversal is requested from the payment it gives back.
DISBURSEMENT_RAILS = tuple(r for r in RAILS if r != PayoutRail.REVERSAL)
# The rails each account pays from, for the daily limit of that account.
RAILS_LEAVING = {account: tuple(r.name for r in RAILS.values() if r.leaves == account) for account in (_U, _W)}

_FIELD_WORDS = {"phone": "a phone number", "party_b": "a paybill or till number", "account_reference": "an account"}


def disbursement_rail(name: str) -> Rail:
    """The rail a disbursement names, or PayoutError: a reversal is requested from the payment it gives back."""
    if name not in DISBURSEMENT_RAILS:
        raise PayoutError(f"rail must be one of {', '.join(DISBURSEMENT_RAILS)}.", code="invalid_rail")
    return RAILS[name]


def payee_problems(rail_name: str, values: dict[str, str | None]) -> dict[str, str]:
    """Every problem with the payee fields given for `rail_name`, by field ({} when none). A field counts as
    given when it is present and not blank."""
    if rail_name not in DISBURSEMENT_RAILS:
        return {"rail": f"rail must be one of {', '.join(DISBURSEMENT_RAILS)}."}
    rail = RAILS[rail_name]
    given = {f: (values.get(f) or "").strip() for f in PAYEE_FIELDS}
    problems: dict[str, str] = {}
    for field in PAYEE_FIELDS:
        if given[field] and field not in rail.takes:
            problems[field] = f"A {rail_name} payout does not take {_FIELD_WORDS[field]}."
        elif not given[field] and field in rail.requires:
            problems[field] = f"A {rail_name} payout needs {_FIELD_WORDS[field]}."
    if "phone" not in problems and given["phone"]:
        try:
            normalize_msisdn(given["phone"])
        except InvalidPhoneNumber as exc:
            problems["phone"] = str(exc)
    if "party_b" not in problems and given["party_b"] and not _BUSINESS_NUMBER.match(given["party_b"]):
        problems["party_b"] = "A paybill or till number is 5 to 7 digits."
    reference = given["account_reference"]
    if "account_reference" not in problems and len(reference) > ACCOUNT_REFERENCE_MAX:
        problems["account_reference"] = f"The account may have at most {ACCOUNT_REFERENCE_MAX} characters."
    return problems


def clean_payee(rail_name: str, *, phone: str | None = None, party_b: str | None = None,
                account_reference: str | None = None) -> dict[str, str]:
    """The payee fields to store for `rail_name`, normalised; raises PayoutError naming the first bad field."""
    values = {"phone": phone, "party_b": party_b, "account_reference": account_reference}
    problems = payee_problems(rail_name, values)
    if problems:
        field, message = next(iter(problems.items()))
        raise PayoutError(message, code=f"invalid_{field}")
    clean = {f: (values[f] or "").strip() for f in PAYEE_FIELDS}
    if clean["phone"]:
        clean["phone"] = normalize_msisdn(clean["phone"])
    if rail_name == PayoutRail.FLOAT_TOPUP:
        # The top-up names our own B2C shortcode, recorded so approvers see where the money goes.
        clean["party_b"] = settings.MPESA_B2C_SHORTCODE
    return clean


def command_id_for(rail_name: str, chosen: str | None) -> str:
    """The CommandID the payout is sent with: the requester's choice on B2C, the rail's own elsewhere."""
    rail = RAILS[rail_name]
    if rail.command_id is not None:
        return rail.command_id
    chosen = chosen or CommandID.BUSINESS_PAYMENT
    if chosen not in CommandID.values:
        raise PayoutError(f"CommandID must be one of {', '.join(CommandID.values)}.", code="invalid_command_id")
    return chosen


def payee_words(rail: str, *, phone: str = "", party_b: str = "", account_reference: str = "") -> str:
    """Who is paid, in the rail's words: "Paybill 888880, account INV-2041", "Till 5432109"."""
    if rail == PayoutRail.PAYBILL:
        return f"Paybill {party_b}, account {account_reference}"
    if rail == PayoutRail.TILL:
        return f"Till {party_b}" + (f", account {account_reference}" if account_reference else "")
    if rail == PayoutRail.POCHI:
        return f"Pochi {phone}"
    if rail == PayoutRail.FLOAT_TOPUP:
        return f"Our B2C float (shortcode {party_b})" if party_b else "Our B2C float"
    if rail == PayoutRail.REVERSAL:
        return "The payer, by reversal"
    return phone
