"""The payout plans' console through the admin's own routes: the list with the schedule in words and the next
run, the add form with recipient lines, approve / pause / resume pages keeping the four eyes, an edit waiting
for approval, and the overview showing the next runs and a run whose batch waits for approval."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from payments.models import PayoutBatch, PayoutPlan
from tests.clock import travel_to
from tests.payments.factories import make_approver, make_requester
from tests.payments.plans.helpers import active_plan, two_recipients
from tests.payments.recipients.helpers import api

pytestmark = pytest.mark.django_db

LIST = reverse("admin:payments_payoutplan_changelist")
NEW = reverse("admin:payments_payoutplan_new")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)
    with travel_to("2026-12-09T12:00:00+03:00", tick=False):
        yield


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(recipients, **fields) -> dict:
    data = {"name": "Suppliers monthly", "frequency": "monthly", "weekday": "", "day_of_month": "25",
            "time_of_day": "17:00", "end_date": "", "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000",
            "lines-0-recipient": str(recipients[0]["id"]), "lines-0-amount": "12000",
            "lines-1-recipient": str(recipients[1]["id"]), "lines-1-amount": "8000",
            "lines-2-recipient": "", "lines-2-amount": ""}
    return {**data, **fields}


def test_a_plan_added_in_the_console_waits_then_an_approver_approves_it():
    rita, alan = make_requester("rita"), make_approver("alan")
    recipients = two_recipients(rita, alan)
    response = logged_in(rita).post(NEW, form(recipients), follow=True)
    assert "another person must approve it" in response.content.decode()
    plan = PayoutPlan.objects.get()
    assert (plan.status, plan.lines.count()) == ("pending_approval", 2)

    approve = reverse("admin:payments_payoutplan_approve", args=(plan.pk,))
    assert "Only payout approvers" in logged_in(rita).post(approve).content.decode()
    logged_in(alan).post(approve, follow=True)
    plan.refresh_from_db()
    assert plan.status == "active"

    page = logged_in(rita).get(LIST).content.decode()
    assert "Monthly on the 25th at 17:00 (Nairobi)" in page
    assert "25 Dec 2026" in page  # the next run
    detail = logged_in(rita).get(reverse("admin:payments_payoutplan_change", args=(plan.pk,))).content.decode()
    assert "Otieno Odhiambo" in detail and "KES 12,000.00" in detail and "Pause" in detail


def test_a_bad_line_is_shown_on_the_form_and_saves_nothing():
    rita, alan = make_requester("rita"), make_approver("alan")
    recipients = two_recipients(rita, alan)
    page = logged_in(rita).post(NEW, form(recipients, **{"lines-1-amount": "50.50"})).content.decode()
    assert "whole shillings" in page
    page = logged_in(rita).post(NEW, form(recipients, **{"lines-0-recipient": "", "lines-1-recipient": "",
                                                         "lines-0-amount": "", "lines-1-amount": ""})).content.decode()
    assert "at least one saved recipient" in page
    assert not PayoutPlan.objects.exists()


def test_an_edit_in_the_console_waits_for_another_person_and_pause_resume_work():
    rita, alan = make_requester("rita"), make_approver("alan")
    recipients = two_recipients(rita, alan)
    plan = active_plan(rita, alan, [{"recipient": recipients[0]["id"], "amount": "1500"}])
    edit = reverse("admin:payments_payoutplan_edit", args=(plan["id"],))
    initial = logged_in(rita).get(edit).content.decode()
    assert 'value="Trainers weekly"' in initial
    logged_in(rita).post(edit, form(recipients, name="Trainers weekly", frequency="weekly", weekday="4",
                                    day_of_month=""), follow=True)
    row = PayoutPlan.objects.get()
    assert (row.weekday, row.pending_change["weekday"]) == (0, 4)
    detail = logged_in(alan).get(reverse("admin:payments_payoutplan_change", args=(row.pk,))).content.decode()
    assert "Every Friday at 17:00 (Nairobi)" in detail and "Proposed by rita" in detail

    client = logged_in(rita)
    client.post(reverse("admin:payments_payoutplan_pause", args=(row.pk,)))
    assert PayoutPlan.objects.get().status == "paused"
    client.post(reverse("admin:payments_payoutplan_resume", args=(row.pk,)))
    assert PayoutPlan.objects.get().status == "active"


def test_the_overview_shows_the_next_runs_and_a_run_waiting_for_approval():
    rita, alan = make_requester("rita"), make_approver("alan")
    recipients = two_recipients(rita, alan)
    active_plan(rita, alan, [{"recipient": recipients[0]["id"], "amount": "1500"}])
    home = logged_in(alan).get(reverse("admin:index")).content.decode()
    assert "Mon 14 Dec 2026 09:00" in home and "Trainers weekly" in home
    call_command("run_payout_plans", "--at", "2026-12-14 09:00")
    home = logged_in(alan).get(reverse("admin:index")).content.decode()
    assert 'id="plan-runs-waiting"' in home and "Trainers weekly — 2026-12-14" in home


def test_the_batch_page_lists_the_recipient_the_run_skipped():
    rita, alan = make_requester("rita"), make_approver("alan")
    recipients = two_recipients(rita, alan)
    active_plan(rita, alan, [{"recipient": r["id"], "amount": "1500"} for r in recipients])
    api(rita).post(f"/api/recipients/{recipients[1]['id']}/archive/", {}, format="json")
    call_command("run_payout_plans", "--at", "2026-12-14 09:00")
    batch = PayoutBatch.objects.get()
    page = logged_in(alan).get(reverse("admin:payments_payoutbatch_change", args=(batch.pk,))).content.decode()
    assert "Otieno Odhiambo" in page and "is archived" in page


def test_the_dashboard_api_lists_the_next_runs_and_the_runs_waiting():
    rita, alan = make_requester("rita"), make_approver("alan")
    recipients = two_recipients(rita, alan)
    plan = active_plan(rita, alan, [{"recipient": recipients[0]["id"], "amount": "1500"}])
    call_command("run_payout_plans", "--at", "2026-12-14 09:00")
    body = api(alan).get("/api/dashboard/").json()["payout_plans"]
    assert body["next_runs"] == [{"at": "2026-12-14T09:00:00+03:00", "plan": plan["id"], "name": "Trainers weekly"}]
    batch = PayoutBatch.objects.get()
    assert body["waiting"] == [{"plan": plan["id"], "scheduled_for": "2026-12-14", "batch": batch.pk,
                                "batch_name": "Trainers weekly — 2026-12-14"}]
