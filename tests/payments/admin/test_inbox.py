"""Each person's inbox in the console (issue 31, item 10): an approver sees the payouts waiting for them, a
requester what happened to their requests; each names the payout and its amount and links to it; the header
counts the unread ones; marking them read is per person."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import make_approver
from tests.payments.admin.conftest import logged_in, request_payout

pytestmark = pytest.mark.django_db

INBOX = "/admin/inbox/"
APPROVE = reverse("admin:payments_payout_approve")
REJECT = reverse("admin:payments_payout_reject")


def page_of(client, url: str = INBOX) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def test_requester_and_approver_each_see_their_own_inbox_and_mark_it_read(
    requester, requester_client, approver, approver_client
):
    paid = request_payout(requester, amount="1500", recipient_name="Jane Trainer")
    refused = request_payout(requester, amount="700", recipient_name="Otieno Juma")

    waiting = page_of(approver_client)
    link = reverse("admin:payments_payout_change", args=(paid.pk,))
    assert f'<a href="{link}">Payout #{paid.pk} to Jane Trainer</a>' in waiting
    assert "KES 1,500.00" in waiting and "KES 700.00" in waiting and waiting.count("waits for your approval") == 2
    assert "Inbox (2 unread)" in page_of(approver_client, "/admin/")
    assert "waits for your approval" not in page_of(requester_client)  # not theirs to approve
    assert "Inbox (2 unread)" not in page_of(requester_client, "/admin/")
    assert Client().get(INBOX).status_code == 302  # anonymous: to the login page

    approver_client.post(APPROVE, {"ids": str(paid.pk), "confirm": "yes"})
    approver_client.post(REJECT, {"ids": str(refused.pk), "confirm": "yes", "reason": "Invoice was paid already"})
    mine = page_of(requester_client)
    assert f"Payout #{paid.pk} to Jane Trainer" in mine and "your request was approved by alan" in mine
    assert f"Payout #{refused.pk} to Otieno Juma" in mine and "your request was rejected by alan" in mine
    assert mine.count("<strong>New</strong>") == 2 and "Inbox (2 unread)" in page_of(requester_client, "/admin/")
    assert "waits for your approval" not in page_of(approver_client)  # decided: no longer waiting for them
    other_approver = make_approver("olga")
    assert "your request was" not in page_of(logged_in(other_approver))  # nobody's but the requester's

    requester_client.post(INBOX, {"key": ["event:999999", *keys_on(requester_client)]})
    read = page_of(requester_client)
    assert "<strong>New</strong>" not in read and read.count("<td>Read</td>") == 2
    home = page_of(requester_client, "/admin/")
    assert '<a href="/admin/inbox/" id="inbox-link">Inbox</a>' in home and "unread)" not in home


def keys_on(client) -> list[str]:
    return re.findall(r'name="key" value="([^"]+)"', client.get(INBOX).content.decode())
