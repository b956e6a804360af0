"""A recipient's four eyes: the only writers of Recipient.

A new recipient, and any change to how it is paid (PAYEE_FIELDS), waits in `pending_approval` for an
approver who neither created it nor set that payee; changing only its name, category, reference or notes
needs no approval. Archiving keeps its row and its events (the payouts it was paid by keep the details they
were sent with). Each function is a keyword-only service: it checks, locks, writes and records its
AuditEvent in one transaction, and raises core.errors exceptions (a 4xx, nothing written).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ErrorCode, InvalidState, NotFound, PayoutError, PermissionDenied
from core.field_widths import truncate_to
from payments.audit_events import event_record
from payments.models import (
    RECIPIENT_RAILS,
    AuditAction,
    EventSource,
    Recipient,
    RecipientImport,
    RecipientStatus,
)
from payments.models.recipients import PAYEE_FIELDS
from payments.payouts.rails import clean_payee, payee_problems, payee_words
from payments.roles import APPROVE_PERMISSION, REQUEST_PERMISSION

# Fields a change may name besides the payee's; none of them voids the approval.
DESCRIPTION_FIELDS = ("name", "external_reference", "category", "notes")
_LIMITS = {"name": (1, 150), "external_reference": (0, 100), "category": (0, 30), "notes": (0, 2000)}


def _require(user, permission: str, what: str) -> None:
    if user is None or not user.is_active or not user.has_perm(permission):
        raise PermissionDenied(f"You do not have permission to {what}.")


def recipient_payee_problems(rail: str, values: dict[str, Any]) -> dict[str, str]:
    """Every problem with a recipient's rail and payee fields, by field ({} when none)."""
    if rail not in RECIPIENT_RAILS:
        return {"rail": f"A recipient is paid by one of {', '.join(RECIPIENT_RAILS)}."}
    return payee_problems(rail, {f: str(values.get(f) or "") for f in ("phone", "party_b", "account_reference")})


def _clean_payee(rail: str, values: dict[str, Any]) -> dict[str, str]:
    problems = recipient_payee_problems(rail, values)
    if problems:
        field, message = next(iter(problems.items()))
        raise PayoutError(message.replace("payout", "recipient"), code=f"invalid_{field}")
    payee = clean_payee(rail, phone=values.get("phone"), party_b=values.get("party_b"),
                        account_reference=values.get("account_reference"))
    return {"rail": rail, **payee}


def clean_text(field: str, value: Any) -> str:
    text = str(value or "").strip()
    low, high = _LIMITS[field]
    if not low <= len(text) <= high:
        what = field.replace("_", " ")
        raise PayoutError(f"The {what} must have {low} to {high} characters (has {len(text)}).",
                          code=f"invalid_{field}")
    return text


def _reference_free(reference: str, *, other_than: int | None = None) -> None:
    if not reference:
        return
    taken = Recipient.objects.exclude(status=RecipientStatus.ARCHIVED).filter(external_reference=reference)
    if other_than is not None:
        taken = taken.exclude(pk=other_than)
    if taken.exists():
        raise InvalidState(f"Another recipient already has the reference {reference!r}.",
                           code=ErrorCode.REFERENCE_TAKEN)


def recipient_lock(recipient_id: int) -> Recipient:
    try:
        return Recipient.objects.select_for_update().get(pk=recipient_id)
    except Recipient.DoesNotExist:
        raise NotFound(f"No recipient #{recipient_id}.") from None


def _save(recipient: Recipient, **kwargs) -> None:
    try:
        with transaction.atomic():
            recipient.save(**kwargs)
    except IntegrityError:
        # The partial UNIQUE index: another request took the reference since we looked.
        raise InvalidState(f"Another recipient already has the reference {recipient.external_reference!r}.",
                           code=ErrorCode.REFERENCE_TAKEN) from None


def recipient_create(*, created_by, name: str, rail: str, phone: str = "", party_b: str = "",
                     account_reference: str = "", external_reference: str = "", category: str = "",
                     notes: str = "", source: str = EventSource.API,
                     source_import: RecipientImport | None = None) -> Recipient:
    """A new recipient, pending another person's approval."""
    _require(created_by, REQUEST_PERMISSION, "save recipients")
    texts = {f: clean_text(f, v) for f, v in (("name", name), ("external_reference", external_reference),
                                               ("category", category), ("notes", notes))}
    payee = _clean_payee(rail, {"phone": phone, "party_b": party_b, "account_reference": account_reference})
    with transaction.atomic():
        _reference_free(texts["external_reference"])
        recipient = Recipient(**texts, **payee, created_by=created_by, payee_set_by=created_by,
                              source_import=source_import)
        _save(recipient)
        event_record(action=AuditAction.RECIPIENT_CREATED, source=source, recipient=recipient, actor=created_by,
                     to_status=recipient.status, details={"payee": payee_words(**recipient.payee())})
    return recipient


def recipient_change(*, recipient_id: int, changed_by, source: str = EventSource.API,
                     **changes: Any) -> Recipient:
    """Change a recipient. A change to how it is paid puts it back to `pending_approval` (its approval is
    voided; the old payee is kept in the event); a change of its description only leaves its status."""
    _require(changed_by, REQUEST_PERMISSION, "change recipients")
    unknown = sorted(set(changes) - set(DESCRIPTION_FIELDS) - set(PAYEE_FIELDS))
    if unknown:
        raise PayoutError(f"These fields cannot be changed: {', '.join(unknown)}.", code="invalid_fields")
    with transaction.atomic():
        recipient = recipient_lock(recipient_id)
        if recipient.status == RecipientStatus.ARCHIVED:
            raise InvalidState(f"Recipient #{recipient.pk} is archived: save a new recipient instead.")
        texts = {f: clean_text(f, changes[f]) for f in DESCRIPTION_FIELDS if f in changes}
        old_payee = recipient.payee()
        new_payee = old_payee
        if any(f in changes for f in PAYEE_FIELDS):
            rail = changes.get("rail", recipient.rail)
            # A new rail starts from blank fields; the same rail keeps those not named.
            base = old_payee if rail == recipient.rail else {}
            new_payee = _clean_payee(rail, {f: changes.get(f, base.get(f, "")) for f in PAYEE_FIELDS})
        if "external_reference" in texts:
            _reference_free(texts["external_reference"], other_than=recipient.pk)
        changed = [f for f, v in {**texts, **new_payee}.items() if getattr(recipient, f) != v]
        if not changed:
            return recipient
        for field, value in {**texts, **new_payee}.items():
            setattr(recipient, field, value)
        recipient.updated_at = timezone.now()
        payee_changed = new_payee != old_payee
        from_status = recipient.status
        if payee_changed:
            recipient.status = RecipientStatus.PENDING_APPROVAL
            recipient.payee_set_by = changed_by
            recipient.approved_by = None
            recipient.approved_at = None
        _save(recipient)
        details: dict[str, Any] = {"fields": changed}
        if payee_changed:
            details |= {"old_payee": payee_words(**old_payee), "new_payee": payee_words(**new_payee),
                        "old": old_payee}
        event_record(action=AuditAction.RECIPIENT_PAYEE_CHANGED if payee_changed else AuditAction.RECIPIENT_CHANGED,
                     source=source, recipient=recipient, actor=changed_by, from_status=from_status,
                     to_status=recipient.status, details=details)
    return recipient


def recipient_approve(*, recipient_id: int, approved_by, source: str = EventSource.API) -> Recipient:
    """Approve a recipient's payee: it becomes `active` and may be paid. Not by its creator, nor by whoever
    set the payee being approved."""
    _require(approved_by, APPROVE_PERMISSION, "approve recipients")
    with transaction.atomic():
        recipient = recipient_lock(recipient_id)
        if recipient.status != RecipientStatus.PENDING_APPROVAL:
            raise InvalidState(f"Recipient #{recipient.pk} is {recipient.status}, not pending approval.")
        if approved_by.pk == recipient.created_by_id:
            raise PermissionDenied("You saved this recipient: another person must approve it.",
                                   code=ErrorCode.OWN_RECIPIENT)
        if approved_by.pk == recipient.payee_set_by_id:
            raise PermissionDenied("You changed how this recipient is paid: another person must approve it.",
                                   code=ErrorCode.OWN_EDIT)
        now = timezone.now()
        recipient.status = RecipientStatus.ACTIVE
        recipient.approved_by = approved_by
        recipient.approved_at = now
        recipient.approved_payee = {**recipient.payee(), "payee_set_by": recipient.payee_set_by_id,
                                    "approved_by": approved_by.pk, "approved_at": now.isoformat()}
        recipient.updated_at = now
        recipient.save()
        event_record(action=AuditAction.RECIPIENT_APPROVED, source=source, recipient=recipient, actor=approved_by,
                     from_status=RecipientStatus.PENDING_APPROVAL, to_status=recipient.status,
                     details={"payee": payee_words(**recipient.payee())})
    return recipient


def recipient_reject(*, recipient_id: int, rejected_by, reason: str, source: str = EventSource.API) -> Recipient:
    """Refuse a recipient's pending payee. A recipient never approved is archived; a change of one approved
    before goes back to the payee last approved (active again), so a refused edit loses nothing."""
    _require(rejected_by, APPROVE_PERMISSION, "reject recipients")
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise PayoutError("Say why in 3 to 500 characters.", code="invalid_reason")
    with transaction.atomic():
        recipient = recipient_lock(recipient_id)
        if recipient.status != RecipientStatus.PENDING_APPROVAL:
            raise InvalidState(f"Recipient #{recipient.pk} is {recipient.status}, not pending approval.")
        refused = recipient.payee()
        now = timezone.now()
        restored = recipient.approved_payee
        if restored:
            for field in PAYEE_FIELDS:
                setattr(recipient, field, restored[field])
            recipient.payee_set_by_id = restored["payee_set_by"]
            recipient.approved_by_id = restored["approved_by"]
            recipient.approved_at = restored["approved_at"]
            recipient.status = RecipientStatus.ACTIVE
        else:
            recipient.status = RecipientStatus.ARCHIVED
            recipient.archived_at = now
            recipient.archived_reason = reason
        recipient.updated_at = now
        recipient.save()
        event_record(action=AuditAction.RECIPIENT_REJECTED, source=source, recipient=recipient, actor=rejected_by,
                     from_status=RecipientStatus.PENDING_APPROVAL, to_status=recipient.status,
                     details={"reason": reason, "refused_payee": payee_words(**refused)})
    return recipient


def recipient_archive(*, recipient_id: int, archived_by, reason: str = "",
                      source: str = EventSource.API) -> Recipient:
    """Stop paying a recipient: it can no longer be paid or changed; its row and history stay."""
    _require(archived_by, REQUEST_PERMISSION, "archive recipients")
    with transaction.atomic():
        recipient = recipient_lock(recipient_id)
        if recipient.status == RecipientStatus.ARCHIVED:
            raise InvalidState(f"Recipient #{recipient.pk} is already archived.")
        from_status = recipient.status
        recipient.status = RecipientStatus.ARCHIVED
        recipient.archived_at = recipient.updated_at = timezone.now()
        recipient.archived_reason = truncate_to(Recipient, "archived_reason", (reason or "").strip())
        recipient.save()
        event_record(action=AuditAction.RECIPIENT_ARCHIVED, source=source, recipient=recipient, actor=archived_by,
                     from_status=from_status, to_status=recipient.status,
                     details={"reason": recipient.archived_reason} if recipient.archived_reason else {})
    return recipient
