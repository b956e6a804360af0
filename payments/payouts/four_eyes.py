"""The four-eyes rule, in one place: a money decision about a payout is never made by someone with an
interest in it.

Who has an interest:
- its requester;
- an *editor of what is paid*: someone who changed its amount, phone or CommandID (`PayoutEditor.changed_bound`).

What the rule refuses, and where it is asked:
- an approval or a rejection by its requester, and an approval by an editor of what is paid
  (`refuse_interested_approver`, from `services.payout_approve` / `payout_reject`);
- a review resolution (and its confirmation) by its requester or by anyone who edited it at all, or a
  confirmation by the person who recorded the review (`refuse_interested_reviewer`, from `review.py`);
- a request again (`services.payout_request_again`) carries the original's interested people over as editors of
  the new request (`interested_user_ids`), so they may not approve it either;
- the lists and previews that say in advance what will be refused (`without_interested`, `interest_of`,
  from `payments/dashboard.py` and the admin's decision preview);
- at send time, the last line (`dispatch._claim`): active approvals given by an interested person are voided
  (`void_interested_approvals`) and counted in the claim's one statement (`interested_approvals_sql`).

The database holds the same rule for approvals, citing this module: the CHECK `approval_not_by_requester` on
`PayoutApproval` (payments/models/payouts.py) and, on PostgreSQL, the trigger `payments_approval_not_by_editor`
(migration 0010). Change the rule here and there together.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core.errors import ErrorCode, PermissionDenied
from payments.models import Payout, PayoutApproval, PayoutEditor

VOIDED_REASON = "Given by its requester or an editor of what is paid"


def changed_what_is_paid(*, payout_id: int, user) -> bool:
    """Whether `user` changed this payout's amount, phone or CommandID: then they may not approve it."""
    return PayoutEditor.objects.filter(payout_id=payout_id, user_id=user.pk, changed_bound=True).exists()


def interested_user_ids(payout: Payout) -> set[int]:
    """The requester and every editor of what is paid."""
    editors = PayoutEditor.objects.filter(payout=payout, changed_bound=True).values_list("user_id", flat=True)
    return {payout.requested_by_id, *editors}


def interest_of(payout: Payout, user, editors) -> str:
    """"requested" or "changed what is paid" when `user` has an interest in `payout`, else "". `editors` is
    the payout's PayoutEditor rows, already loaded (a page previewing many decisions prefetches them)."""
    if payout.requested_by_id == user.pk:
        return "requested"
    if any(e.user_id == user.pk and e.changed_bound for e in editors):
        return "changed what is paid"
    return ""


def without_interested(payouts, user):
    """`payouts` (a queryset) without those `user` may not approve: the rule as a filter, for lists."""
    edited = PayoutEditor.objects.filter(payout=OuterRef("pk"), user=user, changed_bound=True)
    return payouts.exclude(requested_by=user).exclude(Exists(edited))


def refuse_interested_approver(payout: Payout, user, *, deciding: str = "approve") -> None:
    """Raise PermissionDenied when `user` may not approve (or, `deciding="decide on"`, reject) `payout`.
    A rejection is refused to its requester only: an editor may still refuse what they changed."""
    if payout.requested_by_id == user.pk:
        raise PermissionDenied(f"You requested this payout: another person must {deciding} it.",
                               code=ErrorCode.OWN_PAYOUT)
    if deciding == "approve" and changed_what_is_paid(payout_id=payout.pk, user=user):
        raise PermissionDenied(
            "You changed this payout's amount, phone or payment type: another person must approve it.",
            code=ErrorCode.OWN_EDIT,
        )


def refuse_interested_reviewer(payout: Payout, user, *, recorder_id: int | None = None) -> None:
    """A review resolution decides where money ends up (a failed refund frees its amount for another refund):
    as with an approval, the payout's requester and its editors may not make it, superusers included."""
    if payout.requested_by_id == user.pk:
        raise PermissionDenied("You requested this payout: another person must review it.",
                               code=ErrorCode.OWN_PAYOUT)
    if PayoutEditor.objects.filter(payout_id=payout.pk, user_id=user.pk).exists():
        raise PermissionDenied("You edited this payout: another person must review it.", code=ErrorCode.OWN_EDIT)
    if recorder_id is not None and recorder_id == user.pk:
        raise PermissionDenied("You recorded this review: another person must confirm it.",
                               code=ErrorCode.OWN_REVIEW)


def void_interested_approvals(payout: Payout) -> None:
    """Void the active approvals given by its requester or an editor of what is paid (send time)."""
    editors = PayoutEditor.objects.filter(payout=payout, changed_bound=True).values("user_id")
    PayoutApproval.objects.filter(payout=payout, voided_at__isnull=True).filter(
        Q(approver_id=payout.requested_by_id) | Q(approver_id__in=editors)
    ).update(voided_at=timezone.now(), voided_reason=VOIDED_REASON)


def interested_approvals_sql(payout: Payout, active: str) -> tuple[str, list]:
    """The column counting active approvals by an interested person, for the claim's one statement
    (dispatch._send_checks); `active` is its `FROM <approvals> WHERE payout_id = %s AND voided_at IS NULL`."""
    editors = connection.ops.quote_name(PayoutEditor._meta.db_table)
    sql = (f"(SELECT COUNT(*) {active} AND (approver_id = %s OR approver_id IN "
           f"(SELECT user_id FROM {editors} WHERE payout_id = %s AND changed_bound)))")
    return sql, [payout.pk, payout.requested_by_id, payout.pk]
