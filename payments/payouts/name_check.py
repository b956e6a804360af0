"""Pay the right party: the name check and the first-time payee flag (docs/name-check.md).

When a payout is requested, `payout_payee_noted()` (called by the lifecycle's `payout_created()`, in the
creation's transaction) records whether its payee was ever paid before, and, with MPESA_NAME_CHECK on, marks a
`mobile`, `paybill` or `till` payout `pending` and queues the lookup after commit. A worker runs
`payout_name_check()`: B2C Hakikisha for a phone, Query Org Info for a business number, compared with the name
we hold. Nothing here ever blocks a payout: a lookup that fails is `not_checked`; a `mismatch` only asks the
approver to confirm they checked the name (`refuse_unconfirmed_mismatch()`, called by payout_approve). No lookup
ever runs inside an approval request.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.errors import ErrorCode, InvalidState
from core.field_widths import truncate_to
from daraja.errors import DarajaError
from daraja.name_check import NameCheckOutcome, hakikisha_lookup, org_info_lookup
from daraja.names import NameMatch, compare_business_name, compare_first_name
from mpesa_payouts.effects import after_commit
from payments.models import NameCheckStatus, Payout, PayoutRail, PayoutStatus

logger = logging.getLogger(__name__)

# Rails whose payee M-Pesa can name before we pay: a phone (Hakikisha) or a business number (Org Info).
CHECKED_RAILS = frozenset({PayoutRail.MOBILE, PayoutRail.PAYBILL, PayoutRail.TILL})
# Payouts whose name may still be looked up: nothing has left yet.
_CHECKABLE_STATUSES = (PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED)
# Answers an approver must confirm having checked ("I have checked the name") before approving.
NAME_TO_CONFIRM = frozenset({NameCheckStatus.MISMATCH, NameCheckStatus.NOT_FOUND})
_FROM_MATCH = {NameMatch.MATCH: NameCheckStatus.MATCH, NameMatch.MISMATCH: NameCheckStatus.MISMATCH,
               NameMatch.UNKNOWN: NameCheckStatus.NO_NAME}


def name_check_enabled() -> bool:
    return bool(getattr(settings, "MPESA_NAME_CHECK", False))


def same_payee(*, rail: str, phone: str = "", party_b: str = "", account_reference: str = "") -> Q | None:
    """The payouts that paid the same party: one phone (whatever the phone rail), one paybill account, one
    till. None for rails that pay ourselves or give money back (never a first-time payee)."""
    if rail in (PayoutRail.MOBILE, PayoutRail.POCHI) and phone:
        return Q(phone=phone, rail__in=[PayoutRail.MOBILE, PayoutRail.POCHI])
    if rail == PayoutRail.PAYBILL:
        return Q(rail=rail, party_b=party_b, account_reference=account_reference)
    if rail == PayoutRail.TILL:
        return Q(rail=rail, party_b=party_b)
    return None


def is_first_time_payee(*, rail: str, exclude_pk: int | None = None, **payee: str) -> bool:
    """True when no payout to this payee has completed (the bulk preview asks before any payout exists)."""
    match = same_payee(rail=rail, **payee)
    if match is None:
        return False
    paid = Payout.objects.filter(match, status=PayoutStatus.COMPLETED)
    if exclude_pk is not None:
        paid = paid.exclude(pk=exclude_pk)
    return not paid.exists()


def paid_phones(phones: set[str]) -> set[str]:
    """Which of `phones` a completed payout has paid (the bulk preview's first-time flags, in one query)."""
    paid = Payout.objects.filter(status=PayoutStatus.COMPLETED, rail__in=[PayoutRail.MOBILE, PayoutRail.POCHI],
                                 phone__in=phones)
    return set(paid.values_list("phone", flat=True))


def payout_payee_noted(payout: Payout) -> None:
    """At creation, in its transaction: the first-time flag, and the name check queued when it is on."""
    fields = {"first_time_payee": is_first_time_payee(
        rail=payout.rail, exclude_pk=payout.pk, phone=payout.phone, party_b=payout.party_b,
        account_reference=payout.account_reference)}
    wanted = name_check_enabled() and payout.rail in CHECKED_RAILS
    if wanted:
        fields["name_check_status"] = NameCheckStatus.PENDING
    Payout.objects.filter(pk=payout.pk).update(**fields)
    for name, value in fields.items():
        setattr(payout, name, value)
    if wanted:
        payout_id = payout.pk
        after_commit(lambda: queue_name_check(payout_id))


def payee_changed(payout: Payout, **payee: str) -> dict:
    """The fields an edit of the payee (phone, business number, account) sets: the old answer no longer says
    anything. The caller saves them with the edit; the new lookup is queued after commit when it is on."""
    wanted = name_check_enabled() and payout.rail in CHECKED_RAILS
    if wanted:
        payout_id = payout.pk
        after_commit(lambda: queue_name_check(payout_id))
    return {
        "first_time_payee": is_first_time_payee(rail=payout.rail, exclude_pk=payout.pk, **payee),
        "name_check_status": NameCheckStatus.PENDING if wanted else NameCheckStatus.NOT_CHECKED,
        "name_check_name": "",
        "name_checked_at": None,
    }


def queue_name_check(payout_id: int) -> None:
    """Hand the lookup to a worker; a broker that is down leaves it `pending`, shown as not yet checked."""
    from mpesa_payouts.celery import publish_now
    from payments.tasks import check_payout_name

    try:
        publish_now(check_payout_name, payout_id)
    except Exception as exc:  # noqa: BLE001 - a missing name check never blocks a payout
        logger.warning("could not queue the name check of payout %s (%s)", payout_id, type(exc).__name__)


def payout_name_check(payout_id: int) -> str:
    """The worker's lookup. Stores the answer only if the payee is still the one looked up (an edit in the
    meantime queued its own check) and the payout has not left; returns the status stored (or why none)."""
    payout = Payout.objects.filter(pk=payout_id).first()
    if payout is None or payout.status not in _CHECKABLE_STATUSES:
        return "skipped"
    if payout.rail not in CHECKED_RAILS:
        return "skipped"
    status, name = _look_up(payout)
    stored = Payout.objects.filter(
        pk=payout.pk, status__in=_CHECKABLE_STATUSES, phone=payout.phone, party_b=payout.party_b,
        account_reference=payout.account_reference,
    ).update(
        name_check_status=status, name_check_name=truncate_to(Payout, "name_check_name", name),
        name_checked_at=timezone.now(),
    )
    return status if stored else "skipped"


def _look_up(payout: Payout) -> tuple[str, str]:
    """(status, the name M-Pesa reports). Refused credentials or configuration are `not_checked` too: the
    lookup is a help to the approver, never a gate (the send reports those problems loudly)."""
    from payments.daraja_client import daraja_client

    try:
        client = daraja_client()
        if payout.rail == PayoutRail.MOBILE:
            answer = hakikisha_lookup(client, msisdn=payout.phone)
            reported = " ".join(n for n in (answer.first_name, answer.masked_rest) if n)
            compared = compare_first_name(payout.recipient_name, answer.first_name)
        else:
            answer = org_info_lookup(client, identifier=payout.party_b, identifier_type=payout.rail)
            reported = answer.organization_name
            compared = compare_business_name(payout.recipient_name, answer.organization_name)
    except DarajaError as exc:
        logger.warning("name check of payout %s not done: %s", payout.pk, type(exc).__name__)
        return NameCheckStatus.NOT_CHECKED, ""
    if answer.outcome == NameCheckOutcome.NOT_FOUND:
        return NameCheckStatus.NOT_FOUND, ""
    if answer.outcome != NameCheckOutcome.FOUND:
        return NameCheckStatus.NOT_CHECKED, ""
    return _FROM_MATCH[compared], reported


def refuse_unconfirmed_mismatch(payout: Payout, *, name_confirmed: bool) -> dict:
    """Called by payout_approve under the row lock: a mismatched name needs the approver's confirmation. Returns
    what the approval's event records of it ({} when no name was checked and nothing was confirmed)."""
    mismatch = payout.name_check_status in NAME_TO_CONFIRM
    if mismatch and not name_confirmed:
        raise InvalidState(
            f"M-Pesa names this payee \"{payout.name_check_name or 'nobody'}\", not \"{payout.recipient_name}\": "
            'check the name, then approve with "I have checked the name" (name_confirmed: true in the API).',
            code=ErrorCode.NAME_NOT_CONFIRMED,
        )
    if not mismatch and not name_confirmed:
        return {}
    return {"name_check": payout.name_check_status, "name_confirmed": bool(name_confirmed)}
