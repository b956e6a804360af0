"""The payout lifecycle has one door: no module but payments/payouts/lifecycle.py writes a payout's status,
every change it makes is a row of its table, and docs/architecture.md draws that table."""

from __future__ import annotations

import ast
import json
import re
import traceback
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from payments.models import AuditAction, AuditEvent, EventSource, Payout, PayoutStatus
from payments.payouts.lifecycle import TRANSITIONS, TransitionNotAllowed, payout_transition, state_diagram
from payments.tasks import send_payout
from tests.factories import b2c_result, make_approver, make_payout, make_requester
from tests.payments.payouts.test_send_cost import daraja, daraja_settings  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[3]
LIFECYCLE = ROOT / "payments" / "payouts" / "lifecycle.py"
# Product code: every Django app and the project package (tests, benchmarks and migrations are not).
PRODUCT = [path for path in ROOT.glob("*/**/*.py")
           if path.parts[len(ROOT.parts)] not in {"tests", "bench", "scripts", ".venv", "var"}
           and "migrations" not in path.parts]
# Known writers outside the lifecycle, each with why. seed_demo inserts a made-up fortnight of history (payouts
# created in their final status with their events), which is no state change of a payout that exists.
KNOWN = {"payments/management/commands/seed_demo.py"}


def _payoutish(node: ast.AST) -> bool:
    """Whether an expression is about payouts: it names a payout (`payout`, `self.payouts`) or the model."""
    return bool(re.search(r"payout", ast.unparse(node), re.IGNORECASE))


def _status_writes(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        # payout.status = ... / payout.status_changed_at = ...
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status" and _payoutish(target.value):
                    found.append(ast.unparse(node))
        if isinstance(node, ast.Call):
            func = node.func
            keywords = {kw.arg for kw in node.keywords}
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            # Payout.objects.filter(...).update(status=...), payouts.update(status=...)
            if name == "update" and "status" in keywords and isinstance(func, ast.Attribute) and _payoutish(func.value):
                found.append(ast.unparse(node))
            # Payout(status=...), Payout.objects.create(status=...), ...get_or_create/update_or_create
            if "status" in keywords and (name == "Payout" or (
                name in {"create", "get_or_create", "update_or_create", "bulk_create"} and _payoutish(func.value)
            )):
                found.append(ast.unparse(node))
            # setattr(payout, "status", ...)
            if name == "setattr" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                    and node.args[1].value == "status" and _payoutish(node.args[0]):
                found.append(ast.unparse(node))
            # update_row(payout, ["status", ...]) (core/sql_row_writes.py)
            if name == "update_row" and len(node.args) >= 2 and _payoutish(node.args[0]) \
                    and "'status'" in ast.unparse(node.args[1]):
                found.append(ast.unparse(node))
            # payout.save(update_fields=[..., "status", ...])
            for kw in node.keywords:
                if kw.arg == "update_fields" and _payoutish(func) and "'status'" in ast.unparse(kw.value):
                    found.append(ast.unparse(node))
        # Hand-written SQL that sets a payout's status.
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(
            r"UPDATE\s+\W?payments_payout\W?\s+SET[^;]*\bstatus\b", node.value, re.IGNORECASE
        ):
            found.append(node.value)
    return found


def test_no_module_but_the_lifecycle_writes_a_payouts_status():
    assert LIFECYCLE in PRODUCT and len(PRODUCT) > 50
    writers = {}
    for path in PRODUCT:
        relative = path.relative_to(ROOT).as_posix()
        if path == LIFECYCLE or relative in KNOWN:
            continue
        found = _status_writes(ast.parse(path.read_text(), filename=relative))
        if found:
            writers[relative] = found
    assert writers == {}, "Move these status changes into payments/payouts/lifecycle.py (payout_transition)"


def _on_commit_calls(tree: ast.AST) -> list[str]:
    return [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "on_commit"]


def test_side_effects_wait_for_the_commit_through_one_door():
    door = ROOT / "mpesa_payouts" / "effects.py"
    assert _on_commit_calls(ast.parse(door.read_text())), "the door itself calls transaction.on_commit"
    assert _on_commit_calls(ast.parse("from django.db import transaction\ntransaction.on_commit(f, robust=True)"))
    callers = {path.relative_to(ROOT).as_posix(): found for path in PRODUCT if path != door
               and (found := _on_commit_calls(ast.parse(path.read_text())))}
    assert callers == {}, "Queue these through mpesa_payouts.effects.after_commit()"


def test_the_static_check_finds_each_way_of_writing_a_status():
    """The check above is only as good as what it recognises: each of these is a write it must flag."""
    samples = [
        "payout.status = 'completed'",
        "Payout.objects.filter(pk=1).update(status='failed')",
        "self.payouts.update(amount=1, status='failed')",
        "Payout.objects.create(status='completed', amount=1)",
        "Payout(status='approved')",
        "setattr(payout, 'status', 'approved')",
        "payout.save(update_fields=['status'])",
        "update_row(payout, ['status', 'updated_at'])",
        "cursor.execute('UPDATE payments_payout SET status = %s WHERE id = %s')",
    ]
    for sample in samples:
        assert _status_writes(ast.parse(sample)), sample
    assert not _status_writes(ast.parse("payment.status = 'completed'; job.save(update_fields=['status'])"))


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.mark.django_db(transaction=True)
def test_every_status_write_of_a_whole_payout_goes_through_the_lifecycle(daraja, monkeypatch):  # noqa: F811
    """Requested and approved through the API, sent by the worker's task, settled by a B2C result through its
    callback URL: every SQL statement that writes `payments_payout.status` was issued from payout_transition,
    and each change left its event with the action the table names."""
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id, **kw: None)
    writers = []

    def spy(execute, sql, params, many, context):
        if re.match(r"\s*UPDATE\s+\"payments_payout\"", sql) and '"status"' in sql.split("WHERE")[0]:
            writers.append([frame.name for frame in traceback.extract_stack()])
        return execute(sql, params, many, context)

    requester, approver = make_requester("lc-req"), make_approver("lc-appr")
    with connection.execute_wrapper(spy):
        created = _api(requester).post("/api/payouts/", {"phone": "0705912645", "amount": "10", "remarks": "Fee"},
                                       format="json")
        assert created.status_code == 201, created.content
        payout_id = created.json()["id"]
        assert _api(approver).post(f"/api/payouts/{payout_id}/approve/").status_code == 200
        send_payout(payout_id)
        payout = Payout.objects.get(pk=payout_id)
        assert payout.status == PayoutStatus.SUBMITTED
        answer = Client().post(reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token}),
                               data=json.dumps(b2c_result(payout)), content_type="application/json")
        assert answer.status_code == 200
    assert Payout.objects.get(pk=payout_id).status == PayoutStatus.COMPLETED
    assert len(writers) == 4  # approved, sending, submitted, completed
    writers_outside = [stack for stack in writers if "payout_transition" not in stack]
    assert writers_outside == []
    events = list(AuditEvent.objects.filter(payout_id=payout_id).order_by("id")
                  .values_list("action", "from_status", "to_status"))
    assert events == [
        ("requested", "", "pending_approval"),
        ("approved", "pending_approval", "approved"),
        ("sending", "approved", "sending"),
        ("submitted", "sending", "submitted"),
        ("completed", "submitted", "completed"),
    ]
    rules = {(rule.action, start, rule.to) for rule in TRANSITIONS for start in rule.sources}
    assert set(events) <= rules


@pytest.mark.django_db
def test_a_change_the_table_does_not_list_is_refused_and_writes_nothing():
    """No route can ask for these (that is the point): a callback cannot approve, nobody can move a completed
    payout back, and a status cannot be smuggled in as a field. Each raises and leaves the payout as it was."""
    payout = make_payout(status=PayoutStatus.PENDING_APPROVAL)
    completed = make_payout(status=PayoutStatus.COMPLETED, transaction_id="SGX0000001")
    refused = [
        dict(payout_id=payout.pk, action=AuditAction.APPROVED, to_status=PayoutStatus.APPROVED,
             source=EventSource.CALLBACK),
        dict(payout_id=completed.pk, action=AuditAction.APPROVED, to_status=PayoutStatus.PENDING_APPROVAL,
             source=EventSource.ADMIN),
        dict(payout_id=payout.pk, action=AuditAction.REJECTED, to_status=PayoutStatus.REJECTED,
             source=EventSource.ADMIN, fields={"status": PayoutStatus.COMPLETED}),
    ]
    for kwargs in refused:
        with pytest.raises(TransitionNotAllowed):
            payout_transition(**kwargs)
    # Listed, but not from where the payout is: nothing happens (another actor got there first).
    assert payout_transition(payout_id=completed.pk, action=AuditAction.FAILED, to_status=PayoutStatus.FAILED,
                             source=EventSource.CALLBACK) is None
    assert [p.status for p in Payout.objects.order_by("pk")] == [PayoutStatus.PENDING_APPROVAL,
                                                                  PayoutStatus.COMPLETED]
    assert not AuditEvent.objects.exists()


def test_every_transition_action_is_an_audit_action_and_every_status_is_reachable():
    assert {rule.action for rule in TRANSITIONS} <= set(AuditAction.values)
    reached = {rule.to for rule in TRANSITIONS}
    assert reached == set(PayoutStatus.values)


def test_the_architecture_page_draws_the_lifecycle_table():
    page = (ROOT / "docs" / "architecture.md").read_text()
    drawn = re.search(r"```mermaid\n(stateDiagram-v2\n.*?)\n```", page, re.DOTALL)
    assert drawn, "docs/architecture.md has no Mermaid state diagram"
    assert drawn.group(1) == state_diagram(), (
        "docs/architecture.md is out of date: paste payments.payouts.lifecycle.state_diagram() into it"
    )
    assert "docs/architecture.md" in (ROOT / "README.md").read_text()
