"""What the payout page says in words: what happens next, and whether the name M-Pesa reports differs from the
one we meant to pay."""

from __future__ import annotations

from payments.models import Payout, PayoutStatus

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
