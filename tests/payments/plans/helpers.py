"""Shared steps of the payout plans' tests: each goes through the real API routes."""

from __future__ import annotations

from payments.models import PayoutPlan
from tests.payments.recipients.helpers import active_recipient, api


def plan_body(lines, **fields) -> dict:
    return {"name": "Trainers weekly", "frequency": "weekly", "weekday": 0, "time_of_day": "09:00",
            "lines": lines, **fields}


def create_plan(user, lines, **fields) -> dict:
    response = api(user).post("/api/payout-plans/", plan_body(lines, **fields), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def approve_plan(user, plan_id: int):
    return api(user).post(f"/api/payout-plans/{plan_id}/approve/")


def active_plan(creator, approver, lines, **fields) -> dict:
    plan = create_plan(creator, lines, **fields)
    answer = approve_plan(approver, plan["id"])
    assert answer.status_code == 200, answer.content
    return answer.json()


def two_recipients(creator, approver) -> list[dict]:
    jane = active_recipient(creator, approver, name="Jane Wanjiru", phone="0712345678", external_reference="TR-1")
    otieno = active_recipient(creator, approver, name="Otieno Odhiambo", phone="0722000111",
                              external_reference="TR-2")
    return [jane, otieno]


def plan_row(plan_id: int) -> PayoutPlan:
    return PayoutPlan.objects.get(pk=plan_id)
