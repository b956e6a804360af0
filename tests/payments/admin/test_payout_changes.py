"""Requesting, editing, reviewing and querying payouts from the admin: always through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from payments.daraja_client import daraja_config
from payments.models import EventSource, Payout, PayoutKind, PayoutStatus
from payments.payouts import dispatch
from payments.payouts import services as payout_services
from tests.factories import make_approver, make_payout
from tests.payments.admin.conftest import logged_in, messages_of, request_payout

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payout_changelist")


def edit_url(payout) -> str:
    return reverse("admin:payments_payout_edit", args=(payout.pk,))


def edit_data(payout, **changes) -> dict:
    data = {
        name: getattr(payout, name)
        for name in ("phone", "amount", "command_id", "remarks", "recipient_name", "recipient_reference", "occasion")
    }
    data.update(changes)
    return data


def test_add_payout_goes_through_the_request_service(requester_client, requester):
    form = requester_client.get(reverse("admin:payments_payout_add"))
    assert form.status_code == 200 and 'name="phone"' in form.content.decode()
    data = {
        "phone": "+254 712 345 678",
        "amount": "1500",
        "command_id": "BusinessPayment",
        "remarks": "March fee",
        "recipient_name": "Jane Trainer",
        "recipient_type": "trainer",
        "recipient_reference": "INV-7",
        "occasion": "",
        "reason": "Ran the March classes",
    }
    # Two steps, as a refund: "Continue" shows what will be created and creates nothing.
    confirmation = requester_client.post(reverse("admin:payments_payout_add"), data)
    page = confirmation.content.decode()
    assert confirmation.status_code == 200 and "Yes, request this payout" in page
    assert "KES 1,500.00" in page and "254712345678" in page
    assert not Payout.objects.exists()
    response = requester_client.post(
        reverse("admin:payments_payout_add"), {**data, "confirm": "1", "form_nonce": confirmation.context["form_nonce"]}
    )
    payout = Payout.objects.get()
    assert response.status_code == 302 and response.url == reverse("admin:payments_payout_change", args=(payout.pk,))
    assert (payout.kind, payout.status, payout.phone, payout.amount) == (
        PayoutKind.DISBURSEMENT,
        PayoutStatus.PENDING_APPROVAL,
        "254712345678",
        Decimal("1500.00"),
    )
    event = payout.events.get()
    assert (event.action, event.actor, event.source) == ("requested", requester, EventSource.ADMIN)


def test_add_payout_shows_the_service_refusal_on_the_form(requester_client):
    response = requester_client.post(
        reverse("admin:payments_payout_add"),
        {
            "phone": "0712345678",
            "amount": "100.50",
            "command_id": "BusinessPayment",
            "remarks": "Fee",
        },
    )
    assert response.status_code == 200
    assert "whole shillings" in str(response.context["form"].errors)
    assert not Payout.objects.exists()


def test_approver_without_request_permission_cannot_add(approver_client):
    assert approver_client.get(reverse("admin:payments_payout_add")).status_code == 403


def test_change_page_is_read_only_and_cannot_be_saved(requester_client, requester):
    payout = request_payout(requester)
    url = reverse("admin:payments_payout_change", args=(payout.pk,))
    page = requester_client.get(url)
    assert page.status_code == 200
    assert 'name="amount"' not in page.content.decode()
    assert requester_client.post(url, {"amount": "99999", "status": "approved"}).status_code == 403
    payout.refresh_from_db()
    assert (payout.amount, payout.status) == (Decimal("500.00"), PayoutStatus.PENDING_APPROVAL)


def test_editing_an_approved_payout_voids_the_approval(requester_client, requester, approver):
    payout = request_payout(requester)
    payout_services.payout_approve(payout_id=payout.pk, approved_by=approver)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED

    done = requester_client.post(edit_url(payout), edit_data(payout, amount="650"), follow=True)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert payout.amount == Decimal("650.00")
    assert not payout.approvals.filter(voided_at__isnull=True).exists()
    assert messages_of(done) == [
        f"Payout #{payout.pk} updated. 1 approval voided: the payout is back in pending approval."
    ]
    event = payout.events.order_by("-id").first()
    assert (event.action, event.actor, event.source) == ("approval_voided", requester, EventSource.ADMIN)


def test_editing_only_remarks_keeps_the_approval(requester_client, requester, approver):
    payout = request_payout(requester)
    payout_services.payout_approve(payout_id=payout.pk, approved_by=approver)
    payout.refresh_from_db()
    requester_client.post(edit_url(payout), edit_data(payout, remarks="April fee"))
    payout.refresh_from_db()
    assert (payout.status, payout.remarks) == (PayoutStatus.APPROVED, "April fee")
    assert payout.events.order_by("-id").first().action == "edited"


def test_a_sent_payout_cannot_be_edited(requester_client):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    response = requester_client.post(edit_url(payout), edit_data(payout, amount="900"), follow=True)
    assert "can no longer be edited" in messages_of(response)[0]
    payout.refresh_from_db()
    assert payout.amount == Decimal("10.00")


def test_needs_review_payout_is_marked_reviewed_with_a_receipt(approver_client, approver):
    payout = make_payout(status=PayoutStatus.NEEDS_REVIEW, review_reason="No answer to 3 queries")
    url = reverse("admin:payments_payout_review", args=(payout.pk,))
    assert "No answer to 3 queries" in approver_client.get(url).content.decode()

    missing = approver_client.post(url, {"resolution": "completed", "transaction_id": "", "note": "Portal shows it"})
    assert "receipt" in str(missing.context["form"].errors)

    # M-Pesa never reported a receipt: a typed one is recorded, and counts once a second approver confirms it.
    approver_client.post(url, {"resolution": "completed", "transaction_id": "uab1234xyz", "note": "Portal shows it"})
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_id) == (PayoutStatus.NEEDS_REVIEW, None)
    colleague = make_approver("cora")
    logged_in(colleague).post(url, {"confirm_review": "1"})
    payout.refresh_from_db()
    assert (payout.status, payout.transaction_id) == (PayoutStatus.COMPLETED, "UAB1234XYZ")
    event = payout.events.get(action="reviewed")
    assert (event.actor, event.details["note"], event.details["recorded_by"]) == (
        colleague,
        "Portal shows it",
        approver.pk,
    )


def test_needs_review_payout_without_a_reported_success_is_marked_failed_by_one_approver(approver_client):
    payout = make_payout(status=PayoutStatus.NEEDS_REVIEW, review_reason="No answer to 3 queries")
    approver_client.post(
        reverse("admin:payments_payout_review", args=(payout.pk,)),
        {"resolution": "failed", "note": "Portal shows nothing"},
    )
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED


def test_mark_reviewed_action_works_on_one_payout(approver_client):
    first = make_payout(status=PayoutStatus.NEEDS_REVIEW)
    second = make_payout(status=PayoutStatus.NEEDS_REVIEW)
    one = approver_client.post(CHANGELIST, {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [first.pk]})
    assert one.url == reverse("admin:payments_payout_review", args=(first.pk,))
    both = approver_client.post(
        CHANGELIST, {"action": "mark_reviewed", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}, follow=True
    )
    assert "one payout at a time" in messages_of(both)[0]


class FakeDaraja:
    def __init__(self):
        self.queries = []
        self.config = daraja_config()  # the query reads the shortcode a payout left from off it

    def transaction_status(self, **kwargs):
        self.queries.append(kwargs["original_conversation_id"])


def test_query_status_now_asks_for_verifying_and_needs_review_only(approver_client, monkeypatch):
    daraja = FakeDaraja()
    monkeypatch.setattr(dispatch, "daraja_client", lambda **kwargs: daraja)
    verifying = make_payout(status=PayoutStatus.VERIFYING)
    review = make_payout(status=PayoutStatus.NEEDS_REVIEW)
    done = make_payout(status=PayoutStatus.COMPLETED, transaction_id="UAB0000001")
    response = approver_client.post(
        CHANGELIST,
        {"action": "query_status_now", ACTION_CHECKBOX_NAME: [verifying.pk, review.pk, done.pk]},
        follow=True,
    )
    assert daraja.queries == [verifying.originator_conversation_id, review.originator_conversation_id]
    assert messages_of(response) == [
        f"Payout #{verifying.pk}: status query sent; M-Pesa's answer will settle the payout.",
        f"Payout #{review.pk}: status query sent; M-Pesa's answer will settle the payout.",
        f"Payout #{done.pk}: it is completed; only verifying and needs-review payouts are queried from here.",
    ]
    event = verifying.events.get(action="status_query")
    assert event.source == EventSource.ADMIN


def test_query_status_button_on_the_change_page(approver_client, monkeypatch):
    daraja = FakeDaraja()
    monkeypatch.setattr(dispatch, "daraja_client", lambda **kwargs: daraja)
    payout = make_payout(status=PayoutStatus.VERIFYING)
    url = reverse("admin:payments_payout_query_status", args=(payout.pk,))
    assert url in approver_client.get(reverse("admin:payments_payout_change", args=(payout.pk,))).content.decode()
    assert approver_client.get(url).status_code == 200 and daraja.queries == []
    approver_client.post(url)
    assert daraja.queries == [payout.originator_conversation_id]
