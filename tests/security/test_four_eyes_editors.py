"""Four eyes covers whoever changes what is paid (issue 15, part 2).

The attack replayed: a user holding both the request and approve permissions (any superuser) edits someone
else's pending payout (new phone, new amount), then approves it alone. Each route is tried: the admin's
action and change-page button, a batch approval, the REST API; and the database and the send-time check
refuse it when the services are bypassed.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import responses
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from payments.models import PayoutApproval, PayoutBatch, PayoutEditor, PayoutStatus
from payments.payouts import dispatch
from payments.payouts import services as payout_services
from tests.factories import make_approver, make_payment, make_payout, make_requester, make_user
from tests.payments.factories import token_client as api

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payout_changelist")
APPROVE = reverse("admin:payments_payout_approve")


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr(payout_services, "queue_send", sent.append)
    return sent


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client




def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def request_payout(requester, amount="500", **kw):
    return payout_services.payout_request_disbursement(
        requested_by=requester, phone="0712345678", amount=Decimal(amount), remarks="Trainer fee",
        recipient_name="Jane Trainer", source="admin", **kw,
    )


def admin_edit(client, payout, **changes):
    data = {name: getattr(payout, name) for name in
            ("phone", "amount", "command_id", "remarks", "recipient_name", "recipient_reference", "occasion")}
    data.update(changes)
    return client.post(reverse("admin:payments_payout_edit", args=(payout.pk,)), data, follow=True)


@pytest.fixture
def insider():
    """Holds both roles, as any superuser does."""
    return make_user("insider", is_staff=True, is_superuser=True)


def test_superuser_who_changed_phone_and_amount_cannot_approve_through_the_admin(insider, no_broker):
    payout = request_payout(make_requester("rita"))
    client = logged_in(insider)
    edited = admin_edit(client, payout, phone="0799000111", amount="4900")
    assert edited.status_code == 200
    payout.refresh_from_db()
    assert (payout.phone, payout.amount) == ("254799000111", Decimal("4900.00"))

    page = client.post(CHANGELIST, {"action": "approve_selected", ACTION_CHECKBOX_NAME: [payout.pk]})
    text = page.content.decode()
    assert "You changed its amount, phone or payment type: another person must approve it." in text
    assert "rita" in text and "insider (amount, phone)" in text  # the requester and the editor, with what

    done = client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"}, follow=True)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert not payout.approvals.exists()
    assert no_broker == []
    assert messages_of(done) == [
        f"Payout #{payout.pk}: You changed this payout's amount, phone or payment type: "
        "another person must approve it.",
        "Nothing else is waiting for your approval.",
    ]
    # Someone else still can.
    other = make_approver("alan")
    logged_in(other).post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"})
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED


def test_change_page_names_the_requester_and_every_editor_and_the_audit_has_old_and_new(insider):
    payout = request_payout(make_requester("rita"))
    client = logged_in(insider)
    admin_edit(client, payout, phone="0799000111")
    payout.refresh_from_db()
    admin_edit(logged_in(make_requester("second")), payout, remarks="April fee")

    page = client.get(reverse("admin:payments_payout_change", args=(payout.pk,))).content.decode()
    assert "Edited by" in page
    assert "insider" in page and "yes: may not approve it" in page
    assert "second" in page and "remarks" in page

    events = {e.action: e for e in payout.events.all()}
    assert events["edited"].actor.username == "second"
    assert events["edited"].details == {"remarks": {"from": "Trainer fee", "to": "April fee"}}
    phone_edit = payout.events.filter(actor=insider).get()
    assert phone_edit.details == {"phone": {"from": "254712345678", "to": "254799000111"}}


def test_an_editor_of_remarks_only_may_still_approve():
    payout = request_payout(make_requester())
    both = make_user("both", groups=("Payout requesters", "Payout approvers"), is_staff=True)
    payout_services.payout_update(payout_id=payout.pk, updated_by=both, remarks="April fee")
    payout_services.payout_approve(payout_id=payout.pk, approved_by=both)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED


def test_the_change_page_approve_button_and_a_batch_approval_refuse_an_editor(insider):
    requester = make_requester("rita")
    batch = PayoutBatch.objects.create(name="March", uploaded_by=requester)
    payout = request_payout(requester, batch=batch)
    untouched = request_payout(requester, batch=batch)
    client = logged_in(insider)
    admin_edit(client, payout, command_id="SalaryPayment")

    change_page = client.get(reverse("admin:payments_payout_change", args=(payout.pk,))).content.decode()
    assert f"{APPROVE}?ids={payout.pk}" in change_page  # the button leads to the same confirmation page
    client.post(APPROVE, {"batch": str(batch.pk), "confirm": "yes"})
    payout.refresh_from_db()
    untouched.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert untouched.status == PayoutStatus.APPROVED


def test_refund_edited_by_an_approver_cannot_be_approved_by_them(insider):
    payment = make_payment(amount=Decimal("1000"))
    refund = payout_services.payment_refund(payment_id=payment.pk, requested_by=make_requester(), reason="Late",
                                            amount=Decimal("300"))
    payout_services.payout_update(payout_id=refund.pk, updated_by=insider, amount=Decimal("900"))
    with pytest.raises(payout_services.PermissionDenied):
        payout_services.payout_approve(payout_id=refund.pk, approved_by=insider)


# --- The REST API -----------------------------------------------------------------------------------


def test_api_patch_then_approve_by_the_editor_is_403_and_the_detail_names_every_editor(insider, no_broker):
    requester, approver = make_requester("rita"), make_approver("alan")
    payout = request_payout(requester)
    assert api(approver).post(f"/api/payouts/{payout.pk}/approve/").status_code == 200  # approved, then edited

    patched = api(insider).patch(f"/api/payouts/{payout.pk}/", {"phone": "0799000111", "amount": "700"},
                                 format="json")
    assert patched.status_code == 200, patched.content
    body = patched.json()
    assert (body["status"], body["phone"], body["amount"], body["approvals"]) == (
        "pending_approval", "254799000111", "700.00", [])
    assert body["requested_by"] == "rita"
    assert [(e["user"], e["fields"], e["changed_what_is_paid"]) for e in body["editors"]] == [
        ("insider", ["amount", "phone"], True)]
    voided = body["events"][-1]
    assert (voided["action"], voided["actor"]) == ("approval_voided", "insider")
    assert voided["details"]["amount"] == {"from": "500.00", "to": "700.00"}

    refused = api(insider).post(f"/api/payouts/{payout.pk}/approve/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "own_edit"
    assert "another person must approve it" in refused.json()["detail"]
    detail = api(approver).get(f"/api/payouts/{payout.pk}/").json()
    assert detail["status"] == "pending_approval"
    assert [e["user"] for e in detail["editors"]] == ["insider"]


def test_api_patch_answers_like_the_admin_edit():
    requester = make_requester("rita")
    payout = request_payout(requester)
    url = f"/api/payouts/{payout.pk}/"
    client = api(requester)

    assert client.patch(url, {"remarks": "April fee", "occasion": "April"}, format="json").status_code == 200
    bad_phone = client.patch(url, {"phone": "12345"}, format="json")
    assert bad_phone.status_code == 400 and "Kenyan mobile number" in bad_phone.json()["detail"]
    cents = client.patch(url, {"amount": "100.50"}, format="json")
    assert cents.status_code == 400 and "whole shillings" in cents.json()["detail"]
    assert client.patch(url, {"status": "approved"}, format="json").status_code == 400
    assert client.patch(url, {}, format="json").status_code == 400
    assert client.put(url, {"remarks": "x"}, format="json").status_code == 405
    assert api(make_approver()).patch(url, {"remarks": "Other"}, format="json").status_code == 403
    assert api(make_user("clerk", is_staff=True)).patch(url, {"remarks": "Other"}, format="json").status_code == 403
    assert client.patch("/api/payouts/999999/", {"remarks": "Other"}, format="json").status_code == 404
    payout.refresh_from_db()
    assert (payout.remarks, payout.occasion, payout.phone, payout.amount) == (
        "April fee", "April", "254712345678", Decimal("500.00"))

    sent = make_payout(status=PayoutStatus.SUBMITTED, requested_by=requester)
    gone = client.patch(f"/api/payouts/{sent.pk}/", {"amount": "900"}, format="json")
    assert gone.status_code == 409 and "can no longer be edited" in gone.json()["detail"]
    sent.refresh_from_db()
    assert sent.amount == Decimal("10.00")


# --- Below the services: the database and the send-time check -----------------------------------------


@pytest.mark.postgres
def test_database_refuses_an_approval_row_by_an_editor_of_what_is_paid(insider):
    payout = request_payout(make_requester())
    payout_services.payout_update(payout_id=payout.pk, updated_by=insider, phone="0799000111")
    payout.refresh_from_db()
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutApproval.objects.create(payout=payout, approver=insider, requested_by=payout.requested_by,
                                      amount=payout.amount, phone=payout.phone, command_id=payout.command_id)


def test_send_time_check_refuses_an_approval_given_by_an_editor(settings):
    settings.MPESA_BASE_URL = "https://daraja.test"
    settings.PAYOUTS_PAUSED = False
    payout = make_payout(status=PayoutStatus.APPROVED)
    insider = make_approver("insider")
    PayoutApproval.objects.create(payout=payout, approver=insider, requested_by=payout.requested_by,
                                  amount=payout.amount, phone=payout.phone, command_id=payout.command_id)
    # As if a bug or a hand-written UPDATE had let the approver change the phone after approving.
    PayoutEditor.objects.create(payout=payout, user=insider, changed_bound=True, fields=["phone"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as daraja:
        assert dispatch.payout_send(payout_id=payout.pk).outcome == "skipped"
        assert len(daraja.calls) == 0  # nothing left for M-Pesa
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert not payout.approvals.filter(voided_at__isnull=True).exists()
    event = payout.events.get(action="approval_voided")
    assert "someone who changed" in event.details["reason"]


def test_whoever_chose_what_a_failed_payout_pays_cannot_approve_its_request_again(insider, no_broker):
    """The insider edits a payout (new phone and amount), it fails, a colleague requests it again: the retry
    pays what the insider chose, so the insider may not approve it either, through the API or the database."""
    payout = request_payout(make_requester("rita"))
    assert api(insider).patch(f"/api/payouts/{payout.pk}/", {"phone": "0799000111", "amount": "700"},
                              format="json").status_code == 200
    payout.__class__.objects.filter(pk=payout.pk).update(status=PayoutStatus.FAILED, result_code="1")
    colleague = make_requester("ken")
    retry = payout_services.payout_request_again(payout_id=payout.pk, requested_by=colleague, source="api")
    assert (retry.phone, retry.amount) == ("254799000111", Decimal("700.00"))

    refused = api(insider).post(f"/api/payouts/{retry.pk}/approve/")
    assert refused.status_code == 403 and refused.json()["code"] == "own_edit", refused.content
    # The original's requester chose it too.
    rita = payout.requested_by
    rita.groups.add(*make_approver("spare").groups.all())
    assert api(rita).post(f"/api/payouts/{retry.pk}/approve/").status_code == 403
    assert api(make_approver("alan")).post(f"/api/payouts/{retry.pk}/approve/").status_code == 200
