"""Operators as the admin sees them: staff users in the requester and approver groups, each with a logged-in
test client, and payouts requested through the services (as they are in production)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from payments.payouts import services as payout_services
from tests.factories import make_approver, make_requester, make_user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _no_send(monkeypatch):
    # An approval queues a send after commit; no worker runs in these tests.
    monkeypatch.setattr(payout_services, "queue_send", lambda payout_id: None)


@pytest.fixture
def requester():
    return make_requester("rita")


@pytest.fixture
def approver():
    return make_approver("alan")


@pytest.fixture
def requester_client(requester):
    return logged_in(requester)


@pytest.fixture
def approver_client(approver):
    return logged_in(approver)


@pytest.fixture
def both_roles():
    """Someone holding both roles: the services still refuse to let them approve what they requested."""
    return make_user("dual", groups=("Payout requesters", "Payout approvers"), is_staff=True)


def request_payout(requester, amount: str = "500", phone: str = "0712345678", **kw):
    return payout_services.payout_request_disbursement(
        requested_by=requester,
        phone=phone,
        amount=Decimal(amount),
        remarks=kw.pop("remarks", "Trainer fee"),
        recipient_name=kw.pop("recipient_name", "Jane Trainer"),
        source="admin",
        **kw,
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []
