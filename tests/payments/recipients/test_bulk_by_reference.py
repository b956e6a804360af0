"""The bulk CSV names saved recipients by `recipient_reference`, through the console's upload and confirm: an
active recipient's payee is copied onto its row's payout; a pending, unknown or contradicted one is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from payments.models import AuditEvent, PayoutBatch
from tests.payments.factories import make_approver, make_requester
from tests.payments.recipients.helpers import active_recipient, save_recipient

pytestmark = pytest.mark.django_db

UPLOAD = reverse("admin:payments_payout_bulk_upload")
CONFIRM = reverse("admin:payments_payout_bulk_confirm")


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda payout_id: None)


def test_rows_by_recipient_reference_pay_the_saved_recipients():
    rita, alan = make_requester("rita"), make_approver("alan")
    active_recipient(rita, alan, name="Jane Wanjiru", external_reference="TR-001")
    active_recipient(rita, alan, name="Acme Supplies", rail="paybill", phone="", party_b="888880",
                     account_reference="ACC-7", external_reference="SUP-2")
    save_recipient(rita, name="Not Yet", phone="0733000222", external_reference="TR-009")
    file = (
        "recipient_reference,amount,remarks\n"
        "TR-001,1500,March trainer fee\n"   # 2: active, mobile
        "SUP-2,40000,March invoice\n"       # 3: active, paybill
        "TR-009,1500,March trainer fee\n"   # 4: pending approval
        "NOBODY,1500,March trainer fee\n"   # 5: no such recipient, and no phone
    )
    client = Client()
    client.force_login(rita)
    page = client.post(UPLOAD, {"file": SimpleUploadedFile("march.csv", file.encode(), content_type="text/csv"),
                                "command_id": "BusinessPayment"})
    assert page.status_code == 200
    refused = {row["line"]: row["reason"] for row in page.context["refused_rows"]}
    assert sorted(refused) == [4, 5]
    assert "waits for approval" in refused[4]
    assert "no saved recipient has the reference 'NOBODY'" in refused[5]
    assert "Acme Supplies (Paybill 888880, account ACC-7)" in page.content.decode()

    client.post(CONFIRM, {"token": page.context["token"]})
    payouts = list(PayoutBatch.objects.get().payouts.order_by("pk"))
    assert [(p.rail, p.phone, p.party_b, p.account_reference, p.amount, p.recipient_name) for p in payouts] == [
        ("mobile", "254712345678", "", "", Decimal("1500.00"), "Jane Wanjiru"),
        ("paybill", "", "888880", "ACC-7", Decimal("40000.00"), "Acme Supplies"),
    ]
    assert AuditEvent.objects.filter(action="recipient_payout_requested", payout__in=payouts).count() == 2


def test_a_phone_that_contradicts_the_named_recipient_is_refused():
    rita = make_requester("rita")
    active_recipient(rita, make_approver("alan"), external_reference="TR-001")
    file = "phone,amount,reference,remarks\n0799000111,1500,TR-001,March fee\n0712345678,1500,TR-001,Other fee\n"
    client = Client()
    client.force_login(rita)
    page = client.post(UPLOAD, {"file": SimpleUploadedFile("m.csv", file.encode(), content_type="text/csv"),
                                "command_id": "BusinessPayment"})
    refused = {row["line"]: row["reason"] for row in page.context["refused_rows"]}
    assert list(refused) == [2]
    assert "leave phone blank" in refused[2]
