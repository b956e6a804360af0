"""Shared steps of the recipients' tests: each goes through the real API routes."""

from __future__ import annotations

from payments.roles import APPROVERS, REQUESTERS
from tests.payments.factories import make_user
from tests.payments.factories import token_client as api


def make_both(username: str):
    """Someone who holds both roles: only the four eyes keep them from approving their own work."""
    return make_user(username, groups=(REQUESTERS, APPROVERS), is_staff=True)


def save_recipient(user, **fields) -> dict:
    body = {"name": "Jane Wanjiru", "rail": "mobile", "phone": "0712345678", "external_reference": "TR-001",
            "category": "trainer", **fields}
    response = api(user).post("/api/recipients/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def approve(user, recipient_id: int, **headers):
    return api(user).post(f"/api/recipients/{recipient_id}/approve/", **headers)


def active_recipient(creator, approver, **fields) -> dict:
    saved = save_recipient(creator, **fields)
    answer = approve(approver, saved["id"])
    assert answer.status_code == 200, answer.content
    return answer.json()
