"""The payment lifecycle: every status an incoming payment can move to, from where, why, and who may cause it.

`PAYMENT_TRANSITIONS` is the whole state machine (docs/architecture.md draws it, and a test checks the
drawing against it). `payment_transition()` is the one door a status change goes through: it takes the
payment's row lock (or uses the one the caller holds), refuses a change the table does not list, writes the
row and its audit event in the same transaction, and runs what a received payment sets off
(`_in_transaction`) once, for STK push and C2B alike. A C2B payment arrives already completed:
`payment_created()` is the table's row from NEW for it. Nothing else writes `Payment.status`: outside the door,
the model refuses it at run time (payments/models/incoming.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from ledger.services.money import payment_received_post
from payments.audit_events import event_record
from payments.incoming.refunds import payment_lock
from payments.models import AuditAction, AuditEvent, DarajaCallback, EventSource, Payment, payment_status_door
from payments.models import PaymentStatus as S
from payments.signals import payment_received
from webhooks.services.events import payment_received_webhook, payment_reversed_webhook

# A payment's status before it exists (the from of a C2B confirmation's row).
NEW = ""
# An STK push's payment starts here, created by the request (no event: its push is the next thing to happen).
INITIAL_STATUS = S.PENDING

_MPESA = frozenset({EventSource.CALLBACK})
_TASK = frozenset({EventSource.TASK})
# A person's decision: a reviewer who settles a reversal found done in the M-Pesa portal.
_PEOPLE = frozenset({EventSource.ADMIN, EventSource.API})
# We asked M-Pesa (Pull Transactions): on a schedule, by a command or by a person's button in the console.
_ASKED = frozenset({EventSource.TASK, EventSource.COMMAND, EventSource.ADMIN})


@dataclass(frozen=True)
class PaymentTransition:
    action: str  # AuditAction: the event this change writes
    sources: tuple[str, ...]  # the statuses it starts from
    to: str
    causes: frozenset[str]  # the EventSource values allowed to cause it
    why: str


PAYMENT_TRANSITIONS: tuple[PaymentTransition, ...] = (
    PaymentTransition(AuditAction.PAYMENT_COMPLETED, (NEW, S.PENDING), S.COMPLETED, _MPESA,
                      "M-Pesa confirms the money arrived: a C2B confirmation (a new payment) or a successful "
                      "STK push answer, with its receipt. Posted to the ledger, signalled, sent to webhooks."),
    PaymentTransition(AuditAction.PAYMENT_FAILED, (S.PENDING,), S.FAILED, _MPESA | _TASK,
                      "An answer that proves no money moved: the customer declined or did not answer the "
                      "prompt, or Daraja refused the push request."),
    PaymentTransition(AuditAction.PAYMENT_RESULT_UNKNOWN, (S.PENDING,), S.PENDING, _MPESA,
                      "An STK result code not in the catalogue: the customer may have paid. It stays pending "
                      "with the code on it, for a person or a later callback."),
    PaymentTransition(AuditAction.PUSH_OUTCOME_UNKNOWN, (S.PENDING,), S.PENDING, _TASK,
                      "The push request may have left (a timeout, a 5xx): it stays pending with the error on it, "
                      "listed for a person, unless a success callback that fits it alone arrives."),
    PaymentTransition(AuditAction.PAYMENT_RECOVERED, (NEW, S.PENDING), S.COMPLETED, _ASKED,
                      "Pull Transactions lists a payment whose confirmation never came (a new payment), or the "
                      "receipt of an STK push an STK query said was paid. Posted, signalled, sent as any other."),
    PaymentTransition(AuditAction.STK_QUERY_PAID, (S.PENDING,), S.PENDING, _TASK,
                      "An STK query answered 0 (paid) without a receipt: it stays pending, marked, until its "
                      "callback, the Pull or the statement supplies the receipt."),
    PaymentTransition(AuditAction.PAYMENT_REVERSED, (S.COMPLETED,), S.REVERSED, _MPESA | _PEOPLE,
                      "Its reversal completed: a reversal result reports the money sent back to the customer (or "
                      "a reviewer found the reversal done in the M-Pesa portal). Sent to webhooks "
                      "(payment.reversed)."),
)

_BY_ACTION_AND_TARGET: dict[tuple[str, str], PaymentTransition] = {(t.action, t.to): t for t in PAYMENT_TRANSITIONS}
assert len(_BY_ACTION_AND_TARGET) == len(PAYMENT_TRANSITIONS), "one row per (action, to)"


class PaymentTransitionNotAllowed(RuntimeError):
    """A change the table does not list, or caused by a source it does not allow: a bug, never input."""


@dataclass(frozen=True)
class Settled:
    """What processing a callback did to its payment, for the callback's handler to answer with."""

    outcome: str  # CallbackOutcome
    message: str = "Accepted"
    mismatch: bool = False


def payment_transition_for(*, action: str, to_status: str, source: str) -> PaymentTransition:
    rule = _BY_ACTION_AND_TARGET.get((action, to_status))
    if rule is None:
        raise PaymentTransitionNotAllowed(f"No payment transition {action!r} to {to_status!r} in the table.")
    if source not in rule.causes:
        raise PaymentTransitionNotAllowed(f"{source!r} may not cause {action!r} (allowed: {sorted(rule.causes)}).")
    return rule


def payment_transition(
    *,
    action: str,
    to_status: str,
    source: str,
    payment_id: int | None = None,
    locked: Payment | None = None,
    callback: DarajaCallback | None = None,
    details: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    actor=None,
) -> Payment | None:
    """Move a payment along one row of PAYMENT_TRANSITIONS and record why: the payment as it now is, or None
    when it is not (or no longer) in a status that row starts from (its callback or a worker got there first),
    and nothing is written. `locked`: the caller holds its row lock in this transaction; `payment_id`: the lock
    is taken here. `fields`: other columns written with the status."""
    rule = payment_transition_for(action=action, to_status=to_status, source=source)
    if fields and "status" in fields:
        raise PaymentTransitionNotAllowed("The status is the transition's to_status, not one of its fields.")
    with transaction.atomic(savepoint=False):
        payment = locked or payment_lock(payment_id=payment_id)
        old_status = payment.status
        if old_status not in rule.sources:
            return None
        for name, value in {**(fields or {}), "status": to_status}.items():
            setattr(payment, name, value)
        with payment_status_door():
            payment.save(update_fields=[*(fields or {}), "status", "updated_at"])
        event = event_record(action=action, source=source, payment=payment, from_status=old_status,
                             to_status=to_status, details=details, callback=callback, actor=actor)  # fmt: skip
        _in_transaction(payment=payment, old_status=old_status, event=event)
        return payment


def payment_created(
    *, payment: Payment, action: str, source: str, callback: DarajaCallback | None = None,
    details: dict[str, Any] | None = None, actor=None,
) -> AuditEvent:
    """The row from NEW for a payment just inserted with its status (a C2B confirmation), in the same
    transaction: its event and what follows every status change."""
    rule = payment_transition_for(action=action, to_status=payment.status, source=source)
    if NEW not in rule.sources:
        raise PaymentTransitionNotAllowed(f"{action!r} does not create a payment.")
    event = event_record(action=action, source=source, payment=payment, to_status=payment.status,
                         details=details, callback=callback, actor=actor)  # fmt: skip
    _in_transaction(payment=payment, old_status=NEW, event=event)
    return event


def _in_transaction(*, payment: Payment, old_status: str, event: AuditEvent) -> None:
    """What a status change sets off inside its transaction: the one place a payment's consumers are called
    from. A payment received is posted to the ledger (ledger/services/money.py), signalled (notifications
    record their alerts there) and given its webhooks' outbox rows (never raises). What must wait for the
    commit goes through mpesa_payouts.effects.after_commit()."""
    if payment.status == S.COMPLETED and old_status != S.COMPLETED:
        payment_received_post(payment=payment)
        payment_received.send(sender=Payment, payment=payment, event=event)
        payment_received_webhook(payment=payment)
    if payment.status == S.REVERSED and old_status != S.REVERSED:
        payment_reversed_webhook(payment=payment)


def state_diagram() -> str:
    """PAYMENT_TRANSITIONS as a Mermaid state diagram (docs/architecture.md holds this text; a test compares
    them)."""
    lines = ["stateDiagram-v2", f"    [*] --> {INITIAL_STATUS}: (an STK push request)"]
    for rule in PAYMENT_TRANSITIONS:
        causes = ", ".join(sorted(str(cause) for cause in rule.causes))
        for start in rule.sources:
            lines.append(f"    {start or '[*]'} --> {rule.to}: {rule.action} ({causes})")
    lines.extend(f"    {status} --> [*]" for status in (S.FAILED, S.REVERSED))
    return "\n".join(lines)

