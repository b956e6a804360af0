"""The payment lifecycle has one door: every change it makes is a row of PAYMENT_TRANSITIONS, anything else is
refused, and docs/architecture.md draws that table."""

from __future__ import annotations

import ast
import re
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.models import JournalTransaction
from payments.incoming.lifecycle import (
    NEW,
    PAYMENT_TRANSITIONS,
    PaymentTransitionNotAllowed,
    payment_transition,
    state_diagram,
)
from payments.models import AuditAction, AuditEvent, EventSource, Payment, PaymentStatus
from tests.factories import make_payment
from webhooks.models import WebhookEvent

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.django_db


def pending_push(**fields) -> Payment:
    return make_payment(status=PaymentStatus.PENDING, receipt=None, source="stk_push", **fields)


def test_every_action_is_an_audit_action_and_every_status_is_reachable():
    assert {rule.action for rule in PAYMENT_TRANSITIONS} <= set(AuditAction.values)
    reached = {rule.to for rule in PAYMENT_TRANSITIONS} | {PaymentStatus.PENDING}  # pending: an STK push's start
    assert reached == set(PaymentStatus.values)
    assert all(start in {NEW, *PaymentStatus.values} for rule in PAYMENT_TRANSITIONS for start in rule.sources)


def test_a_change_the_table_does_not_list_is_refused_and_writes_nothing():
    payment = pending_push()
    with pytest.raises(PaymentTransitionNotAllowed):  # failed is not reversed
        payment_transition(action=AuditAction.PAYMENT_FAILED, to_status=PaymentStatus.REVERSED,
                           source=EventSource.CALLBACK, payment_id=payment.pk)  # fmt: skip
    with pytest.raises(PaymentTransitionNotAllowed):  # a person does not complete a payment
        payment_transition(action=AuditAction.PAYMENT_COMPLETED, to_status=PaymentStatus.COMPLETED,
                           source=EventSource.ADMIN, payment_id=payment.pk)  # fmt: skip
    with pytest.raises(PaymentTransitionNotAllowed):  # the status is the row's, not a field
        payment_transition(action=AuditAction.PAYMENT_FAILED, to_status=PaymentStatus.FAILED,
                           source=EventSource.CALLBACK, payment_id=payment.pk, fields={"status": "completed"})
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert not AuditEvent.objects.filter(payment=payment).exists()


def test_a_payment_no_longer_in_a_starting_status_is_left_as_it_is():
    payment = make_payment(status=PaymentStatus.FAILED, receipt=None, source="stk_push")
    moved = payment_transition(action=AuditAction.PAYMENT_COMPLETED, to_status=PaymentStatus.COMPLETED,
                               source=EventSource.CALLBACK, payment_id=payment.pk, fields={"receipt": "X1"})
    assert moved is None
    payment.refresh_from_db()
    assert (payment.status, payment.receipt) == (PaymentStatus.FAILED, None)
    assert not AuditEvent.objects.filter(payment=payment).exists()


def test_the_door_completes_a_payment_with_its_event_and_its_received_steps_once():
    payment = pending_push(amount=Decimal("75.00"))
    moved = payment_transition(action=AuditAction.PAYMENT_COMPLETED, to_status=PaymentStatus.COMPLETED,
                               source=EventSource.CALLBACK, payment_id=payment.pk, fields={"receipt": "TST0001"})
    assert (moved.status, moved.receipt) == (PaymentStatus.COMPLETED, "TST0001")
    event = AuditEvent.objects.get(payment=payment)
    assert (event.action, event.from_status, event.to_status) == ("payment_completed", "pending", "completed")
    assert JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").count() == 1
    assert WebhookEvent.objects.filter(payment=payment, type="payment.received").count() == 1


def test_the_door_accepts_a_reversal_of_a_completed_payment():
    """A completed reversal moves its payment along this row: the door raises payment.reversed, without running
    the received steps again."""
    payment = make_payment(amount=Decimal("300.00"))
    moved = payment_transition(action=AuditAction.PAYMENT_REVERSED, to_status=PaymentStatus.REVERSED,
                               source=EventSource.CALLBACK, payment_id=payment.pk)
    assert moved.status == PaymentStatus.REVERSED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REVERSED
    assert payment.refundable_amount == Decimal("0.00")
    event = AuditEvent.objects.get(payment=payment)
    assert (event.action, event.from_status, event.to_status) == ("payment_reversed", "completed", "reversed")
    assert list(WebhookEvent.objects.filter(payment=payment).values_list("type", flat=True)) == ["payment.reversed"]
    assert not JournalTransaction.objects.filter(payment_id=payment.pk, kind="received").exists()


def test_the_architecture_page_draws_the_payment_lifecycle_table():
    page = (ROOT / "docs" / "architecture.md").read_text()
    section = page.split("## The payment lifecycle", 1)
    assert len(section) == 2, "docs/architecture.md has no 'The payment lifecycle' section"
    drawn = re.search(r"```mermaid\n(stateDiagram-v2\n.*?)\n```", section[1], re.DOTALL)
    assert drawn, "the payment lifecycle section has no Mermaid state diagram"
    assert drawn.group(1) == state_diagram(), (
        "docs/architecture.md is out of date: paste payments.incoming.lifecycle.state_diagram() into it"
    )
    for rule in PAYMENT_TRANSITIONS:
        assert f"| `{rule.action}` |" in section[1], f"the payment lifecycle's table lacks {rule.action}"


def test_money_in_imports_nothing_of_money_out():
    """payments.payouts builds on payments.incoming (a refund reserves on its payment), never the reverse."""
    for path in (ROOT / "payments" / "incoming").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [name for name in imported if name.startswith("payments.payouts")], path.name
