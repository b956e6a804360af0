"""Sending payouts exactly once, and finding out what happened to the ones whose outcome is unknown.

The send claims the payout by a conditional update (`approved` -> `sending`) committed before the request
leaves, so a second delivery of the task, a second worker, or a crash and redelivery finds it no longer
`approved` and does nothing. After the claim, only an answer that proves M-Pesa did not receive the
request returns it to `approved` for another try; anything else that is not an acceptance is `verifying`,
settled by a Transaction Status query. No path here resends a B2C request whose outcome is unknown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from payments.callbacks.tokens import payout_urls, static_url
from payments.daraja.errors import DarajaError, DarajaNotSent, DarajaOutcomeUnknown
from payments.models import EventSource, Payment, PaymentStatus, Payout, PayoutStatus
from payments.phone import mask_msisdn
from payments.services.daraja import daraja_client
from payments.services.events import event_record, payout_lock, payout_set_status, payout_transition
from payments.services.limits import send_hold_reason

logger = logging.getLogger(__name__)

SOURCE = EventSource.TASK
MAX_SEND_ATTEMPTS = 5


@dataclass(frozen=True)
class SendResult:
    outcome: str  # submitted | held | retry | failed | verifying | skipped
    retry_in: int | None = None


def _approvals_still_bound(payout: Payout) -> bool:
    """Every active approval must be for exactly what is about to be sent."""
    approvals = list(payout.approvals.filter(voided_at__isnull=True))
    if not approvals:
        return False
    return all(
        (a.amount, a.phone, a.command_id) == (payout.amount, payout.phone, payout.command_id) for a in approvals
    )


def _claim(payout_id: int) -> Payout | SendResult:
    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status != PayoutStatus.APPROVED:
            return SendResult("skipped")
        if not _approvals_still_bound(payout):
            payout_set_status(
                payout=payout,
                to_status=PayoutStatus.PENDING_APPROVAL,
                action="approval_voided",
                source=SOURCE,
                details={"reason": "approvals do not match the payout"},
            )
            return SendResult("skipped")
        reason = send_hold_reason(payout)
        if reason:
            if reason != payout.hold_reason:
                payout.hold_reason = reason
                payout.save(update_fields=["hold_reason", "updated_at"])
                event_record(action="held", source=SOURCE, payout=payout, from_status=payout.status,
                             to_status=payout.status, details={"reason": reason})
            return SendResult("held")
        payout_set_status(
            payout=payout,
            to_status=PayoutStatus.SENDING,
            action="sending",
            source=SOURCE,
            details={"attempt": payout.send_attempts + 1},
            fields={"hold_reason": "", "send_attempts": payout.send_attempts + 1},
        )
        return payout


def payout_send(*, payout_id: int) -> SendResult:
    claimed = _claim(payout_id)
    if isinstance(claimed, SendResult):
        return claimed
    payout = claimed
    urls = payout_urls(payout.callback_token)
    try:
        accepted = daraja_client().b2c_payment(
            originator_conversation_id=payout.originator_conversation_id,
            command_id=payout.command_id,
            amount=payout.amount,
            phone=payout.phone,
            remarks=payout.remarks,
            occasion=payout.occasion,
            result_url=urls["b2c-result"],
            timeout_url=urls["b2c-timeout"],
        )
    except DarajaNotSent as exc:
        return _not_sent(payout, exc)
    except DarajaOutcomeUnknown as exc:
        _unknown(payout, code=exc.code, message=exc.message)
        return SendResult("verifying")
    except Exception as exc:  # noqa: BLE001 - we cannot know whether it left: find out, never resend
        logger.exception("unexpected error sending payout %s", payout.pk)
        _unknown(payout, code="internal_error", message=exc.__class__.__name__)
        return SendResult("verifying")

    moved = payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SENDING],
        to_status=PayoutStatus.SUBMITTED,
        action="submitted",
        source=SOURCE,
        details={"conversation_id": accepted.conversation_id},
        fields={"conversation_id": accepted.conversation_id[:64], "submitted_at": timezone.now()},
    )
    if moved is None:
        # The result callback beat us: keep the ConversationID and the time it left.
        Payout.objects.filter(pk=payout.pk, conversation_id="").update(conversation_id=accepted.conversation_id[:64])
        Payout.objects.filter(pk=payout.pk, submitted_at__isnull=True).update(submitted_at=timezone.now())
    logger.info("payout %s submitted phone=%s conversation=%s", payout.pk, mask_msisdn(payout.phone),
                accepted.conversation_id)
    return SendResult("submitted")


def _not_sent(payout: Payout, exc: DarajaNotSent) -> SendResult:
    if exc.retryable and payout.send_attempts < MAX_SEND_ATTEMPTS:
        payout_transition(
            payout_id=payout.pk,
            from_statuses=[PayoutStatus.SENDING],
            to_status=PayoutStatus.APPROVED,
            action="send_retry",
            source=SOURCE,
            details={"code": exc.code, "message": exc.message, "attempt": payout.send_attempts},
        )
        return SendResult("retry", retry_in=min(300, 10 * 2 ** (payout.send_attempts - 1)))
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SENDING],
        to_status=PayoutStatus.FAILED,
        action="failed",
        source=SOURCE,
        details={"code": exc.code, "message": exc.message},
        fields={"result_code": exc.code[:32], "result_description": exc.message[:255], "completed_at": timezone.now()},
    )
    return SendResult("failed")


def _unknown(payout: Payout, *, code: str, message: str) -> None:
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SENDING],
        to_status=PayoutStatus.VERIFYING,
        action="outcome_unknown",
        source=SOURCE,
        details={"code": code, "message": message},
    )


QUERYABLE = (PayoutStatus.SENDING, PayoutStatus.SUBMITTED, PayoutStatus.VERIFYING)


def payout_query_status(*, payout_id: int, source: str = SOURCE, force: bool = False) -> str:
    """Ask Daraja what happened to a payout (by our OriginatorConversationID). The answer arrives at the
    payout's status callback URL and settles it through the same code as a B2C result. After
    PAYOUT_MAX_STATUS_QUERIES unanswered queries the payout goes to `needs_review`."""
    allowed = QUERYABLE + ((PayoutStatus.NEEDS_REVIEW,) if force else ())
    with transaction.atomic():
        payout = payout_lock(payout_id=payout_id)
        if payout.status not in allowed:
            return "skipped"
        # A forced query (an operator's "query status now") does not count toward the hand-over to a person.
        if not force and payout.status_queries_sent >= settings.PAYOUT_MAX_STATUS_QUERIES:
            payout_set_status(
                payout=payout,
                to_status=PayoutStatus.NEEDS_REVIEW,
                action="unanswered",
                source=source,
                details={"status_queries": payout.status_queries_sent},
                fields={"review_reason": f"No answer to {payout.status_queries_sent} Transaction Status queries; "
                                         "check the M-Pesa portal."},
            )
            return "needs_review"
        Payout.objects.filter(pk=payout.pk).update(
            status_queries_sent=F("status_queries_sent") + 1, last_status_query_at=timezone.now()
        )
        event_record(action="status_query", source=source, payout=payout, from_status=payout.status,
                     to_status=payout.status, details={"query": payout.status_queries_sent + 1})
    urls = payout_urls(payout.callback_token)
    try:
        daraja_client().transaction_status(
            original_conversation_id=payout.originator_conversation_id,
            transaction_id=payout.transaction_id or "",
            result_url=urls["status-result"],
            timeout_url=urls["status-timeout"],
        )
    except DarajaError as exc:
        logger.warning("status query for payout %s failed: %s %s", payout.pk, exc.code, exc.message)
        return "error"
    return "queried"


def payouts_due_for_status_query():
    """Payouts whose outcome we should ask about now."""
    now = timezone.now()
    deadline = now - timedelta(minutes=settings.PAYOUT_RESULT_DEADLINE_MINUTES)
    interval = now - timedelta(minutes=settings.PAYOUT_STATUS_QUERY_INTERVAL_MINUTES)
    stale = Q(status__in=[PayoutStatus.SENDING, PayoutStatus.SUBMITTED], status_changed_at__lte=deadline)
    unknown = Q(status=PayoutStatus.VERIFYING)
    not_recently = Q(last_status_query_at__isnull=True) | Q(last_status_query_at__lte=interval)
    return Payout.objects.filter((stale | unknown) & not_recently).values_list("pk", flat=True)


def payouts_lost_in_queue(*, older_than_seconds: int = 60):
    """Approved payouts whose send task may have been lost (broker down at approval time)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return Payout.objects.filter(status=PayoutStatus.APPROVED, status_changed_at__lte=cutoff).values_list(
        "pk", flat=True
    )


def account_balance_query() -> str:
    try:
        daraja_client().account_balance(
            result_url=static_url("balance-result"), timeout_url=static_url("balance-timeout")
        )
    except DarajaError as exc:
        logger.warning("account balance query failed: %s %s", exc.code, exc.message)
        return "error"
    return "queried"


def payment_stk_push_send(*, payment_id: int) -> str:
    """Send the STK push for a pending payment created by the API; its callback settles the payment."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != PaymentStatus.PENDING or payment.checkout_request_id:
        return "skipped"
    try:
        accepted = daraja_client().stk_push(
            phone=payment.phone,
            amount=payment.amount,
            account_reference=payment.account_reference,
            description=payment.description or payment.account_reference,
            callback_url=static_url("stk"),
        )
    except DarajaError as exc:
        Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).update(
            status=PaymentStatus.FAILED, result_code=exc.code[:32], result_description=exc.message[:255]
        )
        event_record(action="payment_failed", source=SOURCE, payment=payment, from_status="pending",
                     to_status="failed", details={"code": exc.code, "message": exc.message})
        return "failed"
    Payment.objects.filter(pk=payment.pk).update(
        checkout_request_id=accepted.checkout_request_id, merchant_request_id=accepted.merchant_request_id
    )
    return "sent"
