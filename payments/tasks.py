"""Celery tasks: thin callers of the dispatch services. They take ids, are idempotent, and are safe under
acks_late (a redelivered send finds its payout already claimed and does nothing)."""

from __future__ import annotations

import logging

from celery import shared_task

from payments.services import dispatch

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=dispatch.MAX_SEND_ATTEMPTS)
def send_payout(self, payout_id: int) -> str:
    result = dispatch.payout_send(payout_id=payout_id)
    if result.retry_in is not None:
        # The payout is back in `approved`; if this retry is lost the sweep queues it again.
        raise self.retry(countdown=result.retry_in)
    return result.outcome


@shared_task(acks_late=True)
def query_payout_status(payout_id: int) -> str:
    return dispatch.payout_query_status(payout_id=payout_id)


@shared_task(acks_late=True)
def query_account_balance() -> str:
    return dispatch.account_balance_query()


@shared_task(acks_late=True)
def send_stk_push(payment_id: int) -> str:
    return dispatch.payment_stk_push_send(payment_id=payment_id)


@shared_task(acks_late=True)
def sweep_payouts() -> dict[str, int]:
    """Beat: queue sends that were lost and status queries for payouts whose outcome is overdue."""
    lost = list(dispatch.payouts_lost_in_queue())
    for payout_id in lost:
        send_payout.delay(payout_id)
    due = list(dispatch.payouts_due_for_status_query())
    for payout_id in due:
        query_payout_status.delay(payout_id)
    if lost or due:
        logger.info("sweep queued %d sends and %d status queries", len(lost), len(due))
    return {"sends": len(lost), "status_queries": len(due)}
