"""Pull Transactions: no C2B payment goes unrecorded.

A run asks Daraja (daraja/pull_transactions.py) for the C2B payments of a window: from the end of the last
complete run, less PULL_OVERLAP, to now, never longer than the API's 48 hours. Each row whose receipt we do not
have becomes a completed payment (`source` `pull`) through the payment door's `payment_recovered` row, so the
ledger posting, signal and webhook of a received payment run once, and a finding ("recorded from Pull: its
confirmation never came") is listed among the discrepancies. A row we have is matched: a disagreement (amount,
account) is a finding, never an overwrite; a full payer number replaces a masked or hashed one for the same
receipt (a refund by B2C needs it).

*Check for missed payments now* (the console) asks for a run through the worker (`pull_check_request`, the task
`check_missed_payments`), so the page answers at once; a guard in the cache keeps two presses from queueing two
runs while one is queued or running.

A confirmation racing the Pull produces one payment: both insert under the receipt's unique constraint, the
loser's insert waits for the winner's commit and fails, and it reads the winner's row (c2b.py: a duplicate;
here: a match). A confirmation arriving after the Pull recorded the payment is stored as a duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.field_widths import truncate_to
from core.money import kes
from core.phone import is_full_msisdn
from daraja.errors import DarajaError
from daraja.pull_transactions import MsisdnKind, PullTransaction, pull_all
from mpesa_payouts.celery import publish_now
from mpesa_payouts.effects import after_commit
from payments.daraja_client import daraja_client
from payments.incoming.lifecycle import payment_created, payment_transition
from payments.models import (
    AuditAction,
    EventSource,
    Payment,
    PaymentSource,
    PullFinding,
    PullFindingKind,
    PullRun,
    PullTrigger,
)
from payments.models import PaymentStatus as S
from payments.tasks import check_missed_payments as check_missed_payments_task

logger = logging.getLogger(__name__)

PULL_OVERLAP = timedelta(minutes=10)
PULL_MAX_WINDOW = timedelta(hours=48)  # the API keeps 48 hours of transactions
# A console check queued or running: a second press meanwhile queues nothing. The worker clears it when its run
# ends; the timeout frees it if the task is lost (a broker outage, a worker killed).
PULL_CHECK_KEY = "pull-console-check"
PULL_CHECK_GUARD_SECONDS = 300

_SOURCE_OF = {PullTrigger.BEAT: EventSource.TASK, PullTrigger.COMMAND: EventSource.COMMAND,
              PullTrigger.CONSOLE: EventSource.ADMIN}  # fmt: skip


# A row's outcome -> the run's count of it.
_COUNTER = {"recovered": "recovered", "matched": "matched", "disagreement": "disagreements"}


class PullWindowRefused(ValueError):
    """A --since the API cannot answer (older than 48 hours, or in the future): input, never a bug."""


@dataclass(frozen=True)
class RowOutcome:
    kind: str  # "recovered", "matched", "disagreement"
    payment: Payment


def pull_window(*, now: datetime, since: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) of the next run: from `since`, or the last complete run's end less PULL_OVERLAP, or 48
    hours ago when there was none; never more than 48 hours before `now`."""
    oldest = now - PULL_MAX_WINDOW
    if since is not None:
        if since > now:
            raise PullWindowRefused("--since is in the future")
        if since < oldest:
            raise PullWindowRefused("Pull Transactions keeps 48 hours: --since must be within the last 48 hours")
        return since, now
    last = PullRun.objects.filter(complete=True).order_by("-window_end").first()
    start = last.window_end - PULL_OVERLAP if last else oldest
    return max(start, oldest), now


def pull_transactions_run(*, trigger: str, since: datetime | None = None, actor=None) -> PullRun:
    """One run, now: asks Daraja page by page and records what it finds. A Daraja error ends the run
    incomplete (its error on it); the next scheduled run asks from the last complete run again."""
    now = timezone.now()
    start, end = pull_window(now=now, since=since)
    run = PullRun.objects.create(trigger=trigger, started_at=now, window_start=start, window_end=end)
    shortcode = settings.MPESA_PULL_SHORTCODE or settings.MPESA_SHORTCODE
    try:
        history = pull_all(daraja_client(), shortcode=shortcode, start=start, end=end)
    except DarajaError as exc:
        return _run_ended(run, error=f"{exc.code}: {exc.message}")
    source = _SOURCE_OF[trigger]
    for row in history.rows:
        outcome = pull_row_record(run=run, row=row, source=source, actor=actor)
        counter = _COUNTER[outcome.kind]
        setattr(run, counter, getattr(run, counter) + 1)
    for raw, why in history.unreadable:
        _unreadable_record(run, raw, why)
    run.pages, run.rows, run.unreadable = history.pages, len(history.rows), len(history.unreadable)
    more = "" if history.complete else "more pages than one run reads: the next run asks again"
    return _run_ended(run, error=more, complete=history.complete)


def _run_ended(run: PullRun, *, error: str = "", complete: bool = False) -> PullRun:
    run.error = truncate_to(PullRun, "error", error)
    run.complete = complete
    run.finished_at = timezone.now()
    run.save()
    if error:
        logger.warning("Pull run %s ended incomplete: %s", run.pk, run.error)
    return run


def pull_row_record(*, run: PullRun, row: PullTransaction, source: str, actor=None) -> RowOutcome:
    """One Pull row, in its own transaction: recovered (a new payment), or matched against the one we have."""
    with transaction.atomic():
        existing = Payment.objects.select_for_update().filter(receipt=row.transaction_id).first()
        if existing is not None:
            return _match(run, existing, row)
        awaited = _stk_receipt_awaited(row)
        if awaited is not None:
            payment_transition(action=AuditAction.PAYMENT_RECOVERED, to_status=S.COMPLETED, source=source,
                               locked=awaited, actor=actor, details=_details(run, row),
                               fields={"receipt": row.transaction_id, "transaction_time": row.occurred_at})  # fmt: skip
            return RowOutcome("matched", awaited)
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    source=PaymentSource.PULL, status=S.COMPLETED, receipt=row.transaction_id,
                    phone=truncate_to(Payment, "phone", row.msisdn), amount=row.amount,
                    account_reference=truncate_to(Payment, "account_reference", row.bill_reference),
                    transaction_time=row.occurred_at,
                    description=truncate_to(Payment, "description", row.transaction_type),
                )  # fmt: skip
        except IntegrityError:
            # Its confirmation committed the same receipt while we looked: one payment, matched.
            return _match(run, Payment.objects.select_for_update().get(receipt=row.transaction_id), row)
        payment_created(payment=payment, action=AuditAction.PAYMENT_RECOVERED, source=source, actor=actor,
                        details=_details(run, row))  # fmt: skip
        message = (f"Payment {row.transaction_id} ({kes(row.amount)} from {row.msisdn or 'an unknown number'}, "
                   f"account {row.bill_reference or '-'}) recorded from Pull: its confirmation never came.")
        PullFinding.objects.create(run=run, payment=payment, kind=PullFindingKind.RECOVERED,
                                   receipt=row.transaction_id, message=truncate_to(PullFinding, "message", message))
        return RowOutcome("recovered", payment)


def _details(run: PullRun, row: PullTransaction) -> dict:
    return {"receipt": row.transaction_id, "pull_run": run.pk, "found_by": "Pull Transactions"}


def _stk_receipt_awaited(row: PullTransaction) -> Payment | None:
    """The one STK push an STK query said was paid (its receipt awaited) with this row's full number and
    amount; two such, or a masked number: none (the row becomes a payment of its own, for a person)."""
    if row.msisdn_kind != MsisdnKind.FULL:
        return None
    candidates = list(
        Payment.objects.select_for_update().filter(
            source=PaymentSource.STK_PUSH, status=S.PENDING, stk_said_paid_at__isnull=False,
            phone=row.msisdn, amount=row.amount,
        )[:2]
    )  # fmt: skip
    return candidates[0] if len(candidates) == 1 else None


def _match(run: PullRun, payment: Payment, row: PullTransaction) -> RowOutcome:
    """A row whose receipt we have: never overwritten, but a full payer number replaces a masked or hashed
    one, and a disagreement is listed once per receipt."""
    if row.msisdn_kind == MsisdnKind.FULL and not is_full_msisdn(payment.phone):
        payment.phone = row.msisdn
        payment.save(update_fields=["phone", "updated_at"])
    problems = _disagreements(payment, row)
    if not problems:
        return RowOutcome("matched", payment)
    PullFinding.objects.get_or_create(
        receipt=row.transaction_id, kind=PullFindingKind.DISAGREEMENT,
        defaults={"run": run, "payment": payment, "message": truncate_to(
            PullFinding, "message",
            f"Pull disagrees with payment #{payment.pk} ({row.transaction_id}): {'; '.join(problems)}. "
            f"Our record is kept as it is: check the M-Pesa statement.")},
    )  # fmt: skip
    return RowOutcome("disagreement", payment)


def _disagreements(payment: Payment, row: PullTransaction) -> list[str]:
    problems = []
    if payment.amount != row.amount:
        problems.append(f"amount {kes(row.amount)} at M-Pesa, {kes(payment.amount)} here")
    theirs, ours = row.bill_reference.strip(), payment.account_reference.strip()
    if theirs and ours and theirs.casefold() != ours.casefold():
        problems.append(f'account "{theirs}" at M-Pesa, "{ours}" here')
    return problems


def _unreadable_record(run: PullRun, raw, why: str) -> None:
    receipt = raw.get("transactionId") if isinstance(raw, dict) else ""
    receipt = truncate_to(PullFinding, "receipt", str(receipt or ""))
    message = truncate_to(PullFinding, "message", f"A Pull row{f' ({receipt})' if receipt else ''} could not be "
                          f"read ({why}): look for it in the M-Pesa statement.")  # fmt: skip
    if receipt:
        PullFinding.objects.get_or_create(receipt=receipt, kind=PullFindingKind.UNREADABLE,
                                          defaults={"run": run, "message": message})  # fmt: skip
    else:
        PullFinding.objects.create(run=run, kind=PullFindingKind.UNREADABLE, message=message)


def last_pull_run() -> PullRun | None:
    """The most recent run, for the overview."""
    return PullRun.objects.order_by("-started_at", "-id").first()


# --- The console's check, on the worker ----------------------------------------------------------------


def pull_check_waiting() -> dict | None:
    """The console check queued or running now ({"by": username, "at": ISO time}), or None."""
    try:
        return cache.get(PULL_CHECK_KEY)
    except Exception:  # noqa: BLE001 - the cache is down: the overview says nothing of a check in progress
        return None


def pull_check_request(*, actor) -> dict | None:
    """Queue one Pull run for the console, as `actor`, after commit. Returns None when queued, or the check
    already queued or running (a second press within PULL_CHECK_GUARD_SECONDS queues nothing). Without the
    cache the run is queued unguarded: two runs are safe (a receipt we have is matched, never added again)."""
    asked = {"by": actor.get_username(), "at": timezone.now().isoformat()}
    try:
        if not cache.add(PULL_CHECK_KEY, asked, timeout=PULL_CHECK_GUARD_SECONDS):
            return cache.get(PULL_CHECK_KEY) or asked
    except Exception:  # noqa: BLE001 - the cache is down: the guard is lost, not the check
        logger.warning("Pull check queued without its guard (cache unreachable)")

    def send() -> None:
        try:
            publish_now(check_missed_payments_task, actor.pk)
        except Exception:  # noqa: BLE001 - the hourly beat run still comes; a press may try again at once
            logger.warning("Pull check could not be queued (broker unreachable)")
            _pull_check_done()

    after_commit(send)
    return None


def pull_check_run(*, actor_id: int | None) -> PullRun:
    """The worker's side of *Check for missed payments now*: one run as the person who pressed it; the guard
    is released when it ends, however it ends."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    try:
        return pull_transactions_run(trigger=PullTrigger.CONSOLE, actor=actor)
    finally:
        _pull_check_done()


def _pull_check_done() -> None:
    try:
        cache.delete(PULL_CHECK_KEY)
    except Exception:  # noqa: BLE001 - the key's timeout frees it
        logger.warning("Pull check guard not released (cache unreachable); it expires by itself")
