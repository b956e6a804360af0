"""Requesting, approving, rejecting and editing payouts. Who may decide is the four-eyes rule of
`payments/payouts/four_eyes.py` (backed by the database's CHECK and trigger on approvals, and checked again
at send time); a payment's refunded total is held by a CHECK too."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ErrorCode, InvalidState, NotFound, PayoutError, PermissionDenied
from core.field_widths import truncate_to
from core.money import kes
from core.phone import InvalidPhoneNumber, is_hashed_msisdn, normalize_msisdn
from mpesa_payouts.celery import publish_each, publish_now
from mpesa_payouts.effects import after_commit
from payments.audit_events import event_record
from payments.incoming.refunds import RefundNotReservable, payment_lock, release_refund, reserve_refund
from payments.models import (
    EDITABLE_STATUSES,
    AuditAction,
    CommandID,
    EventSource,
    Payment,
    PaymentStatus,
    Payout,
    PayoutApproval,
    PayoutBatch,
    PayoutControl,
    PayoutEditor,
    PayoutKind,
    PayoutRail,
    PayoutStatus,
)
from payments.payouts.approval_rules import approval_source, approvals_missing, rule_fields
from payments.payouts.four_eyes import interested_user_ids, refuse_interested_approver
from payments.payouts.lifecycle import payout_created, payout_lock, payout_transition
from payments.payouts.limits import check_daily_limits_at_creation, validate_amount
from payments.payouts.name_check import payee_changed, refuse_unconfirmed_mismatch
from payments.payouts.rails import PAYEE_FIELDS, clean_payee, command_id_for, disbursement_rail
from payments.payouts.reversals import refund_refusal_for_reversal
from payments.payouts.tariff import expected_charge
from payments.roles import APPROVE_PERMISSION, REQUEST_PERMISSION
from payments.tasks import send_payout as send_payout_task
from payments.tasks import send_payouts as send_payouts_task

logger = logging.getLogger(__name__)

# What an approval is bound to: changing any of them voids the approvals given so far.
BOUND_FIELDS = ("amount", "phone", "command_id", "party_b", "account_reference")


def _require(user, permission: str, what: str) -> None:
    if user is None or not user.is_active or not user.has_perm(permission):
        raise PermissionDenied(f"You do not have permission to {what}.")


def _phone(value: str) -> str:
    try:
        return normalize_msisdn(value)
    except InvalidPhoneNumber as exc:
        raise PayoutError(str(exc), code="invalid_phone") from None


def _paid_from(payment: Payment) -> str:
    """The number that paid, normalised, or "" when C2B gave it masked."""
    try:
        return normalize_msisdn(payment.phone)
    except InvalidPhoneNumber:
        return ""


def refund_target(*, payment: Payment, phone: str | None) -> tuple[str, bool]:
    """Where a refund of `payment` goes: the number given, else the number that paid. Returns it normalised
    and whether it differs from the payer's; raises PayoutError(code="invalid_phone") when there is none."""
    paid_from = _paid_from(payment)
    if phone:
        target = _phone(phone)
    elif paid_from:
        target = paid_from
    else:
        raise PayoutError(
            "This payment's phone number is a SHA-256 hash, not a number; give the phone number to refund to."
            if is_hashed_msisdn(payment.phone)
            else "This payment's phone number is masked or invalid; give the phone number to refund to.",
            code="invalid_phone",
        )
    return target, target != paid_from


def _text(value: str | None, *, field: str, min_len: int = 0, max_len: int = 100) -> str:
    text = (value or "").strip()
    if len(text) < min_len:
        raise PayoutError(f"{field} must have at least {min_len} characters.")
    if len(text) > max_len:
        raise PayoutError(f"{field} must have at most {max_len} characters.")
    return text


def validate_send_after(send_after: datetime | None) -> None:
    """A payout may be scheduled only for a moment still to come."""
    if send_after is not None and send_after <= timezone.now():
        raise PayoutError("Send after must be in the future.", code="send_after")


def payout_request_disbursement(
    *,
    requested_by,
    amount: Decimal,
    remarks: str,
    rail: str = PayoutRail.MOBILE,
    phone: str = "",
    party_b: str = "",
    account_reference: str = "",
    command_id: str | None = None,
    occasion: str = "",
    recipient_name: str = "",
    recipient_reference: str = "",
    recipient_type: str = "",
    reason: str = "",
    batch: PayoutBatch | None = None,
    source: str = EventSource.API,
    send_after: datetime | None = None,
) -> Payout:
    """A payout to someone we pay (trainer, client, supplier), or a float top-up, waiting for approval. `rail`
    says how it is paid and which payee fields it names (payments/payouts/rails.py)."""
    _require(requested_by, REQUEST_PERMISSION, "request payouts")
    disbursement_rail(rail)
    payee = clean_payee(rail, phone=phone, party_b=party_b, account_reference=account_reference)
    amount = validate_amount(amount, rail=rail)
    validate_send_after(send_after)
    with transaction.atomic():
        check_daily_limits_at_creation(phone=payee["phone"], party_b=payee["party_b"], amount=amount, rail=rail)
        payout = Payout.objects.create(
            kind=PayoutKind.DISBURSEMENT,
            rail=rail,
            **payee,
            amount=amount,
            expected_charge=expected_charge(rail, amount),
            send_after=send_after,
            command_id=command_id_for(rail, command_id),
            remarks=_text(remarks, field="Remarks", min_len=2),
            occasion=_text(occasion, field="Occasion"),
            recipient_name=_text(recipient_name, field="Recipient name", max_len=150),
            recipient_reference=_text(recipient_reference, field="Recipient reference"),
            recipient_type=_text(recipient_type, field="Recipient type", max_len=30),
            reason=reason.strip(),
            batch=batch,
            requested_by=requested_by,
            **rule_fields(amount=amount, rail=rail, source=approval_source(source=source, batch=batch)),
        )
        payout_created(payout=payout, actor=requested_by, source=source,
                       details={"amount": str(amount), "rail": rail})
    return payout


def payment_refund(
    *,
    payment_id: int,
    requested_by,
    reason: str,
    amount: Decimal | None = None,
    phone: str | None = None,
    source: str = EventSource.API,
) -> Payout:
    """Refund part or all of a completed payment. The payment row is locked while its refundable
    remainder is checked and reserved; the database CHECK refuses an over-refund even if code is wrong."""
    _require(requested_by, REQUEST_PERMISSION, "request refunds")
    reason = _text(reason, field="Reason", min_len=3, max_len=500)
    with transaction.atomic():
        try:
            payment = Payment.objects.select_for_update().get(pk=payment_id)
        except Payment.DoesNotExist:
            raise NotFound("No such payment.") from None
        reversed_by = refund_refusal_for_reversal(payment.pk)
        if reversed_by:
            raise InvalidState(reversed_by, code="reversal")
        if payment.status != PaymentStatus.COMPLETED:
            raise PayoutError(f"Only a completed payment can be refunded; this one is {payment.status}.")
        remaining = payment.amount - payment.refunded_amount
        if amount is None:
            amount = remaining.quantize(Decimal("1"), rounding=ROUND_DOWN)
        if amount > remaining:
            raise PayoutError(
                f"KES {amount} is more than the refundable remainder of this payment (KES {remaining}).",
                code="over_refund",
            )
        amount = validate_amount(amount)
        target, differs = refund_target(payment=payment, phone=phone)
        check_daily_limits_at_creation(phone=target, amount=amount)
        reserve_refund(payment, amount)
        payout = Payout.objects.create(
            kind=PayoutKind.REFUND,
            payment=payment,
            phone=target,
            phone_differs_from_payment=differs,
            amount=amount,
            expected_charge=expected_charge(PayoutRail.MOBILE, amount),
            command_id=CommandID.BUSINESS_PAYMENT,
            remarks=truncate_to(Payout, "remarks", f"Refund of {payment.receipt}"),
            reason=reason,
            recipient_name=payment.payer_name,
            recipient_type="customer",
            recipient_reference=payment.receipt or "",
            requested_by=requested_by,
            **rule_fields(amount=amount, rail=PayoutRail.MOBILE, source=approval_source(source=source)),
        )
        payout_created(
            payout=payout,
            actor=requested_by,
            source=source,
            details={"amount": str(amount), "payment": payment.pk, "phone_differs": payout.phone_differs_from_payment},
        )
    return payout


def payout_request_precheck(
    *, phone: str, amount: Decimal, payment: Payment | None = None, rail: str = PayoutRail.MOBILE, party_b: str = ""
) -> tuple[str, Decimal]:
    """The checks a request will meet, run before anyone confirms it (the admin's "Continue"): the amount in
    whole shillings within the limits of the account `rail` leaves, at most a refunded payment's remainder,
    today's limits. Writes nothing and reserves nothing; the request itself checks everything again under its
    locks. Returns the normalised phone ("" for a rail without one) and amount, or raises the PayoutError the
    request would raise."""
    phone = _phone(phone) if rail in (PayoutRail.MOBILE, PayoutRail.POCHI) else ""
    if payment is not None:
        remaining = payment.amount - payment.refunded_amount
        if amount > remaining:
            raise PayoutError(
                f"{kes(amount)} is more than the refundable remainder of this payment ({kes(remaining)}).",
                code="over_refund",
            )
    try:
        amount = validate_amount(amount, rail=rail)
    except PayoutError as exc:
        raise PayoutError(exc.message, code="amount") from None
    check_daily_limits_at_creation(phone=phone, amount=amount, rail=rail, party_b=party_b)
    return phone, amount


def payout_request_again(
    *,
    payout_id: int,
    requested_by,
    source: str = EventSource.API,
    phone: str | None = None,
    recipient_name: str | None = None,
) -> Payout:
    """A failed payout asked for again: a NEW payout (its own OriginatorConversationID, its own callback
    token, no approvals) with the same recipient, amount and CommandID, linked to the failed one by
    `retry_of`, waiting in `pending_approval` under the same four-eyes rules and limits as any request.

    The failed payout itself is never sent again. A refund reserves its amount on the payment again (the
    failure gave it back). Each failed payout is requested again at most once (its row is locked while
    this is checked); a retry that fails in turn is requested again from its own page. Both payouts get an
    audit event.

    `phone` (and, for a disbursement, `recipient_name`) corrects what made it fail, such as a wrong number: the
    correction is the new request's, under the same four eyes, and its event names the old and new value."""
    _require(requested_by, REQUEST_PERMISSION, "request payouts")
    with transaction.atomic():
        original = payout_lock(payout_id=payout_id)
        if original.status != PayoutStatus.FAILED:
            raise InvalidState(
                f"Payout #{original.pk} is {original.status}; only a failed payout can be requested again."
            )
        earlier = Payout.objects.filter(retry_of=original).order_by("pk").values_list("pk", flat=True).first()
        if earlier is not None:
            raise InvalidState(
                f"Payout #{original.pk} was already requested again as payout #{earlier}.",
                code=ErrorCode.ALREADY_RETRIED,
            )
        if original.payment_id:
            retry = payment_refund(
                payment_id=original.payment_id,
                requested_by=requested_by,
                reason=original.reason or f"Request again of payout #{original.pk}",
                amount=original.amount,
                phone=phone or original.phone,
                source=source,
            )
        else:
            retry = payout_request_disbursement(
                requested_by=requested_by,
                rail=original.rail,
                phone=phone or original.phone,
                party_b=original.party_b if original.rail != PayoutRail.FLOAT_TOPUP else "",
                account_reference=original.account_reference,
                amount=original.amount,
                remarks=original.remarks,
                command_id=original.command_id,
                occasion=original.occasion,
                recipient_name=original.recipient_name if recipient_name is None else recipient_name,
                recipient_reference=original.recipient_reference,
                recipient_type=original.recipient_type,
                reason=original.reason,
                batch=original.batch,
                source=source,
            )
        Payout.objects.filter(pk=retry.pk).update(retry_of=original)
        retry.retry_of = original
        # What is paid was chosen by the original's requester and by whoever changed its amount, phone or
        # CommandID: the retry carries their choice, so none of them is its second pair of eyes either.
        now = timezone.now()
        for user_id in sorted(interested_user_ids(original) - {requested_by.pk}):
            _record_editor(retry, user=get_user_model()(pk=user_id), fields=["retry_of"], bound=True, now=now)
        details: dict[str, Any] = {"retry_of": original.pk}
        for name in ("phone", "recipient_name"):
            if getattr(retry, name) != getattr(original, name):
                details[name] = {"from": getattr(original, name), "to": getattr(retry, name)}
        event_record(action=AuditAction.REQUESTED_AGAIN, source=source, payout=retry, actor=requested_by,
                     from_status=retry.status, to_status=retry.status, details=details)
        event_record(action=AuditAction.RETRIED, source=source, payout=original, actor=requested_by,
                     from_status=original.status, to_status=original.status, details={"retried_as": retry.pk})
    return retry


def _active_approvals(payout: Payout):
    return payout.approvals.filter(voided_at__isnull=True)


def _record_editor(payout: Payout, *, user, fields: list[str], bound: bool, now) -> None:
    """Add `user` to the payout's editors (under its row lock, so one row per person)."""
    editor = PayoutEditor.objects.filter(payout=payout, user=user).first()
    if editor is None:
        PayoutEditor.objects.create(payout=payout, user=user, changed_bound=bound, fields=fields,
                                    first_edited_at=now, last_edited_at=now)
        return
    editor.fields = [*editor.fields, *(name for name in fields if name not in editor.fields)]
    editor.changed_bound = editor.changed_bound or bound
    editor.last_edited_at = now
    editor.save(update_fields=["fields", "changed_bound", "last_edited_at"])


def payout_approve(*, payout_id: int, approved_by, source: str = EventSource.API, queue: bool = True,
                   name_confirmed: bool = False) -> Payout:
    """Record one approval (`name_confirmed`: "I have checked the name", required when the name check found a
    mismatch; payouts/name_check.py). The payout becomes `approved` (and is queued to send after commit) when it
    has enough distinct approvers, none of them its requester. `queue=False`: the caller queues the send
    itself, as an approval of many does (`queue_sends` of all the approved ids, after commit)."""
    _require(approved_by, APPROVE_PERMISSION, "approve payouts")
    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status != PayoutStatus.PENDING_APPROVAL:
            raise InvalidState(f"Payout #{payout.pk} is {payout.status}, not pending approval.")
        refuse_interested_approver(payout, approved_by)
        name_details = refuse_unconfirmed_mismatch(payout, name_confirmed=name_confirmed)
        if _active_approvals(payout).filter(approver=approved_by).exists():
            raise InvalidState("You have already approved this payout; a second approver is needed.",
                               code=ErrorCode.ALREADY_APPROVED)
        try:
            with transaction.atomic():
                PayoutApproval.objects.create(
                    payout=payout,
                    approver=approved_by,
                    requested_by_id=payout.requested_by_id,
                    amount=payout.amount,
                    rail=payout.rail,
                    phone=payout.phone,
                    party_b=payout.party_b,
                    account_reference=payout.account_reference,
                    command_id=payout.command_id,
                )
        except IntegrityError:
            raise InvalidState(
                "This approval conflicts with the rules (approval by its requester or an editor, or a repeat)."
            ) from None
        active = list(_active_approvals(payout).select_related("approver"))
        missing = approvals_missing(payout, active)  # the payout's approval rule (approval_rules.py)
        details = {"approvals": len(active), "required": payout.required_approvals, **name_details}
        if missing:
            details["missing"] = missing
            event_record(action=AuditAction.APPROVAL, source=source, payout=payout, actor=approved_by,
                         from_status=payout.status, to_status=payout.status, details=details)
            return payout
        payout_transition(
            locked=payout,
            to_status=PayoutStatus.APPROVED,
            action=AuditAction.APPROVED,
            source=source,
            actor=approved_by,
            details=details,
            fields={"approved_at": timezone.now()},
        )
        if queue:
            after_commit(lambda: queue_send(payout.pk))
    return payout


# Payouts approved together (an operator approving a payroll) go to the workers in messages of this many ids:
# each is still claimed and sent on its own, but a worker pays the broker's per-message cost once per group.
SENDS_PER_MESSAGE = 20

def queue_send(payout_id: int, *, countdown: float | None = None) -> None:
    """Hand the payout to a worker (after `countdown` seconds: another try after a refusal that proves it
    did not leave). If the broker is down the payout stays `approved` and the sweep queues it later: nothing
    is lost and nothing is sent twice (the task claims the row)."""
    try:
        publish_now(send_payout_task, payout_id, countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - the sweep picks up approved payouts
        logger.warning("could not queue payout %s (%s); the sweep will send it", payout_id, type(exc).__name__)


def send_groups(payout_ids: list[int], size: int = SENDS_PER_MESSAGE) -> list[list[int]]:
    """The ids in `send_payouts` messages of `size`, in order."""
    return [payout_ids[at : at + size] for at in range(0, len(payout_ids), size)]


def queue_sends(payout_ids: list[int]) -> None:
    """Hand many approved payouts to the workers, SENDS_PER_MESSAGE to a `send_payouts` message, with one
    quick attempt; what cannot be queued now stays `approved` for the sweep."""
    queued: list = []
    try:
        publish_each(send_payouts_task, [(group,) for group in send_groups(payout_ids)], queued=queued)
    except Exception as exc:  # noqa: BLE001 - the sweep picks up approved payouts
        left = len(payout_ids) - SENDS_PER_MESSAGE * len(queued)
        logger.warning("could not queue %d approved payouts (%s); the sweep will send them", left,
                       type(exc).__name__)


def payout_reject(*, payout_id: int, rejected_by, reason: str, source: str = EventSource.API) -> Payout:
    _require(rejected_by, APPROVE_PERMISSION, "reject payouts")
    reason = _text(reason, field="Reason", min_len=3, max_len=500)
    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status not in EDITABLE_STATUSES:
            raise InvalidState(f"Payout #{payout.pk} is {payout.status}; only a payout not yet sent can be rejected.")
        refuse_interested_approver(payout, rejected_by, deciding="decide on")
        payout_transition(
            locked=payout,
            to_status=PayoutStatus.REJECTED,
            action=AuditAction.REJECTED,
            source=source,
            actor=rejected_by,
            details={"reason": reason},
            fields={"review_reason": reason, "completed_at": timezone.now()},
        )
    return payout


def payout_update(*, payout_id: int, updated_by, source: str = EventSource.ADMIN, **changes: Any) -> Payout:
    """Edit a payout not yet sent. Changing amount, phone or CommandID voids every approval given so far
    and returns the payout to `pending_approval`, and bars the editor from approving it. Every edit is an
    event with who made it and each field's old and new value; the editor is kept in `payout.editors`."""
    _require(updated_by, REQUEST_PERMISSION, "edit payouts")
    allowed = {"amount", "phone", "party_b", "account_reference", "command_id", "remarks", "occasion",
               "recipient_name", "recipient_reference"}
    unknown = set(changes) - allowed
    if unknown:
        raise PayoutError(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    current = Payout.objects.filter(pk=payout_id).values("rail", "phone", "party_b", "account_reference").first()
    if current is None:
        raise NotFound(f"Payout #{payout_id} does not exist.")
    rail = current["rail"]
    clean: dict[str, Any] = {}
    if "amount" in changes:
        clean["amount"] = validate_amount(changes["amount"], rail=rail)
    payee_changes = {name: changes[name] for name in PAYEE_FIELDS if name in changes}
    if payee_changes:
        # The payee is checked whole, by the rail's rules: a paybill's account cannot be blanked, a phone
        # cannot be given to a till payout.
        payee = clean_payee(rail, **{**{f: current[f] for f in PAYEE_FIELDS}, **payee_changes})
        clean.update({name: payee[name] for name in payee_changes})
    if "command_id" in changes:
        clean["command_id"] = command_id_for(rail, changes["command_id"])
    if "remarks" in changes:
        clean["remarks"] = _text(changes["remarks"], field="Remarks", min_len=2)
    for name in ("occasion", "recipient_reference"):
        if name in changes:
            clean[name] = _text(changes[name], field=name.replace("_", " ").capitalize())
    if "recipient_name" in changes:
        clean["recipient_name"] = _text(changes["recipient_name"], field="Recipient name", max_len=150)

    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status not in EDITABLE_STATUSES:
            raise InvalidState(f"Payout #{payout.pk} is {payout.status}; it can no longer be edited.")
        before = {name: getattr(payout, name) for name in clean}
        clean = {name: value for name, value in clean.items() if before[name] != value}
        if not clean:
            return payout
        if "amount" in clean and payout.payment_id:
            _move_refund_reservation(payout, clean["amount"])
        if {"amount", "phone", "party_b"} & set(clean):
            check_daily_limits_at_creation(
                phone=clean.get("phone", payout.phone), party_b=clean.get("party_b", payout.party_b),
                amount=clean.get("amount", payout.amount), exclude_pk=payout.pk, rail=payout.rail,
            )
        if "phone" in clean and payout.payment_id:
            clean["phone_differs_from_payment"] = clean["phone"] != _paid_from(payout.payment)
        if "amount" in clean:
            # The rules in force now decide for the new amount, for the source it was requested from.
            clean.update(rule_fields(amount=clean["amount"], rail=payout.rail, source=_rule_source(payout)))
            clean["expected_charge"] = expected_charge(payout.rail, clean["amount"])
        changed = [name for name in before if name in clean]
        details = {name: {"from": str(before[name]), "to": str(clean[name])} for name in changed}
        if set(PAYEE_FIELDS) & set(clean):
            clean.update(payee_changed(payout, **{f: clean.get(f, getattr(payout, f)) for f in PAYEE_FIELDS}))
        voids = [name for name in BOUND_FIELDS if name in clean]
        now = timezone.now()
        _record_editor(payout, user=updated_by, fields=changed, bound=bool(voids), now=now)
        if voids and _active_approvals(payout).exists():
            _active_approvals(payout).update(voided_at=now, voided_reason=f"Changed: {', '.join(voids)}")
            payout_transition(
                locked=payout,
                to_status=PayoutStatus.PENDING_APPROVAL,
                action=AuditAction.APPROVAL_VOIDED,
                source=source,
                actor=updated_by,
                details=details,
                fields={**clean, "approved_at": None},
            )
        else:
            for name, value in clean.items():
                setattr(payout, name, value)
            payout.save(update_fields=[*clean, "updated_at"])
            event_record(action=AuditAction.EDITED, source=source, payout=payout, actor=updated_by,
                         from_status=payout.status, to_status=payout.status, details=details)
    return payout


def _rule_source(payout: Payout) -> str:
    """Where the payout was requested from, as its rule named it (payouts requested before rules: console or
    bulk)."""
    return (payout.approval_rule or {}).get("source") or approval_source(source=EventSource.ADMIN,
                                                                         batch=payout.batch_id)


def _move_refund_reservation(payout: Payout, new_amount: Decimal) -> None:
    delta = new_amount - payout.amount
    if delta == 0:
        return
    if delta < 0:
        release_refund(payout.payment_id, -delta)
        return
    payment = payment_lock(payment_id=payout.payment_id)
    try:
        reserve_refund(payment, delta)
    except RefundNotReservable:
        raise PayoutError(
            f"KES {new_amount} is more than this payment's refundable remainder allows "
            f"(KES {payment.amount - payment.refunded_amount + payout.amount}).",
            code="over_refund",
        ) from None


def payout_control_set(*, paused: bool, changed_by, reason: str = "", source: str = EventSource.ADMIN) -> PayoutControl:
    """Switch the kill switch; written to the audit trail with who and why."""
    _require(changed_by, APPROVE_PERMISSION, "pause or resume payouts")
    with transaction.atomic():
        control, _ = PayoutControl.objects.select_for_update().get_or_create(pk=1)
        control.paused = paused
        control.reason = truncate_to(control, "reason", reason.strip())
        control.changed_by = changed_by
        control.changed_at = timezone.now()
        control.save()
        action = AuditAction.PAYOUTS_PAUSED if paused else AuditAction.PAYOUTS_RESUMED
        event_record(action=action, source=source, actor=changed_by, details={"reason": control.reason})
    return control
