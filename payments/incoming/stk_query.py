"""STK pushes that never heard back: asking M-Pesa (STK Push Query) about each push still `pending`
STK_QUERY_AFTER_MINUTES after it was sent, at most STK_MAX_QUERIES times.

What an answer does (daraja/money_in.py classifies it):
- a code proving the customer did not pay (1032, 1037, 2001, 1, 1019, 1025, 9999): the payment fails with that
  reason, through the payment door;
- 0 (paid): the answer holds no receipt, so the payment stays `pending`, marked "M-Pesa says paid, receipt
  awaited" (`stk_query_paid`), until its callback, the Pull or the statement supplies the receipt;
- a throttle (500.003.02): asked again after STK_QUERY_THROTTLE_SECONDS, and this pass stops (never a tight
  loop); it does not count as a query;
- anything else: it stays pending and is asked again STK_QUERY_AFTER_MINUTES later.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.field_widths import truncate_to
from daraja.money_in import StkQueryAnswer, StkQueryOutcome, stk_query
from payments.daraja_client import daraja_client
from payments.incoming.lifecycle import payment_transition
from payments.incoming.refunds import payment_lock
from payments.models import AuditAction, EventSource, Payment, PaymentSource
from payments.models import PaymentStatus as S

PAID_RECEIPT_AWAITED = "M-Pesa says paid, receipt awaited"
PASS_LIMIT = 200  # pushes asked about in one pass; the rest wait for the next


def stk_pushes_due(now: datetime):
    """Pending pushes whose request was accepted (a CheckoutRequestID) STK_QUERY_AFTER_MINUTES ago or more, not
    yet said paid, asked fewer than STK_MAX_QUERIES times, and not waiting out a throttle."""
    sent_before = now - timedelta(minutes=settings.STK_QUERY_AFTER_MINUTES)
    return (
        Payment.objects.filter(
            source=PaymentSource.STK_PUSH, status=S.PENDING, checkout_request_id__isnull=False,
            push_sent_at__lte=sent_before, stk_said_paid_at__isnull=True, stk_queries__lt=settings.STK_MAX_QUERIES,
        )
        .filter(Q(stk_next_query_at__isnull=True) | Q(stk_next_query_at__lte=now))
        .order_by("push_sent_at", "id")
    )  # fmt: skip


def stk_pushes_query() -> dict[str, int]:
    """One pass: each due push asked about once. Counts by what happened ("failed", "paid", "pending",
    "throttled", "skipped")."""
    now = timezone.now()
    due = list(stk_pushes_due(now).values_list("pk", "checkout_request_id")[:PASS_LIMIT])
    counts: Counter[str] = Counter()
    if not due:
        return {}
    client = daraja_client()
    for payment_id, checkout_request_id in due:
        answer = stk_query(client, checkout_request_id=checkout_request_id)
        counts[stk_query_answer_apply(payment_id=payment_id, answer=answer, now=now)] += 1
        if answer.outcome == StkQueryOutcome.RETRY_LATER:
            break  # Daraja is throttling us: the others wait for the next pass
    return dict(counts)


def stk_query_answer_apply(*, payment_id: int, answer: StkQueryAnswer, now: datetime) -> str:
    """What one query's answer does to its payment, under the payment's row lock."""
    with transaction.atomic():
        payment = payment_lock(payment_id=payment_id)
        if payment.status != S.PENDING or payment.stk_said_paid_at is not None:
            return "skipped"  # its callback (or another pass) settled it meanwhile
        asked = {"stk_queries": payment.stk_queries + 1}
        details = {"result_code": answer.result_code, "result_description": answer.result_description,
                   "query": payment.stk_queries + 1}  # fmt: skip
        if answer.outcome == StkQueryOutcome.FAILED:
            reason = truncate_to(Payment, "result_description", answer.reason or answer.result_description)
            fields = {**asked, "result_code": truncate_to(Payment, "result_code", answer.result_code),
                      "result_description": reason}  # fmt: skip
            payment_transition(action=AuditAction.PAYMENT_FAILED, to_status=S.FAILED, source=EventSource.TASK,
                               locked=payment, details={**details, "reason": reason}, fields=fields)  # fmt: skip
            return "failed"
        if answer.outcome == StkQueryOutcome.PAID:
            fields = {**asked, "stk_said_paid_at": now, "result_description": PAID_RECEIPT_AWAITED}
            payment_transition(action=AuditAction.STK_QUERY_PAID, to_status=S.PENDING, source=EventSource.TASK,
                               locked=payment, details=details, fields=fields)  # fmt: skip
            return "paid"
        if answer.outcome == StkQueryOutcome.RETRY_LATER:
            payment.stk_next_query_at = now + timedelta(seconds=settings.STK_QUERY_THROTTLE_SECONDS)
            payment.save(update_fields=["stk_next_query_at", "updated_at"])
            return "throttled"
        payment.stk_queries = asked["stk_queries"]
        payment.stk_next_query_at = now + timedelta(minutes=settings.STK_QUERY_AFTER_MINUTES)
        payment.save(update_fields=["stk_queries", "stk_next_query_at", "updated_at"])
        return "pending"
