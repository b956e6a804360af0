"""Bulk disbursement by CSV: every row checked first, the valid ones one batch, the rest reported by line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payments.errors import PayoutError, PermissionDenied
from payments.models import Payout, PayoutBatch, PayoutStatus
from payments.services.bulk import payout_batch_create_from_csv
from tests.admin.conftest import messages_of

pytestmark = pytest.mark.django_db

UPLOAD = reverse("admin:payments_payout_bulk_upload")

MIXED = (
    "phone,amount,recipient name,reference,remarks\n"  # line 1
    "0712345678,1500,Jane Wanjiru,INV-1,March trainer fee\n"  # 2 valid
    "0812345678,1500,Bad Phone,INV-2,March trainer fee\n"  # 3 phone
    "0722000111,5,Too Small,INV-3,March trainer fee\n"  # 4 amount below the minimum
    '0733000222,"2,300",Otieno Juma,INV-4,X\n'  # 5 remarks too short
    "0712345678,1500,Jane Wanjiru,INV-1,March trainer fee\n"  # 6 duplicate of line 2
    "\n"  # 7 blank: skipped
    "+254 733 000 222,KES 2300,Otieno Juma,INV-4,March fee\n"  # 8 valid
)


def upload(content: bytes | str, name: str = "march.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_mixed_file_creates_only_the_valid_rows_as_one_batch(requester):
    batch, errors = payout_batch_create_from_csv(uploaded_by=requester, file=upload(MIXED), source="admin")
    assert batch.name == "march.csv" and batch.uploaded_by == requester
    payouts = list(batch.payouts.order_by("pk"))
    assert [(p.phone, p.amount, p.status) for p in payouts] == [
        ("254712345678", Decimal("1500.00"), PayoutStatus.PENDING_APPROVAL),
        ("254733000222", Decimal("2300.00"), PayoutStatus.PENDING_APPROVAL),
    ]
    assert all(p.events.get().actor == requester for p in payouts)
    assert [error.line for error in errors] == [3, 4, 5, 6]
    assert "Kenyan mobile number" in errors[0].message
    assert "smallest payout" in errors[1].message
    assert "remarks must have 2 to 100 characters" in errors[2].message
    assert "same payout as line 2" in errors[3].message


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\xff\xfe\x00b\x00a\x00d", "not UTF-8"),
        ("", "empty"),
        ("name,amount\nJane,100\n", "missing: phone, remarks"),
        ("phone,amount,remarks\n", "no rows"),
    ],
)
def test_unreadable_files_create_nothing(requester, content, message):
    with pytest.raises(PayoutError, match=message):
        payout_batch_create_from_csv(uploaded_by=requester, file=upload(content), source="admin")
    assert not PayoutBatch.objects.exists() and not Payout.objects.exists()


def test_no_valid_row_means_no_batch(requester):
    batch, errors = payout_batch_create_from_csv(
        uploaded_by=requester, file=upload("phone,amount,remarks\n0812345678,100,Fee\n"), source="admin"
    )
    assert batch is None and [e.line for e in errors] == [2]
    assert not PayoutBatch.objects.exists()


def test_approvers_cannot_upload(approver):
    with pytest.raises(PermissionDenied):
        payout_batch_create_from_csv(uploaded_by=approver, file=upload(MIXED), source="admin")


def test_admin_upload_reports_line_numbers_and_the_batch_is_approvable(requester_client, approver_client):
    page = requester_client.post(
        UPLOAD, {"file": upload(MIXED), "name": "March trainers", "command_id": "BusinessPayment"}
    )
    assert page.status_code == 200
    batch = PayoutBatch.objects.get()
    assert batch.name == "March trainers" and batch.payouts.count() == 2
    content = page.content.decode()
    for line in (3, 4, 5, 6):
        assert f"<td>{line}</td>" in content
    assert "4 row(s) were not created" in " ".join(messages_of(page))

    batch_page = approver_client.get(reverse("admin:payments_payoutbatch_change", args=(batch.pk,)))
    approve_link = batch_page.context["approve_url"]
    confirm = approver_client.get(approve_link)
    assert len(confirm.context["rows"]) == 2
    done = approver_client.post(
        reverse("admin:payments_payout_approve"),
        {
            "ids": confirm.context["ids"],
            "confirm": "yes",
            "next": reverse("admin:payments_payoutbatch_change", args=(batch.pk,)),
        },
        follow=True,
    )
    assert len([m for m in messages_of(done) if m.endswith("approved; it will be sent.")]) == 2
    assert set(batch.payouts.values_list("status", flat=True)) == {PayoutStatus.APPROVED}


def test_batch_action_approves_all_pending_payouts_of_the_batch(requester, approver_client):
    batch, _ = payout_batch_create_from_csv(uploaded_by=requester, file=upload(MIXED), source="admin")
    redirect = approver_client.post(
        reverse("admin:payments_payoutbatch_changelist"),
        {"action": "approve_all_in_batch", "_selected_action": [batch.pk]},
    )
    confirm = approver_client.get(redirect.url)
    assert [row["payout"].batch_id for row in confirm.context["rows"]] == [batch.pk, batch.pk]


def test_admin_upload_of_an_unreadable_file_shows_the_error(requester_client):
    page = requester_client.post(UPLOAD, {"file": upload(b"\xff\xfe\x00"), "command_id": "BusinessPayment"})
    assert "not UTF-8" in str(page.context["form"].errors["file"])
    assert not PayoutBatch.objects.exists()


def test_a_clean_file_goes_straight_to_its_batch(requester_client):
    clean = "phone,amount,remarks\n0712345678,100,Fee one\n0722000111,200,Fee two\n"
    response = requester_client.post(UPLOAD, {"file": upload(clean), "command_id": "SalaryPayment"})
    batch = PayoutBatch.objects.get()
    assert response.url == reverse("admin:payments_payoutbatch_change", args=(batch.pk,))
    assert set(batch.payouts.values_list("command_id", flat=True)) == {"SalaryPayment"}
