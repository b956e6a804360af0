"""A payout plan's four eyes, pauses and resumes: the only writers of PayoutPlan and PayoutPlanLine.

A new plan waits in `pending_approval` for a person who neither created it nor last changed it; an approved
plan's change (name, recipients, amounts, schedule, end date) waits in `pending_change` for a person other
than its proposer, while runs go on with the plan as approved. Pausing and resuming need no approval (the
payout-request role); a resumed plan does not catch up on what fell in its pause. Each function is a
keyword-only service: it checks, locks, writes and records its AuditEvent in one transaction, and raises a
core.errors exception (a 4xx, nothing written).
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.errors import ErrorCode, InvalidState, NotFound, PayoutError, PermissionDenied
from core.money import kes
from payments.audit_events import event_record
from payments.models import (
    AuditAction,
    EventSource,
    PayoutPlan,
    PayoutPlanLine,
    PayoutPlanStatus,
    PlanFrequency,
    Recipient,
    RecipientStatus,
)
from payments.payouts.limits import validate_amount
from payments.roles import APPROVE_PERMISSION, REQUEST_PERMISSION

FIELDS = ("name", "frequency", "weekday", "day_of_month", "time_of_day", "end_date", "lines")
MAX_LINES = 500
SCHEDULE_FIELDS = ("frequency", "weekday", "day_of_month", "time_of_day")


def _require(user, permission: str, what: str) -> None:
    if user is None or not user.is_active or not user.has_perm(permission):
        raise PermissionDenied(f"You do not have permission to {what}.")


def time_of_day_parse(value: Any) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    text = str(value or "").strip()
    try:
        hours, minutes = text.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except ValueError:
        raise PayoutError(f"The time of day must be HH:MM, Nairobi time (got {text!r}).",
                          code="invalid_time_of_day") from None


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PayoutError(f"The end date must be YYYY-MM-DD (got {value!r}).", code="invalid_end_date") from None


def _int(value: Any, field: str, low: int, high: int, words: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise PayoutError(f"The {words} must be {low} to {high} (got {value!r}).", code=f"invalid_{field}")
    return number


def _amount(value: Any, recipient: Recipient) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise PayoutError(f"The amount for {recipient.name} must be a number of shillings (got {value!r}).",
                          code=ErrorCode.AMOUNT) from None
    try:
        return validate_amount(amount, rail=recipient.rail)
    except PayoutError as error:
        raise PayoutError(f"{recipient.name}: {error.message}", code=ErrorCode.AMOUNT) from None


def _lines(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list | tuple) or not raw:
        raise PayoutError("A plan pays at least one saved recipient: give its lines.", code="invalid_lines")
    if len(raw) > MAX_LINES:
        raise PayoutError(f"A plan pays at most {MAX_LINES} recipients.", code="invalid_lines")
    ids = []
    for line in raw:
        if not isinstance(line, dict) or "recipient" not in line or "amount" not in line:
            raise PayoutError("Each line names a recipient and an amount.", code="invalid_lines")
        ids.append(_int(line["recipient"], "recipient", 1, 2**31 - 1, "recipient id"))
    if len(set(ids)) != len(ids):
        raise PayoutError("A recipient appears twice in the plan: give one line each.", code="invalid_lines")
    found = Recipient.objects.in_bulk(ids)
    cleaned = []
    for recipient_id, line in zip(ids, raw, strict=True):
        recipient = found.get(recipient_id)
        if recipient is None:
            raise PayoutError(f"No recipient #{recipient_id}.", code="invalid_recipient")
        if recipient.status == RecipientStatus.ARCHIVED:
            raise PayoutError(f"Recipient #{recipient_id} ({recipient.name}) is archived.",
                              code="invalid_recipient")
        cleaned.append({"recipient": recipient_id, "amount": _amount(line["amount"], recipient)})
    return cleaned


def plan_fields_clean(values: dict[str, Any]) -> dict[str, Any]:
    """A whole plan's fields as stored, or PayoutError naming the first problem."""
    name = str(values.get("name") or "").strip()
    if not 1 <= len(name) <= 150:
        raise PayoutError(f"The name must have 1 to 150 characters (has {len(name)}).", code="invalid_name")
    frequency = values.get("frequency")
    if frequency not in PlanFrequency.values:
        raise PayoutError("The frequency is weekly or monthly.", code="invalid_frequency")
    weekday = day_of_month = None
    if frequency == PlanFrequency.WEEKLY:
        weekday = _int(values.get("weekday"), "weekday", 0, 6, "weekday (0 = Monday ... 6 = Sunday)")
    else:
        day_of_month = _int(values.get("day_of_month"), "day_of_month", 1, 31, "day of the month")
    return {"name": name, "frequency": frequency, "weekday": weekday, "day_of_month": day_of_month,
            "time_of_day": time_of_day_parse(values.get("time_of_day")), "end_date": _date(values.get("end_date")),
            "lines": _lines(values.get("lines"))}


def plan_current(plan: PayoutPlan) -> dict[str, Any]:
    """The plan as approved, in the shape of plan_fields_clean's answer."""
    return {"name": plan.name, "frequency": plan.frequency, "weekday": plan.weekday,
            "day_of_month": plan.day_of_month, "time_of_day": plan.time_of_day, "end_date": plan.end_date,
            "lines": [{"recipient": line.recipient_id, "amount": line.amount} for line in plan.lines.all()]}


def plan_as_json(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as JSON (the pending change, an event's details)."""
    return {**fields, "time_of_day": fields["time_of_day"].strftime("%H:%M"),
            "end_date": fields["end_date"].isoformat() if fields["end_date"] else None,
            "lines": [{"recipient": line["recipient"], "amount": str(line["amount"])} for line in fields["lines"]]}


def _apply(plan: PayoutPlan, fields: dict[str, Any]) -> None:
    for field in FIELDS[:-1]:
        setattr(plan, field, fields[field])
    plan.updated_at = timezone.now()
    plan.save()
    plan.lines.all().delete()
    PayoutPlanLine.objects.bulk_create(
        PayoutPlanLine(plan=plan, recipient_id=line["recipient"], amount=line["amount"]) for line in fields["lines"])


def _event(action: str, plan: PayoutPlan, actor, source: str, from_status: str = "", **details) -> None:
    event_record(action=action, source=source, actor=actor, from_status=from_status, to_status=plan.status,
                 details={"plan": plan.pk, "plan_name": plan.name, **details})


def plan_lock(plan_id: int) -> PayoutPlan:
    try:
        return PayoutPlan.objects.select_for_update().get(pk=plan_id)
    except PayoutPlan.DoesNotExist:
        raise NotFound(f"No payout plan #{plan_id}.") from None


def plan_create(*, created_by, source: str = EventSource.API, **values: Any) -> PayoutPlan:
    """A new plan, waiting for another person's approval before it runs."""
    _require(created_by, REQUEST_PERMISSION, "create payout plans")
    fields = plan_fields_clean(values)
    with transaction.atomic():
        plan = PayoutPlan(created_by=created_by)
        _apply(plan, fields)
        _event(AuditAction.PLAN_CREATED, plan, created_by, source, proposed=plan_as_json(fields))
    return plan


def plan_change(*, plan_id: int, changed_by, source: str = EventSource.API, **changes: Any) -> PayoutPlan:
    """Propose a change. A plan not yet approved changes at once (and its changer may not approve it either);
    an approved plan keeps running as approved until another person approves the change."""
    _require(changed_by, REQUEST_PERMISSION, "change payout plans")
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise PayoutError(f"These fields cannot be changed: {', '.join(unknown)}.", code="invalid_fields")
    if not changes:
        raise PayoutError(f"Give at least one field to change: {', '.join(FIELDS)}.", code="invalid_fields")
    with transaction.atomic():
        plan = plan_lock(plan_id)
        if plan.status == PayoutPlanStatus.REJECTED:
            raise InvalidState(f"Payout plan #{plan.pk} was rejected: create a new plan instead.")
        base = plan.pending_change or plan_as_json(plan_current(plan))
        fields = plan_fields_clean({**base, **changes})
        now = timezone.now()
        plan.change_proposed_by = changed_by
        plan.change_proposed_at = now
        if plan.status == PayoutPlanStatus.PENDING_APPROVAL:
            _apply(plan, fields)
        else:
            plan.pending_change = plan_as_json(fields)
            plan.updated_at = now
            plan.save()
        _event(AuditAction.PLAN_CHANGE_PROPOSED, plan, changed_by, source, from_status=plan.status,
               changed=sorted(changes), proposed=plan_as_json(fields))
    return plan


def plan_approve(*, plan_id: int, approved_by, source: str = EventSource.API) -> PayoutPlan:
    """Approve a new plan (it runs from now on) or an approved plan's pending change (runs use it from now on).
    Not by whoever created a new plan or proposed the change being approved."""
    _require(approved_by, APPROVE_PERMISSION, "approve payout plans")
    with transaction.atomic():
        plan = plan_lock(plan_id)
        now = timezone.now()
        if plan.status == PayoutPlanStatus.PENDING_APPROVAL:
            if approved_by.pk in (plan.created_by_id, plan.change_proposed_by_id):
                raise PermissionDenied("You created or changed this plan: another person must approve it.",
                                       code=ErrorCode.OWN_EDIT)
            plan.status = PayoutPlanStatus.ACTIVE
            plan.approved_by = approved_by
            plan.approved_at = plan.runs_from = plan.updated_at = now
            plan.save()
            _event(AuditAction.PLAN_APPROVED, plan, approved_by, source, from_status=PayoutPlanStatus.PENDING_APPROVAL)
            return plan
        if not plan.pending_change:
            raise InvalidState(f"Payout plan #{plan.pk} has nothing waiting for approval.")
        if approved_by.pk == plan.change_proposed_by_id:
            raise PermissionDenied("You proposed this change: another person must approve it.",
                                   code=ErrorCode.OWN_EDIT)
        change = plan.pending_change
        plan.pending_change = {}
        fields = plan_fields_clean(change)
        if any(fields[f] != getattr(plan, f) for f in SCHEDULE_FIELDS):
            # A new schedule counts from its approval: an occurrence of it that fell before is not created.
            plan.runs_from = now
        _apply(plan, fields)
        _event(AuditAction.PLAN_CHANGE_APPROVED, plan, approved_by, source, from_status=plan.status,
               approved=change, proposed_by=plan.change_proposed_by_id)
    return plan


def plan_reject(*, plan_id: int, rejected_by, reason: str, source: str = EventSource.API) -> PayoutPlan:
    """Refuse a new plan (it never runs) or an approved plan's pending change (the plan stays as approved)."""
    _require(rejected_by, APPROVE_PERMISSION, "reject payout plans")
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise PayoutError("Say why in 3 to 500 characters.", code="invalid_reason")
    with transaction.atomic():
        plan = plan_lock(plan_id)
        from_status = plan.status
        if plan.status == PayoutPlanStatus.PENDING_APPROVAL:
            plan.status = PayoutPlanStatus.REJECTED
            action = AuditAction.PLAN_REJECTED
        elif plan.pending_change:
            action = AuditAction.PLAN_CHANGE_REJECTED
        else:
            raise InvalidState(f"Payout plan #{plan.pk} has nothing waiting for approval.")
        refused = plan.pending_change
        plan.pending_change = {}
        plan.updated_at = timezone.now()
        plan.save()
        _event(action, plan, rejected_by, source, from_status=from_status, reason=reason, refused=refused)
    return plan


def plan_pause(*, plan_id: int, paused_by, source: str = EventSource.API) -> PayoutPlan:
    """Stop an active plan's runs until it is resumed; no approval needed."""
    _require(paused_by, REQUEST_PERMISSION, "pause payout plans")
    with transaction.atomic():
        plan = plan_lock(plan_id)
        if plan.status != PayoutPlanStatus.ACTIVE:
            raise InvalidState(f"Payout plan #{plan.pk} is {plan.status}: only an active plan can be paused.")
        plan.status = PayoutPlanStatus.PAUSED
        plan.updated_at = timezone.now()
        plan.save()
        _event(AuditAction.PLAN_PAUSED, plan, paused_by, source, from_status=PayoutPlanStatus.ACTIVE)
    return plan


def plan_resume(*, plan_id: int, resumed_by, source: str = EventSource.API) -> PayoutPlan:
    """Run a paused plan again, from now on: an occurrence that fell in the pause is not created."""
    _require(resumed_by, REQUEST_PERMISSION, "resume payout plans")
    with transaction.atomic():
        plan = plan_lock(plan_id)
        if plan.status != PayoutPlanStatus.PAUSED:
            raise InvalidState(f"Payout plan #{plan.pk} is {plan.status}: only a paused plan can be resumed.")
        plan.status = PayoutPlanStatus.ACTIVE
        plan.runs_from = plan.updated_at = timezone.now()
        plan.save()
        _event(AuditAction.PLAN_RESUMED, plan, resumed_by, source, from_status=PayoutPlanStatus.PAUSED)
    return plan


def plan_total(plan: PayoutPlan) -> str:
    return kes(sum((line.amount for line in plan.lines.all()), Decimal("0")))
