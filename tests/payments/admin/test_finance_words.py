"""The pages a finance person reads say things in their words: no Daraja field names, stored status values,
app labels, command lines or "payout(s)" (issue 31, item 8). The API keeps Daraja's names; only labels change."""

from __future__ import annotations

import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from notifications.models import Notification
from payments.models import Payout, PayoutStatus
from tests.factories import make_callback
from tests.payments.admin.conftest import logged_in, request_payout
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

JARGON = [
    "CommandID",
    "Command id",
    "Originator conversation id",
    "OriginatorConversationID",
    "Mpesa completed at",
    "→ pending_approval",  # a stored status value where its label belongs
    "- →",
    "manage.py",
    "Axes",  # the sidebar's app labels, upper-cased by the admin's CSS
    "Otp_",
    "Template params",
    "Dedupe key",
    "[&quot;*&quot;]",
    "[&#x27;*&#x27;]",
    "Select payout to view",
    "(s)",
]


def jargon_on(client, url: str, **post) -> list[str]:
    response = client.post(url, post) if post else client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    page = response.content.decode()
    return [word for word in JARGON if word in page]


def test_the_pages_a_finance_person_reads_use_their_words(requester, approver_client):
    call_command("seed_demo", stdout=io.StringIO())
    admin = logged_in(get_user_model().objects.get(username="admin"))
    demo_approver = logged_in(get_user_model().objects.get(username="approver"))
    completed = Payout.objects.filter(status=PayoutStatus.COMPLETED).exclude(mpesa_completed_at=None).first()
    callback = make_callback(payout=completed, originator_conversation_id=completed.originator_conversation_id)
    note = Notification.objects.create(
        alert="payout_failed",
        to="254700000001",
        body="Failed",
        payout=completed,
        dedupe_key="payout_failed:payout:1",
        template_params=["Jane", "500.00"],
    )
    WebhookEndpoint.objects.create(url="https://hooks.example.com/mpesa", events=["*"], secret_encrypted="x")
    mine = request_payout(requester, amount="750")

    pages = {
        "home and sidebar": (admin, "/admin/payments/payout/"),
        "payout and its history": (demo_approver, reverse("admin:payments_payout_change", args=(completed.pk,))),
        "payout list": (demo_approver, reverse("admin:payments_payout_changelist")),
        "events": (admin, reverse("admin:payments_auditevent_changelist")),
        "callback": (admin, reverse("admin:payments_darajacallback_change", args=(callback.pk,))),
        "reconcile": (admin, reverse("admin:payments_financejob_reconcile")),
        "export": (admin, reverse("admin:payments_financejob_export")),
        "notification": (admin, reverse("admin:notifications_notification_change", args=(note.pk,))),
        "webhook endpoints": (admin, reverse("admin:webhooks_webhookendpoint_changelist")),
    }
    found = {name: jargon_on(client, url) for name, (client, url) in pages.items()}
    found["approve one payout"] = jargon_on(
        approver_client, reverse("admin:payments_payout_changelist"),
        action="approve_selected", **{ACTION_CHECKBOX_NAME: [mine.pk]},
    )  # fmt: skip
    assert {name: words for name, words in found.items() if words} == {}

    # What replaced them says the same things.
    page = demo_approver.get(reverse("admin:payments_payout_change", args=(completed.pk,))).content.decode()
    assert "Our request reference" in page and "Payment type" in page and "Paid at (M-Pesa&#x27;s time)" in page
    assert "New → Pending approval" in page and "Business payment" in page
    sidebar = admin.get("/admin/payments/payout/").content.decode()
    assert "Sign-in attempts and lockouts" in sidebar and "Second factor: backup codes" in sidebar
    assert "All events" in admin.get(reverse("admin:webhooks_webhookendpoint_changelist")).content.decode()
    confirmation = approver_client.post(
        reverse("admin:payments_payout_changelist"), {"action": "approve_selected", ACTION_CHECKBOX_NAME: [mine.pk]}
    ).content.decode()
    assert "Approve 1 payout<" in confirmation or "Approve 1 payout " in confirmation
