"""Approval rules: how many approvals a payout needs, and whether one must come from a group.

- `rule_for()` picks the rule in force for a request: the first active `ApprovalRule` (lowest position) whose
  rail, source and amount range fit; else the default rule, PAYOUT_DUAL_APPROVAL_THRESHOLD (two approvers at
  or above it, one below). The request copies it onto the payout (`Payout.approval_rule`, with
  `required_approvals`), so a later change of the rules changes no payout already requested.
- `approvals_missing()` is asked by `services.payout_approve` each time an approval is recorded: the payout
  becomes `approved` only when it has the number of active approvals its rule asks and, when the rule names a
  group (e.g. "Finance managers"), at least one of them by a member of that group at the moment they
  approved. That is the one place the group is enforced: the send-time check (`dispatch._claim`) voids
  approvals that no longer count and returns the payout to `pending_approval`, where this check runs again.
- `approval_rule_save()` / `approval_rule_delete()` are the only writers of ApprovalRule: superusers only,
  each change an audit event with the old and new values (the console and `/api/approval-rules/` call them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from core.errors import NotFound, PayoutError, PermissionDenied
from payments.audit_events import event_record
from payments.models import ApprovalRule, ApprovalSource, AuditAction, EventSource, Payout, PayoutRail

DEFAULT_RULE_NAME = "Default (PAYOUT_DUAL_APPROVAL_THRESHOLD)"
RULE_FIELDS = ("name", "position", "rail", "source", "min_amount", "max_amount", "approvals", "manager_group",
               "active")


def approval_source(*, source: str, batch=None) -> str:
    """The rule's word for where a request came from: a bulk file, the API or the console."""
    if batch is not None:
        return ApprovalSource.BULK
    return ApprovalSource.API if source == EventSource.API else ApprovalSource.CONSOLE


def default_rule(amount: Decimal) -> dict[str, Any]:
    approvals = 2 if amount >= settings.PAYOUT_DUAL_APPROVAL_THRESHOLD else 1
    return {"rule": None, "name": DEFAULT_RULE_NAME, "approvals": approvals, "manager_group": ""}


def rule_for(*, amount: Decimal, rail: str = PayoutRail.MOBILE, source: str = ApprovalSource.CONSOLE) -> dict:
    """The snapshot of the rule in force for a request: {"rule", "name", "approvals", "manager_group",
    "source"}."""
    for rule in ApprovalRule.objects.filter(active=True).order_by("position", "id"):
        if rule.rail and rule.rail != rail:
            continue
        if rule.source and rule.source != source:
            continue
        if amount < rule.min_amount or (rule.max_amount is not None and amount > rule.max_amount):
            continue
        snapshot = {"rule": rule.pk, "name": rule.name, "approvals": rule.approvals,
                    "manager_group": rule.manager_group}
        break
    else:
        snapshot = default_rule(amount)
    return {**snapshot, "source": source}


def rule_fields(*, amount: Decimal, rail: str, source: str) -> dict[str, Any]:
    """The payout's fields a rule decides, for a request (or an edit of its amount)."""
    snapshot = rule_for(amount=amount, rail=rail, source=source)
    return {"required_approvals": snapshot["approvals"], "approval_rule": snapshot}


def _manager_group(payout: Payout) -> str:
    return (payout.approval_rule or {}).get("manager_group", "")


def approvals_missing(payout: Payout, approvals) -> str:
    """Why the active `approvals` (PayoutApproval rows, with their approvers) do not yet approve `payout`;
    "" when they do. A payout requested before rules existed has no snapshot: its `required_approvals` and
    the default rule decide, as they did."""
    approvals = list(approvals)
    needed = payout.required_approvals
    if not payout.approval_rule:
        needed = max(needed, default_rule(payout.amount)["approvals"])
    if len(approvals) < needed:
        return f"{len(approvals)} of {needed} approvals"
    group = _manager_group(payout)
    if group and not any(a.approver.groups.filter(name=group).exists() for a in approvals):
        return f"one approval must come from a member of {group!r}"
    return ""


# --- Changing the rules ---------------------------------------------------------------------------------------


def _require_superuser(user) -> None:
    if user is None or not user.is_active or not user.is_superuser:
        raise PermissionDenied("Only a superuser may change the approval rules.")


def _values(rule: ApprovalRule) -> dict[str, Any]:
    values = model_to_dict(rule, fields=RULE_FIELDS)
    return {name: (str(value) if isinstance(value, Decimal) else value) for name, value in values.items()}


def rule_values_clean(values: dict[str, Any]) -> dict[str, Any]:
    """The values checked (PayoutError names what is wrong); the console's form asks it before saving."""
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise PayoutError(f"Unknown approval rule fields: {', '.join(sorted(unknown))}.")
    if not str(values.get("name") or "").strip():
        raise PayoutError("Give the rule a name.")
    rail, source = values.get("rail", ""), values.get("source", "")
    if rail and rail not in PayoutRail.values:
        raise PayoutError(f"Unknown rail {rail!r}; one of {', '.join(PayoutRail.values)}, or blank for every rail.")
    if source and source not in ApprovalSource.values:
        raise PayoutError(f"Unknown source {source!r}; one of {', '.join(ApprovalSource.values)}, or blank.")
    approvals = values.get("approvals", 1)
    if not isinstance(approvals, int) or not 1 <= approvals <= 5:
        raise PayoutError("A rule asks for 1 to 5 approvals.")
    low, high = values.get("min_amount") or Decimal("0"), values.get("max_amount")
    if low < 0 or (high is not None and high < low):
        raise PayoutError("The amount range must start at 0 or more and end at or above its start.")
    if values.get("manager_group") and approvals < 2:
        raise PayoutError("A rule that names a group needs at least 2 approvals (the group's one and another).")
    return values


def approval_rule_save(*, changed_by, values: dict[str, Any], rule_id: int | None = None,
                       source: str = EventSource.ADMIN) -> ApprovalRule:
    """Add a rule (`rule_id=None`) or change one; an audit event records the old and the new values."""
    _require_superuser(changed_by)
    with transaction.atomic():
        if rule_id is None:
            rule, before = ApprovalRule(), None
        else:
            rule = ApprovalRule.objects.select_for_update().filter(pk=rule_id).first()
            if rule is None:
                raise NotFound(f"No approval rule #{rule_id}.")
            before = _values(rule)
        merged = rule_values_clean({**{name: getattr(rule, name) for name in RULE_FIELDS}, **values})
        for name, value in merged.items():
            setattr(rule, name, value)
        rule.changed_by, rule.changed_at = changed_by, timezone.now()
        rule.save()
        after = _values(rule)
        action = AuditAction.APPROVAL_RULE_ADDED if before is None else AuditAction.APPROVAL_RULE_CHANGED
        event_record(action=action, source=source, actor=changed_by,
                     details={"rule": rule.pk, "old": before, "new": after})
    return rule


def approval_rule_delete(*, changed_by, rule_id: int, source: str = EventSource.ADMIN) -> None:
    """Delete a rule; payouts requested under it keep their copy of it."""
    _require_superuser(changed_by)
    with transaction.atomic():
        rule = ApprovalRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound(f"No approval rule #{rule_id}.")
        before = _values(rule)
        rule.delete()
        event_record(action=AuditAction.APPROVAL_RULE_DELETED, source=source, actor=changed_by,
                     details={"rule": rule_id, "old": before, "new": None})
