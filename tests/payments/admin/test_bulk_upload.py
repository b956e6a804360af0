"""Bulk disbursement by CSV: every row checked first, the valid ones one batch, the rest reported by line."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.errors import ApplicationError, PermissionDenied
from payments.models import FloatSource, Payout, PayoutBatch, PayoutStatus
from payments.payouts.bulk import payout_batch_create_from_csv
from payments.payouts.settlement import float_record
from tests.payments.admin.conftest import messages_of

pytestmark = pytest.mark.django_db

UPLOAD = reverse("admin:payments_payout_bulk_upload")
CONFIRM = reverse("admin:payments_payout_bulk_confirm")

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
    with pytest.raises(ApplicationError, match=message):
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
    assert not PayoutBatch.objects.exists()  # a preview first: nothing created
    content = page.content.decode()
    for line in (3, 4, 5, 6):
        assert f"<td>{line}</td>" in content
    done = requester_client.post(CONFIRM, {"token": page.context["token"]}, follow=True)
    batch = PayoutBatch.objects.get()
    assert batch.name == "March trainers" and batch.payouts.count() == 2
    assert done.redirect_chain[-1][0] == reverse("admin:payments_payoutbatch_change", args=(batch.pk,))

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


def test_a_clean_file_previews_then_its_batch_on_confirm(requester_client):
    clean = "phone,amount,remarks\n0712345678,100,Fee one\n0722000111,200,Fee two\n"
    preview = requester_client.post(UPLOAD, {"file": upload(clean), "command_id": "SalaryPayment"})
    assert preview.status_code == 200 and not PayoutBatch.objects.exists()
    response = requester_client.post(CONFIRM, {"token": preview.context["token"]})
    batch = PayoutBatch.objects.get()
    assert response.url == reverse("admin:payments_payoutbatch_change", args=(batch.pk,))
    assert set(batch.payouts.values_list("command_id", flat=True)) == {"SalaryPayment"}


def test_preview_lists_valid_rows_with_their_total_and_refused_rows_masked_with_reasons(requester_client):
    page = requester_client.post(UPLOAD, {"file": upload(MIXED), "command_id": "BusinessPayment"})
    content = page.content.decode()
    assert "2 rows will become payouts: KES 3,800.00 in all" in content
    assert "4 rows refused" in content
    refused = {row["line"]: row for row in page.context["refused_rows"]}
    assert sorted(refused) == [3, 4, 5, 6]
    assert refused[3]["paid_to"] == "081*****78" and refused[3]["name"] == "Bad Phone"
    assert refused[4]["paid_to"] == "2547****0111" and "smallest payout" in refused[4]["reason"]
    assert "the same payout as line 2" in refused[6]["reason"]
    assert "0812345678" not in content and "254722000111" not in content  # phones masked
    assert 'value="Create the batch of 2 payouts"' in content


def test_confirm_creates_the_batch_once(requester_client):
    page = requester_client.post(UPLOAD, {"file": upload(MIXED), "command_id": "BusinessPayment"})
    first = requester_client.post(CONFIRM, {"token": page.context["token"]})
    again = requester_client.post(CONFIRM, {"token": page.context["token"]})
    assert PayoutBatch.objects.count() == 1 and Payout.objects.count() == 2
    # The second confirm is answered with the batch the first made.
    assert again.status_code == 302 and again.url == first.url
    assert again.url == reverse("admin:payments_payoutbatch_change", args=(PayoutBatch.objects.get().pk,))


def test_refused_rows_download_as_a_csv_to_fix_with_formulas_neutralised(requester_client):
    evil = (
        "phone,amount,recipient name,reference,remarks\n"
        "0712345678,1500,Jane Wanjiru,INV-1,March fee\n"
        "0812345678,1500,=HYPERLINK(\"http://x\"),+INV-2,@SUM(A1)\n"
        "0722000111,12.50,-Otieno,INV-3,March fee\n"
    )
    page = requester_client.post(UPLOAD, {"file": upload(evil, "march.csv"), "command_id": "BusinessPayment"})
    response = requester_client.get(page.context["errors_url"])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="march-refused-rows.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "line", "phone", "amount", "recipient name", "reference", "remarks", "rail", "party_b", "account_reference",
        "problem",
    ]  # fmt: skip
    assert rows[1][:6] == ["3", "0812345678", "1500", "'=HYPERLINK(\"http://x\")", "'+INV-2", "'@SUM(A1)"]
    assert rows[2][0] == "4" and rows[2][3] == "'-Otieno" and "whole shillings" in rows[2][9]
    # Fixed and uploaded again, the neutralised cells read as they were written.
    fixed = response.content.decode().replace("0812345678", "0712000999").replace("12.50", "1250")
    again = requester_client.post(UPLOAD, {"file": upload(fixed), "command_id": "BusinessPayment"})
    assert again.context["refused_rows"] == []
    assert {row["name"] for row in again.context["rows"]} == {'=HYPERLINK("http://x")', "-Otieno"}


def test_the_preview_says_which_rows_need_two_approvers_and_compares_the_total_with_the_float(
    settings, requester_client
):
    settings.PAYOUT_DUAL_APPROVAL_THRESHOLD = Decimal("10000")
    file = "phone,amount,remarks\n0712345678,1500,Fee one\n0722000111,12000,Fee two\n"
    page = requester_client.post(UPLOAD, {"file": upload(file), "command_id": "BusinessPayment"}).content.decode()
    assert "1 row (line 3) need two approvers: KES 10,000.00 or more each." in page
    assert "No reading of the B2C float yet" in page

    float_record(utility_available=Decimal("5000.00"), source=FloatSource.BALANCE_QUERY)
    page = requester_client.post(UPLOAD, {"file": upload(file), "command_id": "BusinessPayment"}).content.decode()
    assert "The B2C float read KES 5,000.00" in page
    assert "KES 8,500.00 short of this batch's total" in page


def test_the_batch_keeps_its_refused_rows_and_offers_them_as_a_file(requester_client, approver_client):
    page = requester_client.post(UPLOAD, {"file": upload(MIXED, "march.csv"), "command_id": "BusinessPayment"})
    done = requester_client.post(CONFIRM, {"token": page.context["token"]}, follow=True)
    batch = PayoutBatch.objects.get()
    warning = next(m for m in messages_of(done) if "were not created" in m)
    assert "4 row(s) were not created" in warning and "Refused rows" in warning

    # Later, with the upload's preview long gone, anyone who sees the batch finds them on its page.
    batch_page = approver_client.get(reverse("admin:payments_payoutbatch_change", args=(batch.pk,))).content.decode()
    assert "Refused rows" in batch_page and "the same payout as line 2" in batch_page
    assert "0812345678" not in batch_page  # masked on the page
    download = reverse("admin:payments_payoutbatch_refused_rows", args=(batch.pk,))
    assert download in batch_page
    response = approver_client.get(download)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="march-refused-rows.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert [row[0] for row in rows[1:]] == ["3", "4", "5", "6"]
    assert rows[1][1] == "0812345678" and "Kenyan mobile number" in rows[1][9]  # full, to fix and upload again


def test_a_template_downloads_and_uploads_cleanly(requester_client):
    response = requester_client.get(reverse("admin:payments_payout_bulk_template"))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    page = requester_client.post(UPLOAD, {"file": upload(response.content), "command_id": "BusinessPayment"})
    assert page.context["refused_rows"] == []
    assert [row["rail"] for row in page.context["rows"]] == ["mobile", "mobile", "paybill", "till"]


def test_batch_page_shows_row_states_and_failure_reasons_and_approve_all_only_while_pending(
    requester, approver_client
):
    batch, _ = payout_batch_create_from_csv(uploaded_by=requester, file=upload(MIXED), source="admin")
    first, second = batch.payouts.order_by("pk")
    url = reverse("admin:payments_payoutbatch_change", args=(batch.pk,))
    page = approver_client.get(url).content.decode()
    assert "Approve all pending payouts in this batch" in page
    Payout.objects.filter(pk=first.pk).update(status=PayoutStatus.FAILED, result_code="1")
    Payout.objects.filter(pk=second.pk).update(status=PayoutStatus.COMPLETED, transaction_id="UAB9999XYZ")
    page = approver_client.get(url).content.decode()
    assert "Approve all pending payouts in this batch" not in page
    assert "Insufficient funds in our B2C utility account" in page and "UAB9999XYZ" in page
