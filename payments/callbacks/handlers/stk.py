"""STK push callbacks: the customer's answer to a payment prompt we sent."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from core.field_widths import truncate_to
from daraja import callbacks as parse
from ledger.services.money import payment_received_post
from payments.audit_events import event_record
from payments.callbacks.handlers.common import SOURCE, Handled, link
from payments.models import AuditAction, CallbackOutcome, DarajaCallback, Payment, PaymentStatus
from payments.selectors import stk_push_unanswered
from payments.signals import payment_received
from webhooks.services.events import payment_received_webhook


def stk_result(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    result = parse.parse_stk_callback(data)
    link(
        callback,
        transaction_id=truncate_to(DarajaCallback, "transaction_id", result.receipt),
        result_code=truncate_to(DarajaCallback, "result_code", result.result_code),
    )
    checkout = Payment.objects.select_for_update().filter(checkout_request_id=result.checkout_request_id)
    payment = checkout.first()
    matched_by = ""
    if payment is None:
        payment = _stk_push_whose_answer_was_lost(callback, result)
        if payment is not None:
            payment.checkout_request_id = result.checkout_request_id
            payment.merchant_request_id = truncate_to(Payment, "merchant_request_id", result.merchant_request_id)
            matched_by = "phone and amount: the answer to its push was lost, so its CheckoutRequestID was not known"
        else:
            # The same callback delivered twice at once: the second waited on the first's lock, which has now
            # linked the payment to this CheckoutRequestID. Look again, so it is a duplicate, not unmatched.
            payment = checkout.first()
        if payment is None:
            return Handled(CallbackOutcome.UNMATCHED, message="Accepted (no payment with that CheckoutRequestID)")
    callback.payment = payment
    if payment.status != PaymentStatus.PENDING:
        return Handled(CallbackOutcome.DUPLICATE)
    old = payment.status
    payment.result_code = truncate_to(Payment, "result_code", result.result_code)
    payment.result_description = result.result_description
    if result.code_info.is_unknown:
        # A code the STK table does not hold: the customer may or may not have paid. The payment stays
        # pending (nothing can be refunded from it) with the code on it, for a person or a later callback.
        payment.save(update_fields=["result_code", "result_description", "updated_at"])
        event_record(
            action=AuditAction.PAYMENT_RESULT_UNKNOWN,
            source=SOURCE,
            payment=payment,
            from_status=old,
            to_status=old,
            callback=callback,
            details={"result_code": result.result_code, "result_description": result.result_description},
        )
        return Handled(
            CallbackOutcome.PROCESSED,
            message=f"STK ResultCode {result.result_code} is not in the catalogue; the payment stays pending",
        )
    mismatch = False
    if result.succeeded:
        if Payment.objects.filter(receipt=result.receipt).exclude(pk=payment.pk).exists():
            return Handled(CallbackOutcome.DUPLICATE, message="Receipt already recorded", mismatch=True)
        mismatch = result.amount != payment.amount
        payment.status = PaymentStatus.COMPLETED
        payment.receipt = result.receipt
        payment.amount = result.amount  # what actually arrived is what can be refunded
        payment.transaction_time = result.transaction_date
    else:
        payment.status = PaymentStatus.FAILED
    payment.save()
    event = event_record(
        action=AuditAction.PAYMENT_COMPLETED if result.succeeded else AuditAction.PAYMENT_FAILED,
        source=SOURCE,
        payment=payment,
        from_status=old,
        to_status=payment.status,
        callback=callback,
        details={
            "result_code": result.result_code,
            "receipt": result.receipt,
            **({"matched_by": matched_by} if matched_by else {}),
        },  # fmt: skip
    )
    if result.succeeded:
        payment_received_post(payment=payment)
        payment_received.send(sender=Payment, payment=payment, event=event)
        payment_received_webhook(payment=payment)  # never raises
    return Handled(CallbackOutcome.PROCESSED, mismatch=mismatch)


# How long after its push was claimed a callback may still be matched to a payment by phone and amount (an STK
# prompt expires within a couple of minutes; the callback follows).
STK_LOST_ANSWER_WINDOW = timedelta(minutes=15)


def _stk_push_whose_answer_was_lost(callback: DarajaCallback, result) -> Payment | None:
    """The payment a successful STK callback with an unknown CheckoutRequestID belongs to, when its push's
    answer never gave us that id (selectors.stk_push_unanswered: the outcome was unknown, or no answer was
    recorded): exactly one such payment, pushed in the window before the callback arrived, for the same phone
    and amount. A push still waiting for its answer is not a candidate. Two candidates, a masked phone or a
    callback that is not a success (it carries no phone or amount): unmatched, for a person."""
    if not result.succeeded or not result.phone.isdigit() or result.amount is None:
        return None
    arrived = callback.received_at or timezone.now()
    candidates = list(
        Payment.objects.select_for_update().filter(
            stk_push_unanswered(arrived), push_sent_at__gte=arrived - STK_LOST_ANSWER_WINDOW,
            phone=result.phone, amount=result.amount,
        )[:2]
    )  # fmt: skip
    return candidates[0] if len(candidates) == 1 else None
