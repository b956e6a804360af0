"""`manage.py run_payout_plans`: each due occurrence becomes one batch waiting for approval, named with its
date, and nothing the second time; after an outage only the most recent missed occurrence; never one before
the plan was approved, after its end date or while paused; a recipient not active at run time is skipped with
why, on the run, the batch and the approvers' alert. A bad --at is a CommandError that changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from notifications.models import Notification
from notifications.tasks import deliver_notification
from payments.models import AuditEvent, Payout, PayoutBatch, PayoutPlanRun, PayoutStatus
from tests.clock import travel_to
from tests.payments.factories import make_requester
from tests.payments.plans.helpers import active_plan, two_recipients
from tests.payments.recipients.helpers import api

pytestmark = pytest.mark.django_db

CREATED = "2026-12-09T12:00:00+03:00"  # a Wednesday


@pytest.fixture(autouse=True)
def no_broker(monkeypatch, settings):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)
    monkeypatch.setattr(deliver_notification, "apply_async", lambda *a, **k: None)
    settings.ADMIN_WHATSAPP_NUMBERS = ["254700000001"]


@pytest.fixture
def plan(rita, alan):
    with travel_to(CREATED, tick=False):
        jane, otieno = two_recipients(rita, alan)
        return active_plan(rita, alan, [{"recipient": jane["id"], "amount": "1500"},
                                        {"recipient": otieno["id"], "amount": "2000"}])


def run(at: str | None = None) -> str:
    out = StringIO()
    call_command("run_payout_plans", *(["--at", at] if at else []), stdout=out)
    return out.getvalue()


def test_an_occurrence_becomes_one_batch_waiting_for_approval_and_nothing_the_second_time(plan):
    out = run("2026-12-14 09:00")
    batch = PayoutBatch.objects.get()
    assert batch.name == "Trainers weekly — 2026-12-14"
    assert f'batch #{batch.pk} "Trainers weekly — 2026-12-14", 2 payout(s) waiting for approval' in out
    payouts = Payout.objects.filter(batch=batch).order_by("amount")
    assert [(p.recipient_name, p.amount, p.status) for p in payouts] == [
        ("Jane Wanjiru", 1500, PayoutStatus.PENDING_APPROVAL), ("Otieno Odhiambo", 2000, PayoutStatus.PENDING_APPROVAL)]
    assert AuditEvent.objects.filter(action="plan_run_created", details__plan=plan["id"]).count() == 1

    assert "0 run(s) created." in run("2026-12-14 09:00")
    assert "0 run(s) created." in run("2026-12-16 10:00")
    assert PayoutBatch.objects.count() == 1 and Payout.objects.count() == 2
    runs = api(make_requester("rob")).get(f"/api/payout-plans/{plan['id']}/runs/").json()
    assert [(r["scheduled_for"], r["batch"]) for r in runs] == [("2026-12-14", batch.pk)]


def test_the_approvers_are_told_once_for_the_batch(plan):
    run("2026-12-14 09:05")
    alert = Notification.objects.get(alert="approval_requested")
    assert "Trainers weekly — 2026-12-14" in alert.body
    assert f"payout plan #{plan['id']} for 2026-12-14" in alert.body


def test_nothing_is_due_before_the_first_occurrence_after_approval(plan):
    # Approved on Wednesday 9 December: Monday 7 December's occurrence is before it and never created.
    assert "0 run(s) created." in run("2026-12-13 23:00")
    assert not PayoutPlanRun.objects.exists()


def test_after_an_outage_only_the_most_recent_missed_occurrence_is_created(plan):
    out = run("2027-01-05 10:00")  # 14, 21, 28 December and 4 January were missed
    assert "1 run(s) created." in out
    assert list(PayoutPlanRun.objects.values_list("scheduled_for", flat=True)) == [
        __import__("datetime").date(2027, 1, 4)]


def test_a_paused_plan_creates_nothing_and_does_not_catch_up_when_resumed(plan, rita):
    with travel_to("2026-12-10T10:00:00+03:00", tick=False):
        assert api(rita).post(f"/api/payout-plans/{plan['id']}/pause/").json()["status"] == "paused"
    assert "0 run(s) created." in run("2026-12-14 09:00")
    with travel_to("2026-12-15T10:00:00+03:00", tick=False):
        assert api(rita).post(f"/api/payout-plans/{plan['id']}/resume/").json()["status"] == "active"
    assert "0 run(s) created." in run("2026-12-15 10:00")  # the 14th fell in the pause
    assert "1 run(s) created." in run("2026-12-21 09:00")
    actions = list(AuditEvent.objects.filter(details__plan=plan["id"]).order_by("pk").values_list("action", flat=True))
    assert actions[-3:] == ["plan_paused", "plan_resumed", "plan_run_created"]


def test_no_occurrence_after_the_end_date(rita, alan):
    with travel_to(CREATED, tick=False):
        jane, _ = two_recipients(rita, alan)
        active_plan(rita, alan, [{"recipient": jane["id"], "amount": "1500"}], end_date="2026-12-20")
    assert "1 run(s) created." in run("2026-12-14 09:00")
    assert "0 run(s) created." in run("2026-12-21 09:00")


def test_a_recipient_not_active_at_run_time_is_skipped_and_the_others_paid(plan, rita):
    jane_id = plan["lines"][0]["recipient"]
    with travel_to("2026-12-10T10:00:00+03:00", tick=False):
        api(rita).patch(f"/api/recipients/{jane_id}/", {"phone": "0733000222"}, format="json")
    out = run("2026-12-14 09:00")
    assert "1 payout(s) waiting for approval, 1 skipped" in out
    assert "skipped Jane Wanjiru" in out and "waits for approval of how it is paid" in out
    batch = PayoutBatch.objects.get()
    assert list(batch.payouts.values_list("recipient_name", flat=True)) == ["Otieno Odhiambo"]
    assert batch.refused_rows[0]["cells"]["recipient_name"] == "Jane Wanjiru"
    skipped = PayoutPlanRun.objects.get().skipped
    assert [(s["recipient"], s["amount"]) for s in skipped] == [(jane_id, "1500.00")]
    body = Notification.objects.get(alert="approval_requested").body
    assert "Not in the batch (1):" in body and "Jane Wanjiru" in body


@pytest.mark.parametrize("bad", ["2026-12-14", "14/12/2026 09:00", "2026-13-01 09:00", "soon", "2026-12-14 25:00"])
def test_a_bad_at_is_refused_and_changes_nothing(plan, bad):
    with pytest.raises(CommandError, match="YYYY-MM-DD HH:MM"):
        run(bad)
    assert not PayoutPlanRun.objects.exists()


def test_without_at_the_command_reads_the_clock(plan):
    with travel_to("2026-12-14T09:30:00+03:00", tick=False):
        assert "1 run(s) created." in run()
