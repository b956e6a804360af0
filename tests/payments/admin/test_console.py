"""Where people act in the console: one time format and KES amounts, checks at "Continue", the payout page's
summary, a failed payout requested again, the list's receipt/totals/age/name search, notifications for the
people whose payouts they are, and refusals as admin pages."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse

from core.errors import InvalidState, PermissionDenied
from notifications.models import Notification
from payments.models import Payout, PayoutStatus
from payments.payouts import services as payout_services
from tests.factories import advance, make_approval, make_payment, make_payout, make_user
from tests.payments.admin.conftest import logged_in, messages_of, request_payout

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:payments_payout_changelist")


def change_url(payout) -> str:
    return reverse("admin:payments_payout_change", args=(payout.pk,))


def failed_payout(requester, **fields) -> Payout:
    payout = request_payout(requester, amount="2500", recipient_name="Jane Wanjiru", **fields)
    Payout.objects.filter(pk=payout.pk).update(
        status=PayoutStatus.FAILED, result_code="1", result_description="Insufficient funds"
    )
    payout.refresh_from_db()
    return payout


# --- one time format, local time, KES amounts ------------------------------------------------------------


def test_approvals_table_shows_local_time_in_the_console_format_and_amounts_in_kes(
    requester, approver, approver_client
):
    payout = request_payout(requester, amount="12500")
    approval = make_approval(payout, approver)
    approval.created_at = datetime(2026, 12, 1, 21, 37, 22, 773660, tzinfo=UTC)
    approval.save()
    page = approver_client.get(change_url(payout)).content.decode()
    # 21:37 UTC is 00:37 the next day in Nairobi; the raw UTC value never shows.
    assert "2 Dec 2026, 00:37" in page
    assert "21:37:22" not in page and "+00:00" not in page
    assert "KES 12,500.00" in page and "12500.00" not in page


def test_payouts_list_writes_amounts_as_kes_and_shows_the_receipt(requester, approver_client):
    make_payout(amount=Decimal("12500.00"), status=PayoutStatus.COMPLETED, transaction_id="UAB1234XYZ")
    page = approver_client.get(CHANGELIST).content.decode()
    assert "KES 12,500.00" in page
    assert "UAB1234XYZ" in page


# --- the refund form checks the amount at Continue -----------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("1200", "more than the refundable remainder"),
        ("100.50", "whole shillings"),
        ("5", "smallest payout"),
    ],
)
def test_refund_amount_is_checked_at_continue_before_the_confirmation(requester_client, amount, message):
    payment = make_payment(amount=Decimal("1000.00"))
    response = requester_client.post(
        reverse("admin:payments_payment_refund", args=(payment.pk,)), {"amount": amount, "reason": "Returned"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Yes, request this refund" not in page  # still the form, not the confirmation
    assert message in str(response.context["form"].errors["amount"])
    assert not Payout.objects.exists()


def test_the_disbursement_form_names_every_bad_field_at_once(requester_client):
    response = requester_client.post(
        reverse("admin:payments_payout_add"),
        {"phone": "12345", "amount": "100.50", "command_id": "BusinessPayment", "remarks": "x"},
    )
    errors = response.context["form"].errors
    assert "Kenyan mobile number" in str(errors["phone"])
    assert "whole shillings" in str(errors["amount"])
    assert "at least 2 characters" in str(errors["remarks"])
    assert not Payout.objects.exists()


def test_the_refund_form_names_every_bad_field_at_once(requester_client):
    payment = make_payment(amount=Decimal("1000.00"))
    response = requester_client.post(
        reverse("admin:payments_payment_refund", args=(payment.pk,)),
        {"amount": "100.50", "reason": "x", "phone": "12345"},
    )
    errors = response.context["form"].errors
    assert "Kenyan mobile number" in str(errors["phone"])
    assert "whole shillings" in str(errors["amount"])
    assert "at least 3 characters" in str(errors["reason"])
    assert not Payout.objects.exists()


def test_the_amount_box_offers_only_whole_shillings(requester_client):
    payment = make_payment(amount=Decimal("1000.00"))
    for url in (reverse("admin:payments_payout_add"), reverse("admin:payments_payment_refund", args=(payment.pk,))):
        page = requester_client.get(url).content.decode()
        box = page[page.index('name="amount"') :].split(">", 1)[0]
        assert 'step="1"' in box and 'inputmode="numeric"' in box, box


@override_settings(PAYOUT_RECIPIENT_DAILY_LIMIT=Decimal("1500"))
def test_disbursement_over_a_daily_limit_is_refused_at_continue(requester, requester_client):
    request_payout(requester, amount="1000", phone="0712345678")
    response = requester_client.post(
        reverse("admin:payments_payout_add"),
        {"phone": "0712345678", "amount": "800", "command_id": "BusinessPayment", "remarks": "March fee"},
    )
    assert response.status_code == 200 and "Yes, request this payout" not in response.content.decode()
    assert "above KES 1,500.00" in str(response.context["form"].errors)
    assert Payout.objects.count() == 1


# --- the payout page -----------------------------------------------------------------------------------


def test_payout_page_opens_with_a_summary_of_who_did_what_and_what_happens_next(requester, approver, approver_client):
    payout = request_payout(requester, amount="700")
    payout_services.payout_update(payout_id=payout.pk, updated_by=requester, remarks="April fee")
    payout_services.payout_approve(payout_id=payout.pk, approved_by=approver)
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.COMPLETED, transaction_id="UAB7777XYZ")
    response = approver_client.get(change_url(payout))
    summary = response.context["summary"]
    page = response.content.decode()
    assert page.index("payout-summary") < page.index("field-status_badge")  # the summary comes first
    assert "M-Pesa receipt" in page and "UAB7777XYZ" in page
    assert [edit["who"] for edit in summary["edits"]] == [str(requester)]
    assert summary["edits"][0]["what"] == "remarks"
    assert [str(a["who"]) for a in summary["approvals"]] == [str(approver)]
    assert summary["next"] == "Nothing: M-Pesa paid it."


def test_events_read_as_sentences_with_their_details_as_lines_not_json(requester, approver_client):
    payout = request_payout(requester, amount="700")
    payout_services.payout_update(payout_id=payout.pk, updated_by=requester, amount=Decimal("900"))
    page = approver_client.get(change_url(payout)).content.decode()
    assert f"{requester} requested it" in page
    assert f"{requester} edited it" in page
    assert "<strong>Amount:</strong> KES 700.00 → KES 900.00" in page
    assert "&quot;from&quot;" not in page


def test_read_only_payout_page_shows_no_form_hints(requester, approver_client):
    payout = request_payout(requester, recipient_type="trainer")
    page = approver_client.get(change_url(payout)).content.decode()
    assert "trainer" in page
    assert "e.g. customer, trainer, client" not in page


def test_read_only_notification_page_shows_no_form_hints(requester, requester_client):
    note = Notification.objects.create(
        alert="payout_failed", to="254700000001", body="Failed", payout=request_payout(requester), dedupe_key="h"
    )
    page = requester_client.get(reverse("admin:notifications_notification_change", args=(note.pk,))).content.decode()
    assert "The text message, as sent when no approved template is configured." not in page


def test_a_different_name_reported_by_mpesa_is_flagged(requester, approver_client):
    payout = request_payout(requester, recipient_name="Jane Wanjiru")
    Payout.objects.filter(pk=payout.pk).update(
        status=PayoutStatus.COMPLETED, transaction_id="UAB1111XYZ", receiver_name="PETER OTIENO"
    )
    flagged = approver_client.get(change_url(payout)).content.decode()
    assert "not the name we intended" in flagged.lower()
    Payout.objects.filter(pk=payout.pk).update(receiver_name="JANE W WANJIRU")
    same = approver_client.get(change_url(payout)).content.decode()
    assert "not the name we intended" not in same.lower()


def test_failed_payout_shows_what_the_code_means_and_what_to_do(requester, requester_client):
    payout = failed_payout(requester)
    page = requester_client.get(change_url(payout)).content.decode()
    assert "Insufficient funds in our B2C utility account" in page  # the catalogue's meaning of code 1
    assert "Top up the B2C utility account" in page
    assert reverse("admin:payments_payout_request_again", args=(payout.pk,)) in page


def test_a_failed_payout_says_m_pesa_paid_nothing_and_its_next_step_points_at_why(requester, requester_client):
    page = requester_client.get(change_url(failed_payout(requester))).content.decode()
    assert "none: M-Pesa paid nothing" in page and "none yet" not in page
    assert 'id="why-it-failed"' in page
    assert "Fix the cause (&quot;Why it failed&quot;, above)" in page


def test_a_payout_marked_failed_on_review_carries_the_reviewers_note_to_its_page_and_alert(
    settings, requester, approver_client
):
    settings.ADMIN_WHATSAPP_NUMBERS = ["254700000001"]
    payout = make_payout(status=PayoutStatus.NEEDS_REVIEW, requested_by=requester)
    note = "Portal shows no such transaction"
    response = approver_client.post(
        reverse("admin:payments_payout_review", args=(payout.pk,)), {"resolution": "failed", "note": note}
    )
    assert response.status_code == 302
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED

    page = approver_client.get(change_url(payout)).content.decode()
    assert f"Marked failed on review by alan: {note}" in page
    alert = Notification.objects.get(alert="payout_failed").body
    assert f"Marked failed on review by alan: {note}" in alert
    assert "Code -" not in alert and "No description" not in alert


def test_a_note_in_the_case_file_is_shown_with_its_author_in_order_with_the_events(
    requester, approver, approver_client, requester_client
):
    payout = failed_payout(requester)
    add_note = reverse("admin:payments_payout_add_note", args=(payout.pk,))
    assert add_note in approver_client.get(change_url(payout)).content.decode()  # the form is on the page

    done = approver_client.post(add_note, {"text": "Called Jane: her line was off; she gave 0722 000 111"})
    assert done.status_code == 302 and done["Location"] == change_url(payout) + "#case-file"
    requester_client.post(add_note, {"text": "Asked finance to top up"})
    refused = approver_client.post(add_note, {"text": " "}, follow=True)
    assert "The note was not added: A note must have at least 2 characters." in messages_of(refused)

    page = requester_client.get(change_url(payout)).content.decode()
    history = page[page.index("Case file: events and notes") :]
    requested = history.index("rita requested it")
    first = history.index("Note: Called Jane: her line was off")
    second = history.index("Note: Asked finance to top up")
    assert requested < first < second  # one story, oldest first
    assert "alan (note)" in history and "rita (note)" in history
    assert payout.notes.count() == 2  # the refused blank note changed nothing


# --- Request again -------------------------------------------------------------------------------------


def test_request_again_makes_a_new_linked_payout_under_four_eyes(requester, approver, requester_client):
    payout = failed_payout(requester)
    url = reverse("admin:payments_payout_request_again", args=(payout.pk,))
    confirm = requester_client.get(url)
    assert confirm.status_code == 200 and "Yes, request it again" in confirm.content.decode()
    assert Payout.objects.count() == 1
    response = requester_client.post(url)
    retry = Payout.objects.exclude(pk=payout.pk).get()
    assert response.status_code == 302 and response.url == change_url(retry)
    assert retry.retry_of == payout and retry.status == PayoutStatus.PENDING_APPROVAL
    assert (retry.amount, retry.phone, retry.command_id) == (payout.amount, payout.phone, payout.command_id)
    assert retry.originator_conversation_id != payout.originator_conversation_id
    assert list(retry.events.values_list("action", flat=True)) == ["requested", "requested_again"]
    assert payout.events.filter(action="retried", details__retried_as=retry.pk).exists()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED  # the failed one is never sent again
    with pytest.raises(PermissionDenied):  # the one who asked again cannot approve it
        payout_services.payout_approve(payout_id=retry.pk, approved_by=requester)
    payout_services.payout_approve(payout_id=retry.pk, approved_by=approver)
    # Asked twice (a double click): refused, nothing more created.
    again = requester_client.post(url, follow=True)
    assert any("already requested again" in m for m in messages_of(again))
    assert Payout.objects.count() == 2


def test_request_again_to_a_corrected_phone_and_name_under_the_same_four_eyes(
    requester, approver, approver_client, requester_client
):
    payout = failed_payout(requester)
    url = reverse("admin:payments_payout_request_again", args=(payout.pk,))
    confirm = requester_client.get(url).content.decode()
    assert 'name="phone"' in confirm and 'value="254712345678"' in confirm and 'name="recipient_name"' in confirm

    bad = requester_client.post(url, {"phone": "12345", "recipient_name": "Jane Wanjiru"})
    assert bad.status_code == 400 and "Kenyan mobile number" in bad.content.decode()
    assert Payout.objects.count() == 1  # nothing created

    requester_client.post(url, {"phone": "0722 000 111", "recipient_name": "Jane W. Wanjiru"})
    retry = Payout.objects.exclude(pk=payout.pk).get()
    assert (retry.phone, retry.recipient_name, retry.amount) == ("254722000111", "Jane W. Wanjiru", payout.amount)
    assert retry.requested_by == requester and retry.status == PayoutStatus.PENDING_APPROVAL
    event = retry.events.get(action="requested_again")
    assert event.details["phone"] == {"from": "254712345678", "to": "254722000111"}
    # Its approval is as any payout's: not by the one who asked, by another approver through the admin.
    with pytest.raises(PermissionDenied):
        payout_services.payout_approve(payout_id=retry.pk, approved_by=requester)
    approver_client.post(reverse("admin:payments_payout_approve"), {"ids": str(retry.pk), "confirm": "yes"})
    retry.refresh_from_db()
    assert retry.status == PayoutStatus.APPROVED


def test_request_again_of_a_refund_reserves_the_amount_again(requester):
    payment = make_payment(amount=Decimal("1000.00"))
    refund = payout_services.payment_refund(
        payment_id=payment.pk, requested_by=requester, reason="Returned", amount=Decimal("600"), source="admin"
    )
    Payout.objects.filter(pk=refund.pk).update(status=PayoutStatus.APPROVED)  # approved by someone else
    advance(refund.pk, PayoutStatus.SENDING)
    advance(refund.pk, PayoutStatus.FAILED)
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("0.00")  # the failure gave it back
    retry = payout_services.payout_request_again(payout_id=refund.pk, requested_by=requester)
    payment.refresh_from_db()
    assert retry.payment_id == payment.pk and payment.refunded_amount == Decimal("600.00")


def test_only_a_failed_payout_can_be_requested_again(requester):
    payout = request_payout(requester)
    with pytest.raises(InvalidState):
        payout_services.payout_request_again(payout_id=payout.pk, requested_by=requester)
    assert Payout.objects.count() == 1


# --- the payouts list ----------------------------------------------------------------------------------


def test_list_shows_count_and_total_for_the_filter_in_view(approver_client):
    make_payout(amount=Decimal("1000.00"), status=PayoutStatus.FAILED)
    make_payout(amount=Decimal("2500.00"), status=PayoutStatus.FAILED)
    make_payout(amount=Decimal("9999.00"), status=PayoutStatus.SUBMITTED)
    page = approver_client.get(CHANGELIST, {"status__exact": "failed"}).content.decode()
    assert "In view: 2 payouts, KES 3,500.00." in page


def test_list_gives_no_totals_beyond_the_bound(approver_client, monkeypatch):
    from payments.admin import payouts as payout_admin

    monkeypatch.setattr(payout_admin, "TOTALS_CAP", 1)
    make_payout()
    make_payout()
    page = approver_client.get(CHANGELIST).content.decode()
    assert "In view:" not in page and "choose a status, date or other filter" in page


def test_age_counts_only_open_payouts(approver_client):
    make_payout(status=PayoutStatus.COMPLETED, transaction_id="UAB2222XYZ")
    make_payout(status=PayoutStatus.PENDING_APPROVAL)
    response = approver_client.get(CHANGELIST)
    ages = {row.status: response.context["cl"].model_admin.age(row) for row in response.context["cl"].result_list}
    assert ages[PayoutStatus.COMPLETED] == "-"
    assert ages[PayoutStatus.PENDING_APPROVAL] == "0 min"


def test_search_finds_payouts_by_recipient_name_in_any_case(approver_client):
    wanted = make_payout(recipient_name="Wanjiku Kamau")
    make_payout(recipient_name="Otieno Juma")
    found = approver_client.get(CHANGELIST, {"q": "wanjiKU"}).context["cl"].result_list
    assert [p.pk for p in found] == [wanted.pk]
    by_phone = approver_client.get(CHANGELIST, {"q": "0705912645"}).context["cl"].result_list
    assert len(by_phone) == 2  # the other searches still work


# --- notifications and refusals ------------------------------------------------------------------------


def test_requesters_see_the_notifications_of_their_payouts_read_only(requester, requester_client):
    mine = request_payout(requester)
    theirs = make_payout()
    Notification.objects.create(alert="payout_failed", to="254700000001", body="Mine failed", payout=mine,
                                dedupe_key="a")  # fmt: skip
    Notification.objects.create(alert="payout_failed", to="254700000001", body="Theirs failed", payout=theirs,
                                dedupe_key="b")  # fmt: skip
    listing = requester_client.get(reverse("admin:notifications_notification_changelist"))
    assert listing.status_code == 200
    shown = [n.body for n in listing.context["cl"].result_list]
    assert shown == ["Mine failed"]
    note = Notification.objects.get(body="Mine failed")
    page = requester_client.get(reverse("admin:notifications_notification_change", args=(note.pk,)))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert "resend" not in listing.context["cl"].model_admin.get_actions(listing.wsgi_request)
    # And from the payout's own page.
    payout_page = requester_client.get(change_url(mine)).content.decode()
    assert reverse("admin:notifications_notification_change", args=(note.pk,)) in payout_page


def test_a_refused_page_is_an_admin_page_that_says_why_and_logs_no_traceback(approver_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = approver_client.get(reverse("admin:payments_payout_add"))
    page = response.content.decode()
    assert response.status_code == 403
    assert "Only payout requesters can request disbursements." in page
    assert 'id="header"' in page  # the console's header, not a bare "403 Forbidden"
    assert all(record.exc_info is None for record in caplog.records)


def test_django_admins_own_refusals_are_console_pages_too(caplog):
    client = logged_in(make_user("staffonly", is_staff=True))
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("admin:payments_darajacredentialset_add"))
    assert response.status_code == 403
    assert 'id="header"' in response.content.decode()
    assert "403 Forbidden" not in response.content.decode()
