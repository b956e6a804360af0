"""The recipients' console through the admin's own routes: the list and its search, the approval queue, the
four eyes of its approve action, the Pay button, and the CSV import previewed, saved and approved."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from payments.models import Payout, Recipient, RecipientImport
from tests.payments.factories import make_approver, make_requester
from tests.payments.recipients.helpers import active_recipient, make_both, save_recipient

pytestmark = pytest.mark.django_db

LIST = reverse("admin:payments_recipient_changelist")
IMPORT = reverse("admin:payments_recipient_import")


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def approve_action(client, *ids):
    return client.post(LIST, {"action": "approve_selected", "_selected_action": [str(i) for i in ids]}, follow=True)


def test_the_list_searches_and_the_queue_shows_only_what_i_may_approve():
    rita, both = make_requester("rita"), make_both("carol")
    save_recipient(rita, name="Jane Wanjiru", external_reference="TR-001")
    save_recipient(both, name="Acme Supplies", rail="till", phone="", party_b="5432109", external_reference="S-2")
    client = logged_in(both)
    page = client.get(LIST, {"q": "5432109"}).content.decode()
    assert "Acme Supplies" in page and "Jane Wanjiru" not in page
    queue = client.get(LIST, {"awaiting": "me"}).content.decode()
    assert "Jane Wanjiru" in queue and "Acme Supplies" not in queue


def test_the_approve_action_keeps_the_four_eyes():
    both = make_both("carol")
    own = save_recipient(both, external_reference="A")
    other = save_recipient(make_requester("rita"), external_reference="B")
    page = approve_action(logged_in(both), own["id"], other["id"]).content.decode()
    assert "You saved this recipient" in page
    assert Recipient.objects.get(pk=own["id"]).status == "pending_approval"
    assert Recipient.objects.get(pk=other["id"]).status == "active"


def test_the_pay_button_requests_a_payout_to_an_active_recipient():
    rita = make_requester("rita")
    recipient = active_recipient(rita, make_approver("alan"), name="Acme Supplies", rail="paybill", phone="",
                                 party_b="888880", account_reference="ACC-7")
    pending = save_recipient(rita, name="Not Yet", external_reference="TR-9")
    client = logged_in(rita)
    listing = client.get(LIST).content.decode()
    pay_url = reverse("admin:payments_recipient_pay", args=(recipient["id"],))
    assert pay_url in listing
    assert reverse("admin:payments_recipient_pay", args=(pending["id"],)) not in listing

    done = client.post(pay_url, {"amount": "12000", "remarks": "March invoice", "command_id": "BusinessPayment"})
    payout = Payout.objects.get()
    assert done.url == reverse("admin:payments_payout_change", args=(payout.pk,))
    assert (payout.rail, payout.party_b, payout.account_reference, payout.status) == (
        "paybill", "888880", "ACC-7", "pending_approval")

    refused = client.post(reverse("admin:payments_recipient_pay", args=(pending["id"],)),
                          {"amount": "100", "remarks": "Fee", "command_id": "BusinessPayment"})
    assert "waits for approval" in refused.content.decode()
    assert Payout.objects.count() == 1


def test_a_changed_number_in_the_console_voids_the_approval():
    rita = make_requester("rita")
    recipient = active_recipient(rita, make_approver("alan"))
    edit = reverse("admin:payments_recipient_edit", args=(recipient["id"],))
    logged_in(rita).post(edit, {"name": recipient["name"], "rail": "mobile", "phone": "0722000111",
                                "external_reference": "TR-001", "category": "trainer"})
    assert Recipient.objects.get(pk=recipient["id"]).status == "pending_approval"
    page = logged_in(rita).get(reverse("admin:payments_recipient_change", args=(recipient["id"],)))
    assert "(was 254712345678, now 254722000111)" in page.content.decode()


IMPORT_CSV = (
    "name,rail,phone,party_b,account_reference,external_reference,category\n"
    "Jane Wanjiru,mobile,0712345678,,,TR-001,trainer\n"
    "Acme Supplies,paybill,,888880,ACC-7,SUP-002,supplier\n"
    "Broken,mobile,12345,,,TR-003,trainer\n"
    "Twice,till,,5432109,,TR-001,supplier\n"
)


def test_an_import_is_previewed_then_saved_pending_then_approved_by_another_person():
    rita, alan = make_requester("rita"), make_approver("alan")
    client = logged_in(rita)
    preview = client.post(IMPORT, {"file": SimpleUploadedFile("people.csv", IMPORT_CSV.encode())})
    content = preview.content.decode()
    assert "2 rows will become recipients pending approval; 2 rows refused." in content
    assert "Paybill 888880, account ACC-7" in content and "also on line 2" in content
    assert not Recipient.objects.exists()

    saved = client.post(IMPORT, {"token": preview.context["token"]})
    batch = RecipientImport.objects.get()
    assert saved.url == reverse("admin:payments_recipientimport_change", args=(batch.pk,))
    assert sorted(batch.recipients.values_list("status", flat=True)) == ["pending_approval"] * 2
    assert [row["line"] for row in batch.refused_rows] == [4, 5]
    client.post(IMPORT, {"token": preview.context["token"]})  # a second confirm saves nothing more
    assert Recipient.objects.count() == 2

    imports_list = reverse("admin:payments_recipientimport_changelist")
    client.post(imports_list, {"action": "approve_imports", "_selected_action": [batch.pk]}, follow=True)
    assert not Recipient.objects.filter(status="active").exists()  # the uploader approves none of them
    page = logged_in(alan).post(imports_list, {"action": "approve_imports", "_selected_action": [batch.pk]},
                                follow=True).content.decode()
    assert "2 recipients approved" in page
    assert set(batch.recipients.values_list("status", flat=True)) == {"active"}


def test_a_recipient_page_shows_its_details_and_what_may_be_done():
    rita = make_requester("rita")
    saved = save_recipient(rita, name="Acme Supplies", rail="paybill", phone="", party_b="888880",
                           account_reference="ACC-7")
    page = logged_in(make_approver("alan")).get(reverse("admin:payments_recipient_change", args=(saved["id"],)))
    content = page.content.decode()
    assert page.status_code == 200
    assert "Paybill 888880, account ACC-7" in content
    assert "rita saved a new recipient; it waits for another person&#x27;s approval" in content
    assert reverse("admin:payments_recipient_reject", args=(saved["id"],)) in content
    form = logged_in(rita).get(reverse("admin:payments_recipient_edit", args=(saved["id"],))).content.decode()
    assert 'value="888880"' in form
