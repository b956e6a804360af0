"""`/api/payout-plans/`: a plan is created pending approval and runs only once a second person approves it; a
change of an approved plan waits for someone other than its proposer, and the runs use the plan as approved
until then; pause and resume need no approval; bad input is a 400 that writes nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from payments.models import AuditEvent, Payout, PayoutPlan
from tests.clock import travel_to
from tests.payments.factories import make_requester, make_user
from tests.payments.plans.helpers import active_plan, approve_plan, create_plan, plan_body, two_recipients
from tests.payments.recipients.helpers import api, make_both

pytestmark = pytest.mark.django_db

CREATED = "2026-12-09T12:00:00+03:00"  # a Wednesday


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)
    with travel_to(CREATED, tick=False):
        yield


@pytest.fixture
def recipients(rita, alan):
    return two_recipients(rita, alan)


def lines(recipients, *amounts):
    return [{"recipient": r["id"], "amount": a} for r, a in zip(recipients, amounts, strict=False)]


def test_a_new_plan_waits_for_a_second_person_then_shows_its_next_runs(rita, alan, recipients):
    plan = create_plan(rita, lines(recipients, "1500", "2000"))
    assert (plan["status"], plan["next_runs"], plan["schedule"]) == (
        "pending_approval", [], "Every Monday at 09:00 (Nairobi)")
    assert [(line["recipient_name"], line["amount"]) for line in plan["lines"]] == [
        ("Jane Wanjiru", "1500.00"), ("Otieno Odhiambo", "2000.00")]
    approved = approve_plan(alan, plan["id"]).json()
    assert approved["status"] == "active"
    assert approved["next_runs"] == ["2026-12-14T09:00:00+03:00", "2026-12-21T09:00:00+03:00",
                                     "2026-12-28T09:00:00+03:00"]
    assert approved["approved_by"] == "alan"
    listed = api(rita).get("/api/payout-plans/").json()
    assert [p["name"] for p in (listed["results"] if isinstance(listed, dict) else listed)] == ["Trainers weekly"]


def test_the_creator_cannot_approve_their_own_plan_even_holding_both_roles(alan, recipients):
    both = make_both("bea")
    plan = create_plan(both, lines(recipients, "1500"))
    response = approve_plan(both, plan["id"])
    assert (response.status_code, response.json()["code"]) == (403, "own_edit")
    assert PayoutPlan.objects.get().status == "pending_approval"


def test_a_requester_cannot_approve_and_an_approver_cannot_create(rita, alan, recipients):
    plan = create_plan(rita, lines(recipients, "1500"))
    assert approve_plan(make_requester("rob"), plan["id"]).status_code == 403
    assert api(alan).post("/api/payout-plans/", plan_body(lines(recipients, "1500")), format="json").status_code == 403


def test_a_pending_change_does_not_change_the_runs_until_approved(rita, alan, recipients):
    plan = active_plan(rita, alan, lines(recipients, "1500", "2000"))
    bob = make_both("bob")
    changed = api(bob).patch(f"/api/payout-plans/{plan['id']}/", {"lines": lines(recipients, "9000")},
                             format="json").json()
    assert changed["pending_change"]["lines"] == [{"recipient": recipients[0]["id"], "amount": "9000.00"}]
    assert len(changed["lines"]) == 2  # still the approved plan

    refused = approve_plan(bob, plan["id"])
    assert (refused.status_code, refused.json()["code"]) == (403, "own_edit")
    call_command("run_payout_plans", "--at", "2026-12-14 09:00")
    assert sorted(Payout.objects.values_list("amount", flat=True)) == [1500, 2000]

    assert approve_plan(alan, plan["id"]).json()["pending_change"] == {}
    call_command("run_payout_plans", "--at", "2026-12-21 09:00")
    assert sorted(Payout.objects.filter(occasion="2026-12-21").values_list("amount", flat=True)) == [9000]
    actions = AuditEvent.objects.filter(details__plan=plan["id"]).order_by("pk").values_list("action", flat=True)
    assert "plan_change_proposed" in actions and "plan_change_approved" in actions


def test_a_rejected_change_leaves_the_plan_as_approved(rita, alan, recipients):
    plan = active_plan(rita, alan, lines(recipients, "1500"))
    api(rita).patch(f"/api/payout-plans/{plan['id']}/", {"weekday": 4}, format="json")
    answer = api(alan).post(f"/api/payout-plans/{plan['id']}/reject/", {"reason": "Fridays are wrong"},
                            format="json").json()
    assert (answer["weekday"], answer["pending_change"]) == (0, {})
    assert api(alan).post(f"/api/payout-plans/{plan['id']}/approve/").status_code == 409


def test_pause_and_resume_need_no_approval_and_are_audited(rita, alan, recipients):
    plan = active_plan(rita, alan, lines(recipients, "1500"))
    paused = api(rita).post(f"/api/payout-plans/{plan['id']}/pause/").json()
    assert (paused["status"], paused["next_runs"]) == ("paused", [])
    assert api(rita).post(f"/api/payout-plans/{plan['id']}/pause/").status_code == 409
    assert api(rita).post(f"/api/payout-plans/{plan['id']}/resume/").json()["status"] == "active"
    assert AuditEvent.objects.filter(action__in=["plan_paused", "plan_resumed"], actor=rita).count() == 2


@pytest.mark.parametrize(("change", "field"), [
    ({"lines": [{"recipient": "R1", "amount": "abc"}]}, "lines"),
    ({"amount_line": "x"}, "non_field_errors"),
    ({"weekday": 7}, "weekday"),
    ({"weekday": -1}, "weekday"),
    ({"lines": []}, "lines"),
    ({"time_of_day": "9am"}, "time_of_day"),
    ({"frequency": "daily"}, "frequency"),
])
def test_bad_input_is_a_400_naming_the_field(rita, recipients, change, field):
    body = {**plan_body(lines(recipients, "1500")), **change}
    response = api(rita).post("/api/payout-plans/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not PayoutPlan.objects.exists()


@pytest.mark.parametrize(("body_lines", "code", "words"), [
    ([{"recipient": 999999, "amount": "1500"}], "invalid_recipient", "No recipient #999999"),
    ([{"recipient": "FIRST", "amount": "1500.50"}], "amount", "whole shillings"),
    ([{"recipient": "FIRST", "amount": "99999999"}], "amount", "largest single payout"),
    ([{"recipient": "FIRST", "amount": "100"}, {"recipient": "FIRST", "amount": "200"}], "invalid_lines", "twice"),
])
def test_a_rule_broken_is_a_400_with_its_code(rita, recipients, body_lines, code, words):
    for line in body_lines:
        if line["recipient"] == "FIRST":
            line["recipient"] = recipients[0]["id"]
    response = api(rita).post("/api/payout-plans/", plan_body(body_lines), format="json")
    assert (response.status_code, response.json()["code"]) == (400, code), response.content
    assert words in response.json()["detail"]
    assert not PayoutPlan.objects.exists()


def test_a_monthly_plan_needs_its_day_and_an_archived_recipient_is_refused(rita, recipients):
    body = plan_body(lines(recipients, "1500"), frequency="monthly", weekday=None)
    response = api(rita).post("/api/payout-plans/", body, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_day_of_month")
    api(rita).post(f"/api/recipients/{recipients[0]['id']}/archive/", {}, format="json")
    response = api(rita).post("/api/payout-plans/", plan_body(lines(recipients, "1500")), format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_recipient")


def test_a_bad_patch_changes_nothing(rita, alan, recipients):
    plan = active_plan(rita, alan, lines(recipients, "1500"))
    response = api(rita).patch(f"/api/payout-plans/{plan['id']}/", {"day_of_month": 40}, format="json")
    assert response.status_code == 400
    assert PayoutPlan.objects.get().pending_change == {}


def test_the_openapi_document_still_builds_with_the_plans():
    schema = api(make_user(is_staff=True, is_superuser=True)).get("/api/schema/?format=json").json()
    assert "/api/payout-plans/{id}/approve/" in schema["paths"]
    assert "/api/payout-plans/{id}/runs/" in schema["paths"]


def test_a_new_schedule_counts_from_its_approval_and_never_pays_an_occurrence_before_it(rita, alan, recipients):
    plan = active_plan(rita, alan, lines(recipients, "1500"), frequency="weekly", weekday=4)  # Fridays
    # On Tuesday 15 December the plan becomes Mondays: Monday 14th, before the approval, is not paid.
    with travel_to("2026-12-15T10:00:00+03:00", tick=False):
        api(rita).patch(f"/api/payout-plans/{plan['id']}/", {"weekday": 0}, format="json")
        approve_plan(alan, plan["id"])
    call_command("run_payout_plans", "--at", "2026-12-15 10:05")
    assert not Payout.objects.exists()
    call_command("run_payout_plans", "--at", "2026-12-21 09:00")
    assert list(Payout.objects.values_list("occasion", flat=True)) == ["2026-12-21"]
