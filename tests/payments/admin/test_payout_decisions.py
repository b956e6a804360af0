"""Approve and reject from the admin: a confirmation page, then one service call per row, each reported."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from payments.models import AuditEvent, EventSource, PayoutStatus
from payments.payouts import services as payout_services
from tests.factories import make_approver, make_payment, make_requester
from tests.payments.admin.conftest import logged_in, messages_of, request_payout

real_queue_send = payout_services.queue_send  # before the admin fixture replaces it with a no-op

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payout_changelist")
APPROVE = reverse("admin:payments_payout_approve")
REJECT = reverse("admin:payments_payout_reject")
NOTHING_LEFT = "Nothing else is waiting for your approval."


def run_action(client, action: str, *payouts):
    return client.post(CHANGELIST, {"action": action, ACTION_CHECKBOX_NAME: [p.pk for p in payouts]})


def test_approve_action_asks_for_confirmation_then_approves(approver_client, requester, approver):
    payout = request_payout(requester)
    page = run_action(approver_client, "approve_selected", payout)
    assert page.status_code == 200
    assert [t.name for t in page.templates][0] == "admin/payments/payout/approve_confirmation.html"
    assert "KES 500.00" in page.content.decode() and "254712345678" in page.content.decode()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL  # nothing happens before the confirmation

    done = approver_client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"}, follow=True)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED
    assert messages_of(done) == [f"Payout #{payout.pk}: approved; it will be sent.", NOTHING_LEFT]
    event = payout.events.get(action="approved")
    assert (event.actor, event.source) == (approver, EventSource.ADMIN)


def test_after_approving_the_approver_lands_on_the_next_payout_waiting_for_them(approver_client, requester, approver):
    first = request_payout(requester, phone="0712000001")
    own = request_payout(make_requester(), phone="0712000002")
    own.requested_by = approver  # (a test shortcut: the approver's own request, never theirs to approve)
    own.save(update_fields=["requested_by"])
    waiting = request_payout(requester, phone="0712000003")
    later = request_payout(requester, phone="0712000004")

    done = approver_client.post(APPROVE, {"ids": str(first.pk), "confirm": "yes"})
    assert done["Location"] == reverse("admin:payments_payout_change", args=(waiting.pk,))
    approver_client.post(APPROVE, {"ids": str(waiting.pk), "confirm": "yes"})
    last = approver_client.post(APPROVE, {"ids": str(later.pk), "confirm": "yes"}, follow=True)
    assert last.redirect_chain[-1][0] == f"{CHANGELIST}?awaiting=me"
    assert messages_of(last)[-1] == NOTHING_LEFT
    assert own.pk not in [p.pk for p in last.context["cl"].result_list]


def test_requester_cannot_approve_own_payout_through_the_admin(both_roles):
    """Even someone holding both roles: the row is reported refused and nothing changes."""
    payout = request_payout(both_roles)
    client = logged_in(both_roles)
    page = run_action(client, "approve_selected", payout)
    assert "You requested it" in page.content.decode()

    done = client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"}, follow=True)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert not payout.approvals.exists()
    assert messages_of(done) == [
        f"Payout #{payout.pk}: You requested this payout: another person must approve it.",
        NOTHING_LEFT,
    ]


def test_superuser_is_not_exempt_from_four_eyes():
    boss = make_requester("boss", is_superuser=True)
    payout = request_payout(boss)
    done = logged_in(boss).post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"}, follow=True)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL
    assert "another person must approve it" in messages_of(done)[0]


def test_requester_is_not_offered_approval(requester_client, requester):
    payout = request_payout(make_requester())
    listing = requester_client.get(CHANGELIST)
    assert listing.status_code == 200
    assert 'value="approve_selected"' not in listing.content.decode()
    run_action(requester_client, "approve_selected", payout)
    assert requester_client.get(APPROVE, {"ids": payout.pk}).status_code == 403
    assert requester_client.post(APPROVE, {"ids": payout.pk, "confirm": "yes"}).status_code == 403
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL


def test_bulk_approve_reports_each_row(approver_client, requester, approver):
    small = request_payout(requester, amount="500")
    large = request_payout(requester, amount="20000", phone="0722000111")  # needs two approvers
    rejected = request_payout(requester, amount="700")
    payout_services.payout_reject(payout_id=rejected.pk, rejected_by=make_approver(), reason="Not owed")
    own = request_payout(make_requester())
    own.requested_by = approver  # (a test shortcut: the approver's own request)
    own.save(update_fields=["requested_by"])

    page = run_action(approver_client, "approve_selected", small, large, rejected, own)
    assert page.context["rows"][2]["notes"] == ["It is rejected: it will be refused."]
    done = approver_client.post(
        APPROVE, {"ids": ",".join(str(p.pk) for p in (small, large, rejected, own)), "confirm": "yes"}, follow=True
    )
    assert messages_of(done) == [
        f"Payout #{small.pk}: approved; it will be sent.",
        f"Payout #{large.pk}: approval recorded (1 of 2 approvals); it needs another approver.",
        f"Payout #{rejected.pk}: Payout #{rejected.pk} is rejected, not pending approval.",
        f"Payout #{own.pk}: You requested this payout: another person must approve it.",
        NOTHING_LEFT,
    ]
    for payout in (small, large, rejected, own):
        payout.refresh_from_db()
    assert {p.pk: p.status for p in (small, large, rejected, own)} == {
        small.pk: PayoutStatus.APPROVED,
        large.pk: PayoutStatus.PENDING_APPROVAL,
        rejected.pk: PayoutStatus.REJECTED,
        own.pk: PayoutStatus.PENDING_APPROVAL,
    }


def test_reject_asks_for_a_reason(approver_client, requester, approver):
    first, second = request_payout(requester), request_payout(requester, amount="800")
    page = run_action(approver_client, "reject_selected", first, second)
    assert [t.name for t in page.templates][0] == "admin/payments/payout/reject_confirmation.html"
    assert 'name="reason"' in page.content.decode()

    ids = f"{first.pk},{second.pk}"
    again = approver_client.post(REJECT, {"ids": ids, "confirm": "yes", "reason": ""})
    assert again.status_code == 200
    assert again.context["form"].errors["reason"]
    first.refresh_from_db()
    assert first.status == PayoutStatus.PENDING_APPROVAL

    done = approver_client.post(
        REJECT, {"ids": ids, "confirm": "yes", "reason": "Invoice was paid already"}, follow=True
    )
    assert messages_of(done) == [f"Payout #{first.pk}: rejected.", f"Payout #{second.pk}: rejected."]
    for payout in (first, second):
        payout.refresh_from_db()
        assert payout.status == PayoutStatus.REJECTED
        assert payout.review_reason == "Invoice was paid already"
        event = payout.events.get(action="rejected")
        assert (event.actor, event.details["reason"]) == (approver, "Invoice was paid already")


def test_refund_to_another_phone_is_shown_prominently_to_approvers(approver_client, requester):
    payment = make_payment(phone="254712345678")
    refund = payout_services.payment_refund(
        payment_id=payment.pk, requested_by=requester, reason="Wrong item", phone="0799000126"
    )
    page = run_action(approver_client, "approve_selected", refund).content.decode()
    assert "payout-warning" in page
    assert "This refund goes to 254799000126, not to the number that paid (254712345678)" in page
    change = approver_client.get(reverse("admin:payments_payout_change", args=(refund.pk,))).content.decode()
    assert "This refund goes to 254799000126, not to the number that paid (254712345678)" in change
    listing = approver_client.get(CHANGELIST).content.decode()
    assert "other phone" in listing


def test_change_page_buttons_lead_to_the_same_confirmation(approver_client, requester):
    payout = request_payout(requester)
    change = approver_client.get(reverse("admin:payments_payout_change", args=(payout.pk,)))
    assert f"{APPROVE}?ids={payout.pk}" in change.content.decode()
    page = approver_client.get(APPROVE, {"ids": payout.pk})
    assert page.status_code == 200 and page.context["rows"][0]["payout"] == payout


def test_every_decision_is_in_the_audit_trail_with_its_actor(approver_client, requester, approver):
    payout = request_payout(requester)
    approver_client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"})
    actions = list(AuditEvent.objects.filter(payout=payout).values_list("action", "actor__username", "source"))
    assert actions == [("requested", "rita", "admin"), ("approved", "alan", "admin")]


def test_a_large_decision_is_reported_by_outcome_and_each_refusal(approver_client, requester, approver):
    payouts = [request_payout(requester, amount=str(100 + n), phone=f"07120000{n:02d}") for n in range(24)]
    own = request_payout(make_requester())
    own.requested_by = approver
    own.save(update_fields=["requested_by"])
    ids = ",".join(str(p.pk) for p in [*payouts, own])
    done = approver_client.post(APPROVE, {"ids": ids, "confirm": "yes"}, follow=True)
    reported = messages_of(done)
    assert reported[0] == "Payouts " + ", ".join(f"#{p.pk}" for p in payouts) + ": approved; it will be sent."
    assert reported[1] == f"Payout #{own.pk}: You requested this payout: another person must approve it."
    assert reported[2] == "24 of 25 done, 1 refused."


def test_batch_with_nothing_pending_says_so(approver_client):
    response = approver_client.get(APPROVE, {"batch": "999"}, follow=True)
    assert "none is pending approval" in messages_of(response)[0]


def test_approving_while_paused_says_the_payout_waits(approver_client, requester, approver):
    payout_services.payout_control_set(paused=True, changed_by=approver, reason="Incident")
    payout = request_payout(requester)
    page = approver_client.get(APPROVE, {"ids": payout.pk}).content.decode()
    assert "Payouts are PAUSED" in page
    done = approver_client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"}, follow=True)
    assert messages_of(done) == [
        f"Payout #{payout.pk}: approved; it waits until payouts are resumed (kill switch).",
        NOTHING_LEFT,
    ]


@pytest.mark.django_db(transaction=True)  # each approval really commits, as in production, so its send is queued
def test_approving_many_queues_their_sends_in_groups(approver_client, requester, monkeypatch):
    """A payroll approved in one go reaches the workers as a few messages of many ids, not one per payout."""
    monkeypatch.setattr(payout_services, "queue_send", real_queue_send)
    published: list = []
    monkeypatch.setattr(
        payout_services, "publish_each", lambda task, calls, **kw: published.extend((task.name, args) for args in calls)
    )
    monkeypatch.setattr(payout_services, "publish_now", lambda task, *args, **kw: published.append((task.name, args)))
    payouts = [request_payout(requester, phone=f"07123456{n:02d}") for n in range(45)]

    approver_client.post(APPROVE, {"ids": ",".join(str(p.pk) for p in payouts), "confirm": "yes"})

    assert {p.status for p in type(payouts[0]).objects.filter(pk__in=[p.pk for p in payouts])} == {
        PayoutStatus.APPROVED
    }
    assert [name for name, _ in published] == ["payments.tasks.send_payouts"] * 3
    groups = [args[0] for _, args in published]
    assert [len(group) for group in groups] == [20, 20, 5]
    assert sorted(pk for group in groups for pk in group) == sorted(p.pk for p in payouts)

    # One approval on its own is still one message, at once.
    published.clear()
    single = request_payout(requester, phone="0722000000")
    approver_client.post(APPROVE, {"ids": str(single.pk), "confirm": "yes"})
    assert published == [("payments.tasks.send_payouts", ([single.pk],))]
