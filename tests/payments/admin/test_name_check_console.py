"""The name check and the first-time payee flag in the console: the approval page shows M-Pesa's name beside
ours and asks for "I have checked the name" when they differ; the bulk preview flags payees never paid."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payments.models import AuditEvent, PayoutStatus
from payments.tasks import check_payout_name
from tests import fake_daraja
from tests.factories import make_payout
from tests.payments.admin.conftest import messages_of, request_payout
from tests.payments.recipients.helpers import active_recipient

pytestmark = pytest.mark.django_db

APPROVE = reverse("admin:payments_payout_approve")
UPLOAD = reverse("admin:payments_payout_bulk_upload")
HAKIKISHA = f"{fake_daraja.BASE}/mpesa/b2c/hakikisha/v1/hakikisha"
CHECKBOX = re.compile(r'<input type="checkbox" name="name_confirmed">\s*I have checked the name')


@pytest.fixture(autouse=True)
def name_check_on(settings, monkeypatch):
    fake_daraja.configure(settings)
    settings.MPESA_NAME_CHECK = True
    monkeypatch.setattr("payments.payouts.name_check.queue_name_check", lambda payout_id: None)


def checked(payout, first_name: str):
    """The worker's lookup, Daraja answering `first_name` for the payout's number."""
    with fake_daraja.answering() as mock:
        mock.post(HAKIKISHA, json={"header": {"status": "200"},
                                   "body": {"firstName": first_name, "middleName": "W******", "lastName": ""}})
        check_payout_name.apply(args=[payout.pk]).get()
    payout.refresh_from_db()
    return payout


def test_the_approval_page_shows_a_differing_name_and_asks_for_the_checkbox(approver_client, requester):
    payout = checked(request_payout(requester, recipient_name="Jane Trainer"), "Mary")
    page = approver_client.get(APPROVE, {"ids": payout.pk})
    content = page.content.decode()
    assert "Mary W******" in content and "Name differs" in content and "Jane Trainer" in content
    assert CHECKBOX.search(content)


def test_a_matching_name_needs_no_checkbox(approver_client, requester):
    payout = checked(request_payout(requester, recipient_name="Jane Trainer"), "JANE")
    content = approver_client.get(APPROVE, {"ids": payout.pk}).content.decode()
    assert "Name matches" in content and not CHECKBOX.search(content)


def test_without_the_checkbox_a_mismatched_payout_is_refused(approver_client, requester):
    payout = checked(request_payout(requester, recipient_name="Jane Trainer"), "Mary")
    with fake_daraja.answering() as mock:
        done = approver_client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"}, follow=True)
        assert len(mock.calls) == 0  # nothing is looked up inside an approval
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PENDING_APPROVAL and not payout.approvals.exists()
    assert messages_of(done)[0] == (
        f'Payout #{payout.pk}: M-Pesa names this payee "Mary W******", not "Jane Trainer": check the name, then '
        'approve with "I have checked the name" (name_confirmed: true in the API).')


def test_with_the_checkbox_it_is_approved_and_the_event_records_it(approver_client, requester, approver):
    payout = checked(request_payout(requester, recipient_name="Jane Trainer"), "Mary")
    done = approver_client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes", "name_confirmed": "on"},
                                follow=True)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED, messages_of(done)
    event = AuditEvent.objects.get(payout=payout, action="approved")
    assert (event.actor, event.details["name_confirmed"]) == (approver, True)


def test_a_lookup_not_done_shows_not_checked_and_does_not_block(approver_client, requester):
    payout = request_payout(requester)
    with fake_daraja.answering() as mock:
        mock.post(HAKIKISHA, json={"errorMessage": "Service unavailable"}, status=503)
        check_payout_name.apply(args=[payout.pk]).get()
    content = approver_client.get(APPROVE, {"ids": payout.pk}).content.decode()
    assert "Not checked" in content and not CHECKBOX.search(content)
    approver_client.post(APPROVE, {"ids": str(payout.pk), "confirm": "yes"})
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.APPROVED


def test_the_approval_page_flags_a_first_time_payee(approver_client, requester):
    make_payout(phone="254712345678", status=PayoutStatus.COMPLETED, transaction_id="UAB1234567")
    known = request_payout(requester, phone="0712345678")
    new = request_payout(requester, phone="0722000111")
    page = approver_client.get(APPROVE, {"ids": [known.pk, new.pk]})
    flagged = re.findall(r'#(\d+)</a>.*?(First-time payee: never paid before|</tr>)', page.content.decode(), re.S)
    assert dict(flagged) == {str(known.pk): "</tr>", str(new.pk): "First-time payee: never paid before"}


def test_the_csv_preview_flags_rows_paying_someone_never_paid(requester_client):
    make_payout(phone="254712345678", status=PayoutStatus.COMPLETED, transaction_id="UAB1234567")
    csv = ("phone,amount,recipient name,reference,remarks\n"
           "0712345678,1500,Jane Wanjiru,INV-1,March trainer fee\n"
           "0722000111,1500,Otieno Juma,INV-2,March trainer fee\n")
    file = SimpleUploadedFile("march.csv", csv.encode(), content_type="text/csv")
    page = requester_client.post(UPLOAD, {"file": file, "command_id": "BusinessPayment"})
    assert {row["line"]: row["first_time"] for row in page.context["rows"]} == {2: False, 3: True}
    content = page.content.decode()
    assert "1 row pays someone this system has never paid" in content
    assert content.count("never paid before") == 1


def test_the_csv_preview_flags_a_saved_paybill_never_paid(requester_client, requester, approver):
    active_recipient(requester, approver, name="Acme Supplies", rail="paybill", phone="", party_b="888880",
                     account_reference="ACC-7", external_reference="SUP-2")
    active_recipient(requester, approver, name="Mama Mboga", rail="till", phone="", party_b="5432109",
                     external_reference="SUP-3")
    make_payout(rail="till", phone="", party_b="5432109", status=PayoutStatus.COMPLETED, transaction_id="UAB7654321")
    csv = "recipient_reference,amount,remarks\nSUP-2,40000,March invoice\nSUP-3,2000,March invoice\n"
    file = SimpleUploadedFile("march.csv", csv.encode(), content_type="text/csv")
    page = requester_client.post(UPLOAD, {"file": file, "command_id": "BusinessPayment"})
    assert {row["line"]: row["first_time"] for row in page.context["rows"]} == {2: True, 3: False}
