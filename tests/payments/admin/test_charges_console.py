"""Charges and send_after in the console: the request's confirmation and the approval page show the tariff's
expected charge, the CSV preview adds the charges to its total, a send_after column or form field schedules a
payout, and only a superuser edits the tariff table (each change audited)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.nairobi_time import NAIROBI
from payments.models import AuditAction, AuditEvent, Payout, TariffBand
from tests.clock import travel_to
from tests.factories import make_user
from tests.payments.admin.conftest import logged_in

pytestmark = pytest.mark.django_db

ADD = reverse("admin:payments_payout_add")
UPLOAD = reverse("admin:payments_payout_bulk_upload")
CONFIRM = reverse("admin:payments_payout_bulk_confirm")
TARIFF = reverse("admin:payments_tariffband_changelist")
FORM = {"rail": "mobile", "phone": "0712345678", "party_b": "", "account_reference": "", "amount": "1500",
        "command_id": "BusinessPayment", "remarks": "March invoice"}


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("march.csv", text.encode(), content_type="text/csv")


def test_the_request_confirmation_shows_the_charge_and_send_after_is_kept(requester_client):
    with travel_to("2026-12-07T08:30:00+03:00"):
        confirmation = requester_client.post(ADD, {**FORM, "send_after": "2026-12-08 09:00"})
        page = confirmation.content.decode()
        assert "Yes, request this payout" in page, confirmation.context["form"].errors
        assert "KES 5.00 (total KES 1,505.00)" in page
        requester_client.post(ADD, {**FORM, "send_after": "2026-12-08 09:00", "confirm": "1",
                                    "form_nonce": confirmation.context["form_nonce"]})
    payout = Payout.objects.get()
    assert payout.send_after == datetime(2026, 12, 8, 9, 0, tzinfo=NAIROBI)
    assert payout.expected_charge == Decimal("5.00")


def test_a_send_after_in_the_past_is_refused_on_the_form(requester_client):
    with travel_to("2026-12-07T08:30:00+03:00"):
        response = requester_client.post(ADD, {**FORM, "send_after": "2026-12-07 08:00"})
    assert "Send after must be in the future." in response.content.decode()
    assert not Payout.objects.exists()


def test_the_approval_page_shows_each_payouts_charge(requester_client, approver_client):
    confirmation = requester_client.post(ADD, FORM)
    requester_client.post(ADD, {**FORM, "confirm": "1", "form_nonce": confirmation.context["form_nonce"]})
    payout = Payout.objects.get()
    page = approver_client.get(reverse("admin:payments_payout_approve"), {"ids": str(payout.pk)})
    assert "charge KES 5.00" in page.content.decode()


def test_the_csv_preview_totals_the_charges_and_a_send_after_column_schedules_rows(requester_client):
    text = ("phone,amount,remarks,send after\n"
            "0712345678,1500,Fee one,2026-12-08 09:00\n"
            "0722000111,2300,Fee two,\n"
            "0733000222,600,Fee three,2026-12-01 09:00\n"
            "0744000333,600,Fee four,next week\n")
    with travel_to("2026-12-07T08:30:00+03:00"):
        preview = requester_client.post(UPLOAD, {"file": upload(text), "command_id": "BusinessPayment"})
        content = preview.content.decode()
        assert "KES 3,800.00 in all" in content
        assert "Expected M-Pesa charges (tariff): KES 14.00; <strong>KES 3,814.00 with charges</strong>" in content
        reasons = {row["line"]: row["reason"] for row in preview.context["refused_rows"]}
        assert "send_after must be in the future" in reasons[4]
        assert "send_after must be a date and time" in reasons[5]
        requester_client.post(CONFIRM, {"token": preview.context["token"]})
    scheduled = {p.amount: p.send_after for p in Payout.objects.all()}
    assert scheduled == {Decimal("1500.00"): datetime(2026, 12, 8, 9, 0, tzinfo=NAIROBI), Decimal("2300.00"): None}


def test_only_a_superuser_edits_the_tariff_and_each_change_is_audited(approver_client):
    assert approver_client.get(TARIFF).status_code in (302, 403)
    boss = logged_in(make_user("boss", is_staff=True, is_superuser=True))
    band = TariffBand.objects.get(group="b2c", min_amount=Decimal("101"))
    url = reverse("admin:payments_tariffband_change", args=(band.pk,))
    response = boss.post(url, {"group": "b2c", "min_amount": "101", "max_amount": "1500", "charge": "7",
                               "valid_from_0": "2024-01-01", "valid_from_1": "03:00:00", "source": "Contract 2027"})
    assert response.status_code == 302, response.content.decode()[:2000]
    band.refresh_from_db()
    assert band.charge == Decimal("7.00")
    event = AuditEvent.objects.get(action=AuditAction.TARIFF_CHANGED)
    assert (event.details["old"]["charge"], event.details["new"]["charge"]) == ("5.00", "7.00")
