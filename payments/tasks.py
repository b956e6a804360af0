"""Celery tasks: thin callers of the dispatch services. They take ids, are idempotent, and are safe under
acks_late (a redelivered send finds its payout already claimed and does nothing).

One convention against the import cycle: a service imports its task at module level (`send_payout as
send_payout_task`); a task imports its service inside its body."""

from __future__ import annotations

import logging
from collections import Counter

from celery import shared_task

logger = logging.getLogger(__name__)


# max_retries=None: dispatch.MAX_SEND_ATTEMPTS bounds the tries (the payout's send_attempts), not Celery.
@shared_task(bind=True, acks_late=True, max_retries=None)
def send_payout(self, payout_id: int) -> str:
    from payments.payouts import dispatch

    result = dispatch.payout_send(payout_id=payout_id)
    if result.retry_in is not None:
        # The payout is back in `approved`; if this retry is lost the sweep queues it again.
        raise self.retry(countdown=result.retry_in)
    return result.outcome


@shared_task(acks_late=True)
def send_payouts(payout_ids: list[int]) -> dict[str, int]:
    """Several approved payouts in one message (queued by an approval of many, see
    payouts.queue_sends). Each is claimed and sent on its own, as by send_payout; one that must wait
    before another try goes back to the queue alone. A redelivered message finds the ones already claimed and
    skips them."""
    from payments.payouts import dispatch
    from payments.payouts import services as payouts

    outcomes: Counter[str] = Counter()
    for payout_id in payout_ids:
        try:
            result = dispatch.payout_send(payout_id=payout_id)
        except Exception:  # noqa: BLE001 - the others in the message still go; the sweep looks at this one
            logger.exception("could not send payout %s", payout_id)
            outcomes["error"] += 1
            continue
        outcomes[result.outcome] += 1
        if result.retry_in is not None:
            payouts.queue_send(payout_id, countdown=result.retry_in)  # `approved` again: alone, later
    return dict(outcomes)


@shared_task(acks_late=True)
def check_payout_name(payout_id: int) -> str:
    """The name check of a payout just requested or whose payee changed (MPESA_NAME_CHECK): one lookup, never
    a send. Runs on the side worker's queue: it waits on Daraja, and no payout send waits behind it."""
    from payments.payouts.name_check import payout_name_check

    return payout_name_check(payout_id)


@shared_task(acks_late=True)
def query_payout_status(payout_id: int) -> str:
    from payments.payouts import dispatch

    return dispatch.payout_query_status(payout_id=payout_id)


@shared_task(acks_late=True)
def query_account_balance() -> str:
    from payments.payouts import dispatch

    return dispatch.account_balance_query()


@shared_task(acks_late=True)
def send_stk_push(payment_id: int) -> str:
    from payments.incoming import stk

    return stk.payment_stk_push_send(payment_id=payment_id)


@shared_task(acks_late=True)
def sweep_payouts() -> dict[str, int]:
    """Beat: queue sends that were lost and status queries for payouts whose outcome is overdue, and reject
    as expired the payouts that waited PAYOUT_APPROVAL_EXPIRY_MINUTES for their approvals."""
    from payments.payouts import dispatch
    from payments.payouts import services as payouts
    from payments.payouts.expiry import payouts_expire

    expired = payouts_expire()

    lost = list(dispatch.payouts_lost_in_queue())
    if lost:
        # After a broker outage that may be a whole payroll: queued in groups, as its approval would have.
        payouts.queue_sends(lost)
    due = list(dispatch.payouts_due_for_status_query())
    for payout_id in due:
        query_payout_status.delay(payout_id)
    if lost or due or expired:
        logger.info("sweep queued %d sends and %d status queries, expired %d payouts", len(lost), len(due),
                    len(expired))
    return {"sends": len(lost), "status_queries": len(due), "expired": len(expired)}


@shared_task(acks_late=True)
def run_finance_job(job_id: int) -> str:
    """An export or statement reconciliation asked for in the console (payments.reconciliation.jobs)."""
    from payments.reconciliation import jobs as finance

    return finance.finance_job_run(job_id=job_id)


@shared_task(acks_late=True)
def sweep_finance_jobs() -> dict[str, int]:
    """Beat: console jobs no worker took are queued again; jobs whose worker died are marked failed."""
    from payments.reconciliation import jobs as finance

    return finance.finance_jobs_sweep()


@shared_task(acks_late=True)
def reprocess_callbacks() -> dict[str, int]:
    """Beat: process again the stored callbacks whose processing failed (with backoff, bounded attempts) or
    that were left `received`. Idempotent: a row is locked while it is retried and a settled one is skipped."""
    from payments.callbacks.reprocessing import callbacks_reprocess_due

    counts = callbacks_reprocess_due()
    if counts:
        logger.info("reprocessed callbacks: %s", counts)
    return counts


@shared_task(acks_late=True)
def pull_transactions() -> dict[str, int]:
    """Beat: Pull Transactions since the last complete run (payments/incoming/pull.py): C2B payments whose
    confirmation never came are recorded. Safe to run twice: a receipt we have is matched, never added again."""
    from payments.incoming.pull import pull_transactions_run
    from payments.models import PullTrigger

    run = pull_transactions_run(trigger=PullTrigger.BEAT)
    return {"recovered": run.recovered, "matched": run.matched, "disagreements": run.disagreements,
            "complete": int(run.complete)}  # fmt: skip


@shared_task(acks_late=True)
def check_missed_payments(actor_id: int | None = None) -> dict[str, int]:
    """The console's *Check for missed payments now*: one Pull run as the person who pressed it; the overview
    shows its result (payments/incoming/pull.py, pull_check_request)."""
    from payments.incoming.pull import pull_check_run

    run = pull_check_run(actor_id=actor_id)
    return {"recovered": run.recovered, "matched": run.matched, "disagreements": run.disagreements,
            "complete": int(run.complete)}  # fmt: skip


@shared_task(acks_late=True)
def query_stk_pushes() -> dict[str, int]:
    """Beat: STK Push Query about pushes still pending (payments/incoming/stk_query.py)."""
    from payments.incoming.stk_query import stk_pushes_query

    counts = stk_pushes_query()
    if counts:
        logger.info("STK queries: %s", counts)
    return counts


@shared_task(acks_late=True)
def run_payout_plans() -> int:
    """Beat: create the payout plans' runs that are due (each occurrence once: docs/payout-plans.md)."""
    from payments.plans.runs import plans_run_due

    runs = plans_run_due()
    if runs:
        logger.info("payout plans: %s run(s) created", len(runs))
    return len(runs)
