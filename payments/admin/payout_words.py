"""What the payout page says in words: what happens next, and whether the name M-Pesa reports differs from the
one we meant to pay."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from core.money import kes
from core.nairobi_time import NAIROBI
from core.phone import mask_msisdn
from payments.models import Payout, PayoutStatus
from payments.payouts.rails import clean_payee, payee_words
from payments.payouts.tariff import expected_charge, with_charge

_NAME_NOISE = {"MR", "MRS", "MS", "DR"}


def _name_words(name: str) -> set[str]:
    cleaned = "".join(ch if ch.isalpha() else " " for ch in name.upper())
    return {word for word in cleaned.split() if len(word) > 1 and word not in _NAME_NOISE}


def names_differ(intended: str, reported: str) -> bool:
    """True when the name M-Pesa reports for the recipient shares no word with the one we intended (M-Pesa
    writes names in capitals, sometimes only two of them, so order, case and extra names are not a
    difference). Nothing to compare when either is blank."""
    intended_words, reported_words = _name_words(intended or ""), _name_words(reported or "")
    if not intended_words or not reported_words:
        return False
    return not intended_words & reported_words


def paid_to(payout: Payout, *, masked: bool = False) -> str:
    """Who the payout pays, in its rail's words ("Paybill 888880, account INV-2041", "Till 5432109", a phone);
    `masked` hides the middle of a phone number, as lists and messages do."""
    phone = mask_msisdn(payout.phone) if masked and payout.phone else payout.phone
    return payee_words(
        payout.rail, phone=phone, party_b=payout.party_b, account_reference=payout.account_reference
    )


def form_paid_to(data: dict) -> str:
    """Who a checked disbursement form pays, in its rail's words (the confirmation page's "To")."""
    payee = clean_payee(
        data["rail"], phone=data["phone"], party_b=data["party_b"], account_reference=data["account_reference"]
    )
    return payee_words(data["rail"], **payee)


def what_happens_next(payout: Payout, approvals: int) -> str:
    status = payout.status
    if status == PayoutStatus.PENDING_APPROVAL:
        missing = max(payout.required_approvals - approvals, 1)
        waits = (
            f"It waits for {missing} more approval{'s' if missing > 1 else ''} from someone other than "
            f"{payout.requested_by}; then a worker sends it to M-Pesa."
        )
        return f"{waits} Held meanwhile: {payout.hold_reason}" if payout.hold_reason else waits
    if status == PayoutStatus.APPROVED:
        if payout.hold_reason:
            return f"Approved, held before sending: {payout.hold_reason}. It goes as soon as that clears."
        return "Approved: a worker sends it to M-Pesa within seconds (unless payouts are paused)."
    if status in (PayoutStatus.SENDING, PayoutStatus.SUBMITTED):
        return "Sent to M-Pesa: its result arrives by callback and settles the payout. Nothing to do."
    if status == PayoutStatus.VERIFYING:
        return (
            "The outcome is not known yet: a Transaction Status query will settle it. It is never sent again; "
            "wait, or use Query status now."
        )
    if status == PayoutStatus.NEEDS_REVIEW:
        return f"A person must check the M-Pesa portal and mark it reviewed. Why: {payout.review_reason or '-'}"
    if status == PayoutStatus.COMPLETED:
        return "Nothing: M-Pesa paid it."
    if status == PayoutStatus.REJECTED:
        return "Nothing: it was rejected and never sent."
    if status == PayoutStatus.FAILED:
        return (
            'No money moved. Fix the cause ("Why it failed", above), then Request again (a new payout, approved again).'
        )
    return ""


def expected_charge_words(rail: str, amount) -> str:
    """The tariff's expected charge, as the confirmation and decision pages show it (docs/charges.md)."""
    charge = expected_charge(rail, amount)
    return "no tariff band" if charge is None else f"{kes(charge)} (total {kes(with_charge(amount, charge))})"


def nairobi_minute(moment: datetime) -> str:
    return f"{moment.astimezone(NAIROBI):%Y-%m-%d %H:%M}"


def schedule_words(send_afters: list[datetime | None]) -> str:
    """When a batch's payouts may leave, from each one's send_after: "Scheduled for 2026-12-24 09:00 Nairobi
    time." when they share one, each time and its count when they differ, "" when none is scheduled."""
    times = Counter(nairobi_minute(moment) for moment in send_afters if moment is not None)
    if not times:
        return ""
    unscheduled = len(send_afters) - sum(times.values())
    if len(times) == 1 and not unscheduled:
        return f"Scheduled for {next(iter(times))} Nairobi time."
    parts = [f"{count} for {minute}" for minute, count in sorted(times.items())]
    rest = f"; {unscheduled} not scheduled (sent once approved)" if unscheduled else ""
    return f"Scheduled (Nairobi time): {', '.join(parts)}{rest}."
