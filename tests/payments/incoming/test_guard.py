"""A payment's status is written only by its door: the model refuses every other way at run time (as django-fsm's
`protected=True` does), and only the lifecycle opens the door."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest

from payments.models import Payment, PaymentStatus, PaymentStatusWriteRefused
from tests.factories import make_payment

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.django_db


def pending() -> Payment:
    return make_payment(status=PaymentStatus.PENDING, receipt=None, source="stk_push")


def status_in_db(payment: Payment) -> str:
    return Payment.objects.values_list("status", flat=True).get(pk=payment.pk)


def test_a_payment_may_be_created_with_its_first_status():
    payment = make_payment(status=PaymentStatus.COMPLETED)
    assert status_in_db(payment) == PaymentStatus.COMPLETED


@pytest.mark.parametrize("write", [
    lambda p: p.save(),
    lambda p: p.save(update_fields=["status", "updated_at"]),
    lambda p: Payment.objects.filter(pk=p.pk).update(status=p.status),
    lambda p: Payment.objects.bulk_update([p], ["status"]),
], ids=["save", "save-update-fields", "queryset-update", "bulk-update"])  # fmt: skip
def test_writing_the_status_outside_the_door_raises_and_writes_nothing(write):
    payment = pending()
    payment.status = PaymentStatus.COMPLETED
    with pytest.raises(PaymentStatusWriteRefused, match="payment_transition"):
        write(payment)
    assert status_in_db(payment) == PaymentStatus.PENDING


def test_other_columns_are_written_as_before():
    payment = pending()
    payment.result_description = "noted"
    payment.save(update_fields=["result_description", "updated_at"])
    Payment.objects.filter(pk=payment.pk).update(result_code="1037")
    payment.refresh_from_db()
    assert (payment.status, payment.result_code, payment.result_description) == ("pending", "1037", "noted")
    assert payment.amount == Decimal("1000.00")


def test_only_the_lifecycle_opens_the_door():
    openers = []
    for path in ROOT.glob("*/**/*.py"):
        if path.parts[len(ROOT.parts)] in {"tests", "bench", "scripts", ".venv", "var"}:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        if "payment_status_door" in names:
            openers.append(str(path.relative_to(ROOT)))
    assert sorted(openers) == ["payments/incoming/lifecycle.py"]
