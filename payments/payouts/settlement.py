"""Settling a payout from what M-Pesa says happened: a B2C or B2B result, or a Transaction Status answer.

Both arrive here through the same function, so a late result and a status answer can never disagree on
how a payout ends. Every path runs under the payout's row lock: fifty deliveries of one result make one
state change and one event.

What a code means is decided by the catalogue (daraja/result_codes.py) and nowhere else: only a
final failure (M-Pesa proves no money moved) fails a payout and gives a refund's amount back to its
payment; an unknown code moves it to `verifying` for a Transaction Status query to settle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.field_widths import truncate_to
from core.phone import InvalidPhoneNumber, normalize_msisdn
from daraja.callbacks import B2CResult, Party, StatusResult
from daraja.rail_results import B2BResult
from daraja.result_codes import CodeClass, Namespace, classify
from payments.audit_events import event_record
from payments.incoming.refunds import RefundNotReservable, payment_lock, reserve_refund
from payments.models import (
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    PHONE_RAILS,
    AuditAction,
    CallbackOutcome,
    DarajaCallback,
    DarajaCredentialSet,
    FloatBalance,
    FloatSource,
    Payment,
    Payout,
    PayoutRail,
    PayoutStatus,
)
from payments.payouts.lifecycle import payout_lock, payout_transition
from payments.payouts.limits import retry_hold_reason
from payments.payouts.operator_health import operator_answer_record
from payments.signals import float_updated


@dataclass(frozen=True)
class Outcome:
    """What M-Pesa says happened to one payout, whichever message said it. `klass` is the catalogue's
    CodeClass: success, final_failure or unknown."""

    klass: str
    result_code: str
    result_description: str
    transaction_id: str = ""
    amount: Decimal | None = None
    receiver_phone: str = ""
    receiver_name: str = ""
    completed_at: datetime | None = None
    # A Transaction Status answer describes whatever transaction carries the receipt it found, money in as well
    # as out, so it proves this payout paid only when it shows our money going to the payout's party
    # (_status_answer_problems). A B2C result is bound to the payout by its URL and OriginatorConversationID.
    from_status_query: bool = False
    debit_party: Party = field(default_factory=Party)
    credit_party: Party = field(default_factory=Party)
    reason_type: str = ""
    # A B2B result's receiver: the paybill or till number of ReceiverPartyPublicName ("" when it names none).
    receiver_number: str = ""
    # What M-Pesa charged (DebitPartyCharges), when the message says.
    charge: Decimal | None = None
    # The catalogue table the result code is read with (docs/result-codes.md).
    namespace: str = Namespace.B2C
    # What the result itself shows is not this payout's (a reversal of another original transaction).
    problems: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.klass == CodeClass.SUCCESS

    @property
    def failed(self) -> bool:
        return self.klass == CodeClass.FINAL_FAILURE

    @classmethod
    def from_b2c_result(cls, result: B2CResult) -> Outcome:
        return cls(
            klass=classify(Namespace.B2C, result.result_code).klass,
            result_code=result.result_code,
            result_description=result.result_description,
            transaction_id=result.transaction_id,
            amount=result.amount,
            receiver_phone=result.receiver_phone,
            receiver_name=result.receiver_name,
            completed_at=result.completed_at,
        )

    @classmethod
    def from_b2b_result(cls, result: B2BResult) -> Outcome:
        """A paybill, till or top-up result. Its receipt is already None for a failure or a placeholder
        TransactionID (OAK0000000): a placeholder is never stored as a receipt."""
        return cls(
            klass=result.code_info.klass,
            result_code=result.result_code,
            result_description=result.result_description,
            transaction_id=result.receipt or "",
            amount=result.amount,
            receiver_name=result.receiver_name,
            receiver_number=result.receiver_number,
            completed_at=result.completed_at,
            charge=result.charges,
            namespace=Namespace.B2B,
        )

    @classmethod
    def from_status_result(cls, result: StatusResult) -> Outcome:
        if result.found_completed:
            klass = CodeClass.SUCCESS
        elif result.found_failed:
            # M-Pesa's own ledger says the transaction failed: nothing was paid.
            klass = CodeClass.FINAL_FAILURE
        else:
            klass = CodeClass.UNKNOWN
        return cls(
            klass=klass,
            result_code="0" if result.found_completed else f"status:{result.transaction_status}",
            result_description=(
                result.result_description
                if result.found_completed
                else f"Transaction Status query reports the payment {result.transaction_status.lower()}"
            ),
            transaction_id=result.receipt,
            amount=result.amount,
            receiver_phone=result.receiver_phone,
            receiver_name=result.receiver_name,
            completed_at=result.finalised_at,
            from_status_query=True,
            debit_party=result.debit_party,
            credit_party=result.credit_party,
            reason_type=result.reason_type,
            charge=result.charges,
        )


@dataclass(frozen=True)
class SettleResult:
    outcome: str  # a CallbackOutcome value
    changed: bool
    note: str = ""
    mismatch: bool = False


def _disagreements(payout: Payout, outcome: Outcome) -> list[str]:
    problems = list(outcome.problems)
    if outcome.amount is not None and outcome.amount != payout.amount:
        problems.append(f"M-Pesa paid KES {outcome.amount}, the payout is for KES {payout.amount}")
    if outcome.from_status_query:
        problems.extend(_status_answer_problems(payout, outcome))
    elif _payee_kind(payout) == "phone":
        if _as_phone(outcome.receiver_phone) not in ("", payout.phone):
            problems.append("M-Pesa paid a different phone number than the payout names")
    elif outcome.receiver_number and outcome.receiver_number != payout.party_b:
        # ReceiverPartyPublicName, when present, must name the business number the payout pays.
        problems.append(
            f"M-Pesa paid business number {outcome.receiver_number}, the payout names {payout.party_b or 'none'}"
        )
    if not outcome.transaction_id:
        problems.append("M-Pesa reported success without a receipt")
    return problems


# ReasonType values that describe money paid IN to a shortcode: "Pay Bill", "Pay Bill Online", "Buy Goods",
# "Customer Paybill Payment", an STK ("... Online") or a deposit. "Business Pay Bill" (our money out to a
# paybill, a B2B rail) is not among them.
_INCOMING_REASON = re.compile(
    r"^\s*(?:customer\b|pay\s*bill|buy\s*goods|lipa\b|c2b\b)|\bonline\b|\bdeposit|\breversal", re.IGNORECASE
)


_SHORTCODE = re.compile(r"[0-9]{5,7}")


def _as_phone(number: str) -> str:
    try:
        return normalize_msisdn(number)
    except InvalidPhoneNumber:
        return ""


def _paid_to_phone(payout: Payout, outcome: Outcome) -> str:
    """The check of a mobile (B2C) payout: the credit party is the payout's phone. A party that names no
    phone (a paybill, a business, a masked number) proves nothing about who was paid."""
    phone = _as_phone(outcome.credit_party.phone)
    if not phone:
        return "The status answer names no phone number as the party paid"
    if phone != payout.phone:
        return "The status answer shows a different phone number paid than the payout names"
    return ""


def _paid_to_business(payout: Payout, outcome: Outcome) -> str:
    """The check of a paybill, till or top-up: the credit party is the business number the payout names
    (our own B2C shortcode for a top-up). A party that names no number proves nothing about who was paid."""
    number = outcome.credit_party.number
    if not number or outcome.credit_party.phone:
        return "The status answer names no business number as the party paid"
    if number != payout.party_b:
        return f"The status answer shows business number {number[:12]} paid, the payout names {payout.party_b}"
    return ""


# Who a payout pays, by what it names: a phone (mobile, Pochi) or a business number (paybill, till, and our
# own B2C shortcode for a top-up). A status answer's credit party is checked against it.
_CREDIT_PARTY_CHECKS: dict[str, Callable[[Payout, Outcome], str]] = {
    "phone": _paid_to_phone,
    "business": _paid_to_business,
}


def _payee_kind(payout: Payout) -> str:
    """What the payout names as its payee: a phone on the phone rails, else a business number (party_b)."""
    return "phone" if payout.rail in PHONE_RAILS else "business"


def _our_shortcodes() -> set[str]:
    """Every shortcode our money may leave from: B2C, and the B2B and top-up shortcodes of the other rails."""
    stored = DarajaCredentialSet.objects.exclude(b2c_shortcode="").values_list("b2c_shortcode", flat=True)
    configured = (settings.MPESA_B2C_SHORTCODE, settings.MPESA_B2B_SHORTCODE, settings.MPESA_TOPUP_FROM_SHORTCODE)
    return {code.strip() for code in (*configured, *stored) if code and code.strip()}


def _status_answer_problems(payout: Payout, outcome: Outcome) -> list[str]:
    """Why a "Completed" status answer does not prove THIS payout paid: it must show money leaving our shortcode
    (when it names the payer) to the payout's party, for a reason that is not money paid in, in the amount
    asked, under a receipt no incoming payment holds. Each problem names the fact, never a phone number."""
    problems = []
    if outcome.amount is None:
        problems.append("The status answer does not say how much was paid")
    debit = outcome.debit_party
    if debit.phone:
        problems.append("The status answer's payer (debit party) is a customer's phone: it describes money paid in")
    elif debit.number:
        ours = _our_shortcodes()
        if ours and debit.number not in ours:
            # Named only when shaped like a shortcode: a review reason travels in alerts, a phone must not.
            named = f" {debit.number}," if _SHORTCODE.fullmatch(debit.number) else ""
            problems.append(f"The status answer's payer (debit party) is{named} not our B2C shortcode")
    if _INCOMING_REASON.search(outcome.reason_type):
        problems.append(f'The status answer\'s ReasonType "{outcome.reason_type[:60]}" describes money paid in')
    payee_problem = _CREDIT_PARTY_CHECKS[_payee_kind(payout)](payout, outcome)
    if payee_problem:
        problems.append(payee_problem)
    if outcome.transaction_id:
        payment_id = Payment.objects.filter(receipt=outcome.transaction_id).values_list("pk", flat=True).first()
        if payment_id:
            problems.append(f"Receipt {outcome.transaction_id} is the receipt of incoming payment #{payment_id}")
    return problems


def _same_as_final(payout: Payout, outcome: Outcome) -> bool:
    if payout.status == PayoutStatus.COMPLETED:
        return outcome.succeeded and outcome.transaction_id in ("", payout.transaction_id)
    if payout.status == PayoutStatus.FAILED:
        return outcome.failed
    return False


def _receipt_elsewhere(payout: Payout, receipt: str) -> bool:
    """Whether another payout already holds this receipt (answered by the lock query when it was asked)."""
    if receipt and getattr(payout, "receipt_checked", "") == receipt:
        return payout.receipt_elsewhere
    return Payout.objects.filter(transaction_id=receipt).exclude(pk=payout.pk).exists()


def payout_settle(
    *,
    payout_id: int,
    outcome: Outcome,
    source: str,
    callback: DarajaCallback | None = None,
    locked: Payout | None = None,
) -> SettleResult:
    """Apply an outcome to a payout exactly once. Final states are never left.

    `locked`: the payout, when the caller already holds its row lock in the current transaction (a callback
    locks it first to check the result belongs to it); best locked with `payout_lock(receipt=...)`."""
    # Inside a caller's transaction no savepoint is needed: any error rolls the whole unit back.
    with transaction.atomic(savepoint=False):
        payout = locked if locked is not None else payout_lock(payout_id=payout_id, receipt=outcome.transaction_id)
        status = payout.status

        if status == PayoutStatus.FAILED and outcome.succeeded:
            return _success_after_failure(payout, outcome, source=source, callback=callback)
        settled = status in FINAL_STATUSES or (status == PayoutStatus.NEEDS_REVIEW and payout.transaction_id)
        if settled and outcome.klass == CodeClass.UNKNOWN:
            return SettleResult(
                CallbackOutcome.PROCESSED,
                changed=False,
                note=f"Result ({outcome.result_code}) proves no outcome; the payout stays {status}.",
            )

        if status in FINAL_STATUSES or (status == PayoutStatus.NEEDS_REVIEW and payout.transaction_id):
            if _same_as_final(payout, outcome) or (
                status == PayoutStatus.NEEDS_REVIEW and outcome.transaction_id == payout.transaction_id
            ):
                return SettleResult(CallbackOutcome.DUPLICATE, changed=False)
            return SettleResult(
                CallbackOutcome.PROCESSED,
                changed=False,
                mismatch=True,
                note=f"Result ({outcome.result_code}) contradicts the payout's {status} state; left unchanged.",
            )

        if status in (PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED):
            payout_transition(
                locked=payout,
                to_status=PayoutStatus.NEEDS_REVIEW,
                action=AuditAction.RESULT_FOR_UNSENT_PAYOUT,
                source=source,
                callback=callback,
                details={"result_code": outcome.result_code},
                fields={"review_reason": "A result arrived for a payout this system never sent."},
            )
            return SettleResult(CallbackOutcome.PROCESSED, changed=True, mismatch=True)

        # In flight, or in review only because nobody answered our status queries.
        assert status in IN_FLIGHT_STATUSES or status == PayoutStatus.NEEDS_REVIEW
        now = timezone.now()
        base_fields = {
            "result_code": truncate_to(Payout, "result_code", outcome.result_code),
            "result_description": truncate_to(Payout, "result_description", outcome.result_description),
        }
        if outcome.klass == CodeClass.UNKNOWN:
            return _unknown_outcome(payout, outcome, source=source, callback=callback, fields=base_fields)
        if outcome.from_status_query and payout.rail in _STATUS_ANSWER_CANNOT_PROVE:
            return _status_answer_unproven(payout, outcome, source=source, callback=callback, fields=base_fields)
        if outcome.failed:
            payout_transition(
                locked=payout,
                to_status=PayoutStatus.FAILED,
                action=AuditAction.FAILED,
                source=source,
                callback=callback,
                details={
                    "result_code": outcome.result_code,
                    "result_description": outcome.result_description,
                    "namespace": outcome.namespace,
                },
                fields={**base_fields, "completed_at": now},
            )
            operator_answer_record(set_id=payout.sent_with_id, code=outcome.result_code,
                                   namespace=outcome.namespace, succeeded=False, payout=payout, source=source)
            return SettleResult(CallbackOutcome.PROCESSED, changed=True)

        if outcome.amount is None and not outcome.from_status_query:
            # A success that does not say how much (in its own rail's key) proves a receipt, not this payment.
            return _unknown_outcome(
                payout,
                outcome,
                source=source,
                callback=callback,
                fields=base_fields,
                note="A success result without an amount we can read does not prove what was paid; a "
                "Transaction Status query settles the payout.",
            )
        problems = _disagreements(payout, outcome)
        receipt = outcome.transaction_id or None
        if receipt and _receipt_elsewhere(payout, receipt):
            problems.append(f"Receipt {receipt} is already recorded on another payout")
            receipt = None
        if outcome.from_status_query and problems:
            # The answer may describe another transaction: its receipt is not pinned on this payout, so a
            # later result that does prove it can still settle the payout.
            receipt = None
        success_fields = {
            **base_fields,
            "transaction_id": receipt,
            "receiver_name": truncate_to(Payout, "receiver_name", outcome.receiver_name),
            "mpesa_completed_at": outcome.completed_at,
        }
        if outcome.charge is not None and not (outcome.from_status_query and problems):
            # A status answer's charges only when it proved the payout (its receipt is not pinned otherwise).
            success_fields["charge"] = outcome.charge
        if problems:
            payout_transition(
                locked=payout,
                to_status=PayoutStatus.NEEDS_REVIEW,
                action=AuditAction.RESULT_MISMATCH,
                source=source,
                callback=callback,
                details={"problems": problems, "transaction_id": outcome.transaction_id},
                fields={**success_fields, "review_reason": "; ".join(problems)},
            )
            return SettleResult(CallbackOutcome.PROCESSED, changed=True, mismatch=True, note="; ".join(problems))

        payout_transition(
            locked=payout,
            to_status=PayoutStatus.COMPLETED,
            action=AuditAction.COMPLETED,
            source=source,
            callback=callback,
            details={"transaction_id": receipt},
            fields={**success_fields, "completed_at": now},
        )
        operator_answer_record(set_id=payout.sent_with_id, code=outcome.result_code, namespace=outcome.namespace,
                               succeeded=True, payout=payout, source=source)
        return SettleResult(CallbackOutcome.PROCESSED, changed=True)


# Rails whose Transaction Status answer cannot prove how the payout ended, and why: a person looks instead.
_STATUS_ANSWER_CANNOT_PROVE = {
    PayoutRail.REVERSAL: (
        "A Transaction Status answer cannot prove a reversal: it does not name the payment given back "
        "(OriginalTransactionID), only the reversal's own result does. Check the reversal of the payment's receipt "
        "in the M-Pesa org portal"
    ),
}


def _status_answer_unproven(
    payout: Payout, outcome: Outcome, *, source: str, callback: DarajaCallback | None, fields: dict
) -> SettleResult:
    """A final status answer (Completed or Failed) for a rail whose answers prove nothing: `needs_review` with
    the reason and what the answer said; nothing failed, no receipt pinned, no charge posted."""
    said = "completed" if outcome.succeeded else "failed"
    receipt = f", receipt {outcome.transaction_id}" if outcome.transaction_id else ""
    reason = f"{_STATUS_ANSWER_CANNOT_PROVE[payout.rail]} (the answer reports it {said}{receipt})."
    payout_transition(
        locked=payout,
        to_status=PayoutStatus.NEEDS_REVIEW,
        action=AuditAction.RESULT_MISMATCH,
        source=source,
        callback=callback,
        details={"problems": [reason], "transaction_id": outcome.transaction_id},
        fields={**fields, "review_reason": reason},
    )
    return SettleResult(CallbackOutcome.PROCESSED, changed=True, mismatch=True, note=reason)


def _unknown_outcome(
    payout: Payout,
    outcome: Outcome,
    *,
    source: str,
    callback: DarajaCallback | None,
    fields: dict,
    note: str = "",
) -> SettleResult:
    """A code that proves nothing (15, 17, 26, 1037, any code the catalogue does not hold), or a success that
    does not say how much: the money may have moved. The payout waits in `verifying` for a Transaction Status
    query; a refund keeps its reservation."""
    info = classify(outcome.namespace, outcome.result_code)
    note = note or (
        f"Result {outcome.result_code or '-'} ({info.meaning}) does not prove whether money moved; "
        "a Transaction Status query settles the payout."
    )
    details = {"result_code": outcome.result_code, "result_description": outcome.result_description, "note": note}
    if outcome.transaction_id:
        details["transaction_id"] = outcome.transaction_id
    if payout.status in (PayoutStatus.SENDING, PayoutStatus.SUBMITTED):
        payout_transition(
            locked=payout,
            to_status=PayoutStatus.VERIFYING,
            action=AuditAction.RESULT_UNKNOWN,
            source=source,
            callback=callback,
            details=details,
            fields=fields,
        )
        return SettleResult(CallbackOutcome.PROCESSED, changed=True, note=note)
    # Already verifying (or in review): recorded, never silently dropped; the status query still decides.
    event_record(
        action=AuditAction.RESULT_UNKNOWN,
        source=source,
        payout=payout,
        from_status=payout.status,
        to_status=payout.status,
        details=details,
        callback=callback,
    )
    return SettleResult(CallbackOutcome.PROCESSED, changed=False, note=note)


def _success_after_failure(
    payout: Payout, outcome: Outcome, *, source: str, callback: DarajaCallback | None
) -> SettleResult:
    """M-Pesa says it paid a payout recorded as failed. A person must look; a refund takes its amount off
    the payment's refundable remainder again, unless another refund has used it meanwhile (then the reason
    says so: the customer may have been paid twice)."""
    receipt = outcome.transaction_id or None
    problems = [
        f"M-Pesa reports this payout paid (receipt {outcome.transaction_id or 'none'}) after it was recorded "
        f"failed (code {payout.result_code or '-'})"
    ]
    if receipt and _receipt_elsewhere(payout, receipt):
        problems.append(f"Receipt {receipt} is already recorded on another payout")
        receipt = None
    for retry_id, retry_status in Payout.objects.filter(retry_of=payout).values_list("pk", "status"):
        # Requested again after the failure: the recipient may now be paid twice.
        problems.append(f"PAID TWICE? It was requested again as payout #{retry_id}, which is {retry_status}")
    fields: dict = {
        "result_code": truncate_to(Payout, "result_code", outcome.result_code),
        "result_description": truncate_to(Payout, "result_description", outcome.result_description),
        "transaction_id": receipt,
        "receiver_name": truncate_to(Payout, "receiver_name", outcome.receiver_name),
        "mpesa_completed_at": outcome.completed_at,
    }
    if payout.payment_id:
        payment = payment_lock(payment_id=payout.payment_id)
        try:
            reserve_refund(payment, payout.amount)
            problems.append(f"KES {payout.amount} is reserved on payment #{payment.pk} again")
        except RefundNotReservable:
            fields["refund_unreserved"] = True
            problems.append(
                f"OVER-REFUND: KES {payout.amount} cannot be reserved on payment #{payment.pk} again: KES "
                f"{payment.refunded_amount} of its KES {payment.amount} is already refunded or reserved by other "
                "refunds, so the customer may have been refunded more than they paid"
            )
    reason = "; ".join(problems) + "."
    fields["review_reason"] = reason
    payout_transition(
        locked=payout,
        to_status=PayoutStatus.NEEDS_REVIEW,
        action=AuditAction.SUCCESS_AFTER_FAILURE,
        source=source,
        callback=callback,
        details={"problems": problems, "transaction_id": outcome.transaction_id},
        fields=fields,
    )
    _hold_unsent_retries(payout, source=source, callback=callback)
    return SettleResult(CallbackOutcome.PROCESSED, changed=True, mismatch=True, note=reason)


def _hold_unsent_retries(payout: Payout, *, source: str, callback: DarajaCallback | None) -> None:
    """Every request again of `payout` not yet sent waits with the reason on its page (the send-time check
    holds it too, and keeps holding while the original stands paid or in review). Its approvals stay: if the
    review finds the original not paid, the retry goes as approved, else an approver rejects it."""
    reason = retry_hold_reason(original_id=payout.pk, original_status=payout.status)
    unsent = Payout.objects.filter(
        retry_of=payout, status__in=[PayoutStatus.PENDING_APPROVAL, PayoutStatus.APPROVED]
    ).exclude(hold_reason=reason)
    for retry in unsent.select_for_update().order_by("pk"):
        retry.hold_reason = reason
        retry.save(update_fields=["hold_reason", "updated_at"])
        event_record(action=AuditAction.HELD, source=source, payout=retry, from_status=retry.status,
                     to_status=retry.status, details={"reason": reason, "retry_of": payout.pk}, callback=callback)


def float_record(
    *, utility_available: Decimal | None, source: str, working_available: Decimal | None = None, callback=None
) -> FloatBalance:
    balance = FloatBalance.objects.create(
        utility_available=utility_available,
        working_available=working_available,
        source=source,
        callback=callback,
    )
    if utility_available is not None:
        # The low-balance alert and the ledger's float check are about the Utility Account only.
        float_updated.send(sender=FloatBalance, balance=balance)
    return balance


__all__ = ["Outcome", "SettleResult", "payout_settle", "float_record", "FloatSource"]
