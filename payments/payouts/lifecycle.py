"""The payout lifecycle: every status a payout can move to, from where, why, and who may cause it.

`TRANSITIONS` is the whole state machine (docs/architecture.md draws it, and a test checks the drawing
against it). `payout_transition()` is the one door a status change goes through: it takes the payout's row
lock (or uses the one the caller holds), refuses a change the table does not list, writes the row and its
audit event in the same transaction, runs what must happen in that transaction (`_in_transaction`), and
queues what must wait for the commit through `after_commit()`. No other module writes `Payout.status`
(tests/payments/payouts/test_lifecycle.py fails if one does).

A rule of the house follows from the table: a change that could send money twice is not in it. `sending`
is entered only from `approved`, by the claim a worker makes before the request leaves; an unknown outcome
goes to `verifying`, which only a Transaction Status answer (or a person) settles.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.errors import NotFound
from core.sql_row_writes import load_row, selected_columns, update_row
from ledger.services.payouts import payout_status_posted
from payments.audit_events import event_record
from payments.incoming.lifecycle import payment_transition
from payments.incoming.refunds import release_refund
from payments.models import (
    IN_FLIGHT_STATUSES,
    RELEASED_STATUSES,
    AuditAction,
    AuditEvent,
    DarajaCallback,
    EventSource,
    PaymentStatus,
    Payout,
    PayoutRail,
    PayoutReview,
)
from payments.models import PayoutStatus as S
from payments.payouts.name_check import payout_payee_noted
from payments.signals import payout_status_changed
from webhooks.services.events import payout_requested_webhook, payout_status_webhook

logger = logging.getLogger(__name__)

# A payout's status before it exists (the `requested` row's from).
NEW = ""
INITIAL_STATUS = S.PENDING_APPROVAL

_PEOPLE = frozenset({EventSource.ADMIN, EventSource.API})
_TASK = frozenset({EventSource.TASK})
_MPESA = frozenset({EventSource.CALLBACK})
_IN_FLIGHT = tuple(sorted(IN_FLIGHT_STATUSES))  # sending, submitted, verifying


@dataclass(frozen=True)
class Transition:
    action: str  # AuditAction: the event this change writes
    sources: tuple[str, ...]  # the statuses it starts from
    to: str
    causes: frozenset[str]  # the EventSource values allowed to cause it
    why: str


TRANSITIONS: tuple[Transition, ...] = (
    Transition(AuditAction.REQUESTED, (NEW,), S.PENDING_APPROVAL,
               _PEOPLE | {EventSource.COMMAND, EventSource.TASK},
               "A refund or disbursement is requested (API, admin, bulk file, a payout plan's run)."),
    Transition(AuditAction.APPROVED, (S.PENDING_APPROVAL,), S.APPROVED, _PEOPLE,
               "Enough distinct approvers, none its requester or an editor of what is paid; queued to send."),
    Transition(AuditAction.REJECTED, (S.PENDING_APPROVAL, S.APPROVED), S.REJECTED, _PEOPLE,
               "An approver refuses it before it is sent; a refund's amount returns to its payment."),
    Transition(AuditAction.EXPIRED, (S.PENDING_APPROVAL,), S.REJECTED, _TASK | {EventSource.COMMAND},
               "PAYOUT_APPROVAL_EXPIRY_MINUTES without its approvals; a refund's amount returns to its payment."),
    Transition(AuditAction.APPROVAL_VOIDED, (S.PENDING_APPROVAL, S.APPROVED), S.PENDING_APPROVAL, _PEOPLE | _TASK,
               "Amount, phone or CommandID changed, or the send-time check found approvals that do not count."),
    Transition(AuditAction.SENDING, (S.APPROVED,), S.SENDING, _TASK,
               "A worker claims it, committed before the B2C request leaves (sent at most once)."),
    Transition(AuditAction.SUBMITTED, (S.SENDING,), S.SUBMITTED, _TASK,
               "Daraja accepted the request; the result arrives by callback."),
    Transition(AuditAction.SEND_RETRY, (S.SENDING,), S.APPROVED, _TASK,
               "Daraja's answer proves the request was not received: it may be sent again."),
    Transition(AuditAction.FAILED, (S.SENDING, S.SUBMITTED, S.VERIFYING, S.NEEDS_REVIEW), S.FAILED,
               _TASK | _MPESA,
               "An answer that proves no money moved (a refusal of the request, or a final-failure code)."),
    Transition(AuditAction.OUTCOME_UNKNOWN, (S.SENDING,), S.VERIFYING, _TASK,
               "The request may have left (timeout, unclear answer): a Transaction Status query settles it."),
    Transition(AuditAction.QUEUE_TIMEOUT, (S.SENDING, S.SUBMITTED), S.VERIFYING, _MPESA,
               "M-Pesa's queue timed out: not a failure, the money may have moved."),
    Transition(AuditAction.RESULT_UNKNOWN, (S.SENDING, S.SUBMITTED), S.VERIFYING, _MPESA,
               "A result code that proves nothing either way."),
    Transition(AuditAction.COMPLETED, (*_IN_FLIGHT, S.NEEDS_REVIEW), S.COMPLETED, _MPESA,
               "A success result (or status answer) that agrees with the payout, with its receipt."),
    Transition(AuditAction.RESULT_MISMATCH, (*_IN_FLIGHT, S.NEEDS_REVIEW), S.NEEDS_REVIEW, _MPESA,
               "A success whose amount, phone or receipt disagrees with the payout."),
    Transition(AuditAction.RESULT_FOR_UNSENT_PAYOUT, (S.PENDING_APPROVAL, S.APPROVED), S.NEEDS_REVIEW, _MPESA,
               "A result for a payout this system never sent."),
    Transition(AuditAction.SUCCESS_AFTER_FAILURE, (S.FAILED,), S.NEEDS_REVIEW, _MPESA,
               "M-Pesa reports paid a payout recorded failed; a refund is reserved on its payment again."),
    Transition(AuditAction.UNANSWERED, _IN_FLIGHT, S.NEEDS_REVIEW, _TASK | {EventSource.COMMAND, EventSource.ADMIN},
               "PAYOUT_MAX_STATUS_QUERIES queries without a final answer: a person checks the M-Pesa portal."),
    Transition(AuditAction.REVIEWED, (S.NEEDS_REVIEW,), S.COMPLETED, _PEOPLE,
               "A person found it paid in the M-Pesa portal (with its receipt); against M-Pesa, a second confirms."),
    Transition(AuditAction.REVIEWED, (S.NEEDS_REVIEW,), S.FAILED, _PEOPLE,
               "A person found it not paid in the M-Pesa portal; against M-Pesa, a second confirms."),
)

_BY_ACTION_AND_TARGET: dict[tuple[str, str], Transition] = {(t.action, t.to): t for t in TRANSITIONS}
assert len(_BY_ACTION_AND_TARGET) == len(TRANSITIONS), "one row per (action, to)"


class TransitionNotAllowed(RuntimeError):
    """A change the table does not list, or caused by a source it does not allow: a bug, never input."""


def transition_for(*, action: str, to_status: str) -> Transition:
    try:
        return _BY_ACTION_AND_TARGET[(action, to_status)]
    except KeyError:
        raise TransitionNotAllowed(f"No transition {action!r} to {to_status!r} in the lifecycle table.") from None


def payout_lock(*, payout_id: int, receipt: str = "") -> Payout:
    """The payout row, locked until the surrounding transaction ends. Call inside transaction.atomic().

    With `receipt`, the same query says whether another payout already holds that M-Pesa receipt
    (`payout.receipt_elsewhere`): a settlement needs both, and one round trip is cheaper than two.

    Written as SQL rather than built by the ORM: it runs for every callback and every send, and compiling
    the queryset cost more than the query. A hand-written SQL path, listed in docs/architecture.md with what it
    earns (bench/README.md, session 7)."""
    sql, params = _lock_sql(bool(receipt)), ([receipt, payout_id] if receipt else [payout_id])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"No payout #{payout_id}.")
    payout = load_row(Payout, row)
    payout.receipt_checked = receipt
    payout.receipt_elsewhere = bool(row[-1]) if receipt else False
    return payout


@lru_cache(maxsize=2)
def _lock_sql(with_receipt: bool) -> str:
    table = connection.ops.quote_name(Payout._meta.db_table)
    receipt = Payout._meta.get_field("transaction_id").column
    pk = Payout._meta.pk.column
    lock = " FOR UPDATE OF p" if connection.features.has_select_for_update_of else (
        " FOR UPDATE" if connection.features.has_select_for_update else ""
    )
    columns = selected_columns(Payout, "p")
    if with_receipt:
        return (
            f"SELECT {columns}, EXISTS (SELECT 1 FROM {table} o WHERE o.{receipt} = %s AND o.{pk} <> p.{pk})"
            f" AS receipt_elsewhere FROM {table} p WHERE p.{pk} = %s{lock}"
        )
    return f"SELECT {columns} FROM {table} p WHERE p.{pk} = %s{lock}"


def payout_transition(
    *,
    action: str,
    to_status: str,
    source: str,
    payout_id: int | None = None,
    locked: Payout | None = None,
    seen: Payout | None = None,
    from_statuses: Iterable[str] | None = None,
    actor=None,
    details: dict[str, Any] | None = None,
    callback: DarajaCallback | None = None,
    fields: dict[str, Any] | None = None,
) -> Payout | None:
    """Move a payout along one row of TRANSITIONS and record why: the payout as it now is, or None when it is
    not (or no longer) in a status that row starts from (narrowed to `from_statuses` when given): another
    worker, callback or person got there first, and nothing is written.

    Which payout, and how only one caller can win:
    - `locked`: the caller already holds its row lock in this transaction (payout_lock);
    - `payout_id`: the lock is taken here;
    - `seen`: the payout as the caller last read it, not locked: moved by a conditional UPDATE (`WHERE status
      = <what it was>`), no lock taken, for a payout whose other columns nobody else writes while it is in the
      starting status (a claimed `sending` payout, say).
    `fields`: other columns written with the status. Safe from any number of workers at once."""
    rule = transition_for(action=action, to_status=to_status)
    if source not in rule.causes:
        raise TransitionNotAllowed(f"{source!r} may not cause {action!r} (allowed: {sorted(rule.causes)}).")
    if fields and {"status", "status_changed_at"} & set(fields):
        raise TransitionNotAllowed("The status is the transition's to_status, not one of its fields.")
    starts = set(rule.sources) if from_statuses is None else set(rule.sources) & set(from_statuses)
    now = timezone.now()
    changes = {**(fields or {}), "status": to_status, "status_changed_at": now, "updated_at": now}
    with transaction.atomic(savepoint=False):
        payout = seen or locked or payout_lock(payout_id=payout_id)
        old_status = payout.status
        if old_status not in starts:
            return None
        before = {name: getattr(payout, name) for name in changes}
        for name, value in changes.items():
            setattr(payout, name, value)
        # With `seen`, only the caller that finds the row still in old_status writes it.
        if not update_row(payout, list(changes), where={"status": old_status} if seen is not None else None):
            for name, value in before.items():
                setattr(payout, name, value)
            return None
        event = event_record(action=action, source=source, payout=payout, actor=actor, from_status=old_status,
                             to_status=to_status, details=details, callback=callback)
        _in_transaction(payout=payout, old_status=old_status, event=event)
        return payout


def payout_created(*, payout: Payout, source: str, actor=None, details: dict[str, Any] | None = None) -> AuditEvent:
    """The first row of the table (NEW -> pending_approval) for a payout just inserted, in the same
    transaction: its `requested` event and what follows every status change."""
    rule = transition_for(action=AuditAction.REQUESTED, to_status=payout.status)
    if source not in rule.causes:
        raise TransitionNotAllowed(f"{source!r} may not request payouts.")
    event = event_record(action=rule.action, source=source, payout=payout, actor=actor, to_status=payout.status,
                         details=details)
    _in_transaction(payout=payout, old_status=NEW, event=event)
    payout_payee_noted(payout)  # first-time payee flag; the name check queued after commit when it is on
    payout_requested_webhook(payout=payout)  # payout.requested / refund.requested; never raises
    return event


def _in_transaction(*, payout: Payout, old_status: str, event: AuditEvent) -> None:
    """What every status change does inside its transaction, once the row holds its new status and its event
    is stored. The one place an in-transaction consumer of status changes is called from: anything it writes
    commits or rolls back with the change. What must wait for the commit goes through after_commit()."""
    to_status = payout.status
    if (
        payout.payment_id
        and to_status in RELEASED_STATUSES
        and old_status not in RELEASED_STATUSES
        and not payout.refund_unreserved
    ):
        # A failed or rejected refund gives its amount back to the payment's refundable remainder.
        release_refund(payout.payment_id, payout.amount)
    if old_status == S.NEEDS_REVIEW and to_status != S.NEEDS_REVIEW:
        # A review still waiting for its second person no longer applies once the payout is settled otherwise.
        PayoutReview.objects.filter(payout_id=payout.pk, confirmed_at__isnull=True, dropped_at__isnull=True).update(
            dropped_at=event.created_at
        )
    if old_status != to_status:
        # The ledger posts the money the change moved (one statement, or none: ledger/services/payouts.py).
        payout_status_posted(payout=payout, old_status=old_status, event=event)
        # Notifications (notifications/receivers.py) record their alerts and outbox rows in the transaction.
        payout_status_changed.send(
            sender=Payout, payout=payout, event=event, old_status=old_status, new_status=to_status
        )
        # The webhooks' outbox rows (webhooks/services/events.py); never raises.
        payout_status_webhook(payout=payout, old_status=old_status)
    if payout.rail == PayoutRail.REVERSAL and to_status == S.COMPLETED and old_status != S.COMPLETED:
        _payment_reversed(payout=payout, event=event)


def _payment_reversed(*, payout: Payout, event: AuditEvent) -> None:
    """A completed reversal (by its result, or by a reviewer who found it done) gives its payment back: the
    payment moves to `reversed` through its own door, naming the reversal. Its amount stays reserved (a
    reversed payment has nothing left to refund)."""
    payment_transition(
        payment_id=payout.payment_id,
        action=AuditAction.PAYMENT_REVERSED,
        to_status=PaymentStatus.REVERSED,
        source=event.source,
        callback=event.callback,
        actor=event.actor,
        details={"reversal": payout.pk, "result_code": payout.result_code, "receipt": payout.transaction_id},
    )


def state_diagram() -> str:
    """TRANSITIONS as a Mermaid state diagram (docs/architecture.md holds this text; a test compares them)."""
    lines = ["stateDiagram-v2"]
    for rule in TRANSITIONS:
        causes = ", ".join(sorted(str(cause) for cause in rule.causes))
        for start in rule.sources:
            lines.append(f"    {start or '[*]'} --> {rule.to}: {rule.action} ({causes})")
    lines.extend(f"    {status} --> [*]" for status in (S.COMPLETED, S.FAILED, S.REJECTED))
    return "\n".join(lines)
