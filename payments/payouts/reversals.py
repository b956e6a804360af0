"""Reversal: giving a received C2B or STK payment back to its payer (the Reversal API, `rail` `reversal`).

A reversal is a payout that names the payment it gives back; its amount is the payment's whole amount (the API
takes back the whole transaction). It is requested here and then goes through the same lifecycle as every
payout: four eyes and the second factor at approval, the claim before its one request leaves (dispatch.py),
no caller id (sending.py: the answer's ids are stored, a lost answer waits for the result or a person), and its
result through `payout_settle()` (payments/callbacks/handlers/reversal.py). The payment's whole amount is
reserved (`reserve_refund`) while the reversal is requested or in flight, so no refund can take any of it; a
failure or rejection gives it back (the lifecycle door's release). A completed reversal moves the payment to
`reversed` through the payment's own door (the payout door's `_in_transaction`, whoever completed it).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction

from core.errors import InvalidState, PayoutError, PermissionDenied
from core.field_widths import truncate_to
from core.money import kes
from payments.incoming.refunds import payment_lock, reserve_refund
from payments.models import (
    RELEASED_STATUSES,
    EventSource,
    Payment,
    PaymentSource,
    PaymentStatus,
    Payout,
    PayoutKind,
    PayoutRail,
    PayoutStatus,
)
from payments.payouts.approval_rules import approval_source, rule_fields
from payments.payouts.lifecycle import payout_created
from payments.payouts.rails import command_id_for
from payments.roles import REQUEST_PERMISSION

_SHORTCODE = re.compile(r"^[0-9]{5,7}$")


def receiving_shortcode(payment: Payment) -> str:
    """The shortcode that received `payment` (the Reversal's ReceiverParty): the STK push's BusinessShortCode,
    or the C2B shortcode (the one Pull asks about)."""
    if payment.source == PaymentSource.STK_PUSH:
        return settings.MPESA_SHORTCODE
    return settings.MPESA_PULL_SHORTCODE or settings.MPESA_SHORTCODE


def live_reversal(payment_id: int) -> Payout | None:
    """The payment's reversal that is requested, in flight, in review or done (not failed or rejected)."""
    return (
        Payout.objects.filter(payment_id=payment_id, rail=PayoutRail.REVERSAL)
        .exclude(status__in=RELEASED_STATUSES)
        .order_by("pk")
        .first()
    )


def reversal_refusal(payment: Payment) -> str:
    """Why `payment` cannot be reversed now ("" when it can). The caller holds the payment's row lock."""
    if payment.status == PaymentStatus.REVERSED:
        return f"Payment {payment.receipt or payment.pk} is already reversed."
    if payment.status != PaymentStatus.COMPLETED:
        return f"Only a completed payment can be reversed; this one is {payment.status}."
    if not payment.receipt:
        return "This payment has no M-Pesa receipt: the Reversal API names the transaction by its receipt."
    reversal = live_reversal(payment.pk)
    if reversal is not None:
        return f"This payment already has a reversal, payout #{reversal.pk} ({reversal.status})."
    if payment.refunded_amount > 0 or payment.refunds.filter(status=PayoutStatus.COMPLETED).exists():
        return (
            f"{kes(payment.refunded_amount)} of this payment is refunded or reserved by refunds: a reversal takes "
            "back the whole transaction, so it cannot be reversed."
        )
    if payment.amount != payment.amount.to_integral_value():
        return "M-Pesa reverses whole shillings only; this payment's amount has cents."
    shortcode = receiving_shortcode(payment)
    if not _SHORTCODE.match(shortcode or ""):
        return "The shortcode that received this payment is not configured (MPESA_SHORTCODE): nothing to reverse from."
    return ""


def refund_refusal_for_reversal(payment_id: int) -> str:
    """Why a refund of the payment is refused because of a reversal ("" when none is requested, in flight or
    done)."""
    reversal = live_reversal(payment_id)
    if reversal is None:
        return ""
    if reversal.status == PayoutStatus.COMPLETED:
        return f"This payment was reversed (payout #{reversal.pk}): nothing is left to refund."
    return f"This payment has a reversal in progress (payout #{reversal.pk}, {reversal.status}): it cannot be refunded."


def payment_reverse(*, payment_id: int, requested_by, reason: str, source: str = EventSource.API) -> Payout:
    """Request the reversal of a completed payment: a payout on the `reversal` rail for its whole amount,
    waiting for another person's approval. Refused (InvalidState, 409, nothing written) for a payment that
    is not completed, has no receipt, is reversed or being reversed, or has any refund reserved or paid."""
    if requested_by is None or not requested_by.is_active or not requested_by.has_perm(REQUEST_PERMISSION):
        raise PermissionDenied("You do not have permission to request reversals.")
    reason = (reason or "").strip()
    if not 3 <= len(reason) <= 500:
        raise PayoutError("Reason must have 3 to 500 characters.", code="text")
    with transaction.atomic():
        payment = payment_lock(payment_id=payment_id)
        refusal = reversal_refusal(payment)
        if refusal:
            raise InvalidState(refusal, code="not_reversible")
        reserve_refund(payment, payment.amount)  # no refund may take any of it while the reversal stands
        payout = Payout.objects.create(
            kind=PayoutKind.REFUND,
            rail=PayoutRail.REVERSAL,
            payment=payment,
            party_b=receiving_shortcode(payment),
            amount=payment.amount,
            command_id=command_id_for(PayoutRail.REVERSAL, None),
            remarks=truncate_to(Payout, "remarks", f"Reversal of {payment.receipt}"),
            reason=reason,
            recipient_name=payment.payer_name,
            recipient_type="customer",
            recipient_reference=payment.receipt,
            requested_by=requested_by,
            **rule_fields(amount=payment.amount, rail=PayoutRail.REVERSAL, source=approval_source(source=source)),
        )
        payout_created(payout=payout, actor=requested_by, source=source,
                       details={"amount": str(payment.amount), "payment": payment.pk, "rail": PayoutRail.REVERSAL})
    return payout


def already_reversed_mark(receipt: str) -> str:
    """What a reversal completed by R000001 records in place of a receipt (it has none of its own): never an
    M-Pesa receipt (those are letters and digits only), unique per payment."""
    return f"R000001-{receipt}"


# What a reversal completed by R000001 says on its page (its result description) and in its event.
ALREADY_REVERSED_NOTE = (
    "Already reversed (R000001): the money is back with the customer. No new receipt: the earlier reversal's "
    "is on the M-Pesa statement."
)


__all__ = [
    "ALREADY_REVERSED_NOTE", "already_reversed_mark", "live_reversal", "payment_reverse", "receiving_shortcode",
    "refund_refusal_for_reversal", "reversal_refusal",
]
