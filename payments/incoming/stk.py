"""STK push: asking a customer to pay (the request, its push sent at most once) and the customer's answer (the
callback). Every status change goes through payment_transition()."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.field_widths import truncate_to
from daraja.errors import DarajaError
from mpesa_payouts.celery import publish_now
from mpesa_payouts.effects import after_commit
from payments.callbacks.tokens import static_url
from payments.daraja_client import daraja_client
from payments.incoming.lifecycle import INITIAL_STATUS, Settled, payment_transition
from payments.models import AuditAction, CallbackOutcome, DarajaCallback, EventSource, Payment, PaymentSource
from payments.models import PaymentStatus as S
from payments.selectors import stk_push_unanswered
from payments.tasks import send_stk_push as send_stk_push_task

logger = logging.getLogger(__name__)

# How long after its push was claimed a callback may still be matched to a payment by phone and amount (an STK
# prompt expires within a couple of minutes; the callback follows).
STK_LOST_ANSWER_WINDOW = timedelta(minutes=15)


def payment_stk_push_request(
    *, phone: str, amount: Decimal, account_reference: str, description: str = ""
) -> Payment:
    """Ask a customer to pay by STK push: a pending payment (settled by its callback), whose push a worker
    sends after commit. If the broker is down the answer does not wait on it: the payment stays pending
    with no push sent, and the failure is logged."""
    with transaction.atomic():
        payment = Payment.objects.create(
            source=PaymentSource.STK_PUSH, status=INITIAL_STATUS, phone=phone, amount=amount,
            account_reference=account_reference, description=description,
        )  # fmt: skip
        after_commit(lambda: _queue_stk_push(payment.pk))
    return payment


def _queue_stk_push(payment_id: int) -> None:
    try:
        publish_now(send_stk_push_task, payment_id)
    except Exception as exc:  # noqa: BLE001 - kombu/redis errors of every kind
        logger.warning("could not queue the STK push of payment %s (%s); it stays pending", payment_id,
                       type(exc).__name__)  # fmt: skip


def payment_stk_push_send(*, payment_id: int) -> str:
    """Send the STK push for a pending payment created by the API, at most once; its callback settles the
    payment. The payment is claimed (`push_sent_at`, committed) before the request leaves, so a task that runs
    again sends nothing. Only an answer that proves M-Pesa never got the request fails the payment. When the
    outcome is unknown (a read timeout, a 5xx) the customer may have been prompted and may pay: the payment
    stays pending with the error on it, a `push_outcome_unknown` event, and a place among the discrepancies,
    for a person to settle against the statement (without a CheckoutRequestID no STK query can ask), unless a
    success callback that fits it alone arrives (_stk_push_whose_answer_was_lost). A claim with no answer
    recorded (the worker stopped mid-request) is listed the same way once the timeouts have passed."""
    client = daraja_client()  # before the claim: a configuration it cannot read leaves the payment sendable
    claimed = Payment.objects.filter(
        pk=payment_id, status=S.PENDING, push_sent_at__isnull=True, checkout_request_id__isnull=True
    ).update(push_sent_at=timezone.now())
    if not claimed:
        return "skipped"
    payment = Payment.objects.get(pk=payment_id)
    try:
        accepted = client.stk_push(
            phone=payment.phone,
            amount=payment.amount,
            account_reference=payment.account_reference,
            description=payment.description or payment.account_reference,
            callback_url=static_url("stk"),
        )
    except DarajaError as exc:
        return _stk_push_not_accepted(payment, exc)
    recorded = Payment.objects.filter(pk=payment.pk, checkout_request_id__isnull=True).update(
        checkout_request_id=accepted.checkout_request_id, merchant_request_id=accepted.merchant_request_id
    )
    if not recorded:
        logger.warning("STK push of payment %s: a callback was matched to it before its answer came", payment.pk)
    return "sent"


def _stk_push_not_accepted(payment: Payment, exc: DarajaError) -> str:
    unknown = exc.may_have_been_processed
    moved = payment_transition(
        action=AuditAction.PUSH_OUTCOME_UNKNOWN if unknown else AuditAction.PAYMENT_FAILED,
        to_status=S.PENDING if unknown else S.FAILED,
        source=EventSource.TASK,
        payment_id=payment.pk,
        details={"code": exc.code, "message": exc.message},
        fields={
            "result_code": truncate_to(Payment, "result_code", exc.code),
            "result_description": truncate_to(Payment, "result_description", exc.message),
        },
    )
    if moved is None:  # its callback came first and settled it
        return "skipped"
    if unknown:
        logger.warning("STK push of payment %s: outcome unknown (%s); it stays pending for a person",
                       payment.pk, exc.code)  # fmt: skip
    return "unknown" if unknown else "failed"


def stk_answer_record(*, callback: DarajaCallback, result) -> Settled:
    """The customer's answer to a push (a parsed STK callback) applied to its payment, in the callback's
    transaction."""
    payment, matched_by = _payment_answered(callback, result)
    if payment is None:
        return Settled(CallbackOutcome.UNMATCHED, message="Accepted (no payment with that CheckoutRequestID)")
    callback.payment = payment
    if payment.status != S.PENDING:
        return Settled(CallbackOutcome.DUPLICATE)
    fields = {
        "result_code": truncate_to(Payment, "result_code", result.result_code),
        "result_description": result.result_description,
    }
    if matched_by:  # the ids its push's lost answer would have given
        fields.update(checkout_request_id=result.checkout_request_id,
                      merchant_request_id=truncate_to(Payment, "merchant_request_id", result.merchant_request_id))
    if result.code_info.is_unknown:
        # A code the STK table does not hold: the customer may or may not have paid. The payment stays
        # pending (nothing can be refunded from it) with the code on it, for a person or a later callback.
        payment_transition(
            action=AuditAction.PAYMENT_RESULT_UNKNOWN, to_status=S.PENDING, source=EventSource.CALLBACK,
            locked=payment, callback=callback, fields=fields,
            details={"result_code": result.result_code, "result_description": result.result_description},
        )  # fmt: skip
        return Settled(
            CallbackOutcome.PROCESSED,
            message=f"STK ResultCode {result.result_code} is not in the catalogue; the payment stays pending",
        )
    mismatch = False
    if result.succeeded:
        if Payment.objects.filter(receipt=result.receipt).exclude(pk=payment.pk).exists():
            return Settled(CallbackOutcome.DUPLICATE, message="Receipt already recorded", mismatch=True)
        mismatch = result.amount != payment.amount
        # What actually arrived is what can be refunded.
        fields.update(receipt=result.receipt, amount=result.amount, transaction_time=result.transaction_date)
    payment_transition(
        action=AuditAction.PAYMENT_COMPLETED if result.succeeded else AuditAction.PAYMENT_FAILED,
        to_status=S.COMPLETED if result.succeeded else S.FAILED,
        source=EventSource.CALLBACK,
        locked=payment,
        callback=callback,
        fields=fields,
        details={"result_code": result.result_code, "receipt": result.receipt,
                 **({"matched_by": matched_by} if matched_by else {})},
    )  # fmt: skip
    return Settled(CallbackOutcome.PROCESSED, mismatch=mismatch)


def _payment_answered(callback: DarajaCallback, result) -> tuple[Payment | None, str]:
    """The payment (locked) a callback answers, by its CheckoutRequestID or, when its push's answer was lost,
    by phone and amount (then with why, for its event)."""
    checkout = Payment.objects.select_for_update().filter(checkout_request_id=result.checkout_request_id)
    payment = checkout.first()
    if payment is not None:
        return payment, ""
    payment = _stk_push_whose_answer_was_lost(callback, result)
    if payment is not None:
        return payment, "phone and amount: the answer to its push was lost, so its CheckoutRequestID was not known"
    # The same callback delivered twice at once: the second waited on the first's lock, which has now linked
    # the payment to this CheckoutRequestID. Look again, so it is a duplicate, not unmatched.
    return checkout.first(), ""


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
