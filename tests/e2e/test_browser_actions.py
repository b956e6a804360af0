"""Where people act, in a real browser (Debian's Chromium, driven by Playwright, headless, at a 1366 px laptop
width) against Django's live server: the refund form's early check at "Continue", the bulk CSV preview and
its confirmation, and a failed payout requested again.

No ORM while the browser runs (Playwright's event loop is in this thread): rows are made before, checked after.
Screenshots go to the test's temporary directory; with UPDATE_SCREENSHOTS=1 they replace docs/screenshots/.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from payments.models import PaymentSource, Payout, PayoutBatch, PayoutStatus
from tests.e2e.browser import BROWSER_TEST
from tests.factories import make_payment, make_requester

pytestmark = BROWSER_TEST

CSV_TEXT = (
    "phone,amount,recipient name,reference,remarks\n"
    "0712345678,1500,Jane Wanjiru,INV-1042,March trainer fee\n"
    "254722000111,\"2,300\",Otieno Juma,INV-1043,March trainer fee\n"
    "0812345678,900,Bad Number,INV-1044,March trainer fee\n"
    "0733000222,12.50,Achieng Atieno,INV-1045,March trainer fee\n"
)


def test_refund_form_refuses_too_much_at_continue(browse):
    make_requester("rita", first_name="Rita", last_name="Wambui")
    payment = make_payment(
        source=PaymentSource.C2B, receipt="SJK4H2L9QX", phone="254708374149", amount=Decimal("1000.00"),
        payer_name="Wanjiku Kamau",
    )  # fmt: skip
    with browse() as page:
        page.login("rita")
        page.goto(f"{page.base}/admin/payments/payment/{payment.pk}/refund/")
        page.fill("#id_amount", "1200")
        page.fill("#id_reason", "Customer returned both items")
        page.click("input[type=submit][value=Continue]")
        page.wait_for_selector(".field-amount .errorlist")
        assert "more than the refundable remainder" in page.inner_text(".field-amount .errorlist")
        assert page.locator("text=Yes, request this refund").count() == 0  # still the form: nothing to confirm
        page.screenshot(path=page.shots / "11-refund-early-check.png", full_page=True)
        page.fill("#id_amount", "1000")
        page.click("input[type=submit][value=Continue]")
        page.wait_for_selector("text=Yes, request this refund")
        assert "KES 1,000.00" in page.inner_text("#content")
        page.click("input[name=confirm]")
        page.wait_for_selector("ul.messagelist li.success")
        assert "waits for approval" in page.inner_text("ul.messagelist")
        assert page.errors == []

    refund = Payout.objects.get()
    assert refund.payment_id == payment.pk and refund.amount == Decimal("1000.00")


def test_bulk_csv_preview_then_confirm_creates_the_batch(browse):
    make_requester("rita")
    with browse() as page:
        page.login("rita")
        page.goto(f"{page.base}/admin/payments/payout/bulk-upload/")
        with page.expect_download() as template:
            page.click("a.bulk-template")
        assert Path(template.value.path()).read_text().startswith("rail,phone,party_b,account_reference,amount,")
        page.set_input_files("#id_file", {"name": "march.csv", "mimeType": "text/csv", "buffer": CSV_TEXT.encode()})
        page.fill("#id_name", "March trainers")
        page.click("input[type=submit][value='Check the file']")
        page.wait_for_selector("h2.bulk-valid-summary")
        assert page.inner_text("h2.bulk-valid-summary") == "2 rows will become payouts: KES 3,800.00 in all"
        refused = page.inner_text("table.payout-upload-errors")
        assert "081*****78" in refused and "Bad Number" in refused and "whole shillings" in refused
        assert "0812345678" not in page.content()
        page.screenshot(path=page.shots / "12-bulk-preview.png", full_page=True)
        with page.expect_download() as error_file:
            page.click("a.bulk-error-file")
        rows = list(csv.reader(io.StringIO(Path(error_file.value.path()).read_text())))
        assert [row[0] for row in rows] == ["line", "4", "5"]
        page.click("input[name=confirm]")
        page.wait_for_selector("ul.messagelist li.success")
        assert "created with 2 payouts waiting for approval" in page.inner_text("ul.messagelist")
        assert "Approve all pending payouts in this batch" not in page.content()  # rita cannot approve
        page.screenshot(path=page.shots / "13-batch.png", full_page=True)
        assert page.errors == []

    batch = PayoutBatch.objects.get()
    assert batch.name == "March trainers"
    assert sorted(batch.payouts.values_list("amount", flat=True)) == [Decimal("1500.00"), Decimal("2300.00")]


def test_failed_payout_explains_itself_and_is_requested_again(browse):
    rita = make_requester("rita")
    from payments.payouts.services import payout_request_disbursement

    failed = payout_request_disbursement(
        requested_by=rita, phone="0712345678", amount=Decimal("2500"), remarks="March trainer fee",
        recipient_name="Jane Wanjiru", source="admin",
    )  # fmt: skip
    Payout.objects.filter(pk=failed.pk).update(
        status=PayoutStatus.FAILED, result_code="1", result_description="The balance is insufficient"
    )
    make_payment(source=PaymentSource.C2B, receipt="SJK4H2L9QX", payer_name="Wanjiku Kamau")
    with browse() as page:
        page.login("rita")
        page.goto(f"{page.base}/admin/payments/payout/{failed.pk}/change/")
        summary = page.inner_text(".payout-summary")
        assert "Insufficient funds in our B2C utility account" in summary
        assert "Top up the B2C utility account" in summary
        page.screenshot(path=page.shots / "14-failed-payout.png", full_page=True)
        page.click("a:text-is('Request again')")
        page.wait_for_selector("text=Yes, request it again")
        page.click("input[name=confirm]")
        page.wait_for_selector("ul.messagelist li.success")
        assert "It waits for approval" in page.inner_text("ul.messagelist")
        content = page.inner_text("#content")
        assert "Pending approval" in content and f"Payout #{failed.pk}" in content
        page.screenshot(path=page.shots / "15-requested-again.png", full_page=True)
        page.goto(f"{page.base}/admin/payments/payout/")
        page.screenshot(path=page.shots / "16-payouts-list.png")
        # The list fits a 1366 px laptop: no horizontal scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        assert page.evaluate("(r => r.scrollWidth <= r.clientWidth)(document.querySelector('#changelist .results'))")
        page.goto(f"{page.base}/admin/payments/payment/")
        assert page.evaluate("(r => r.scrollWidth <= r.clientWidth)(document.querySelector('#changelist .results'))")
        assert page.errors == []

    retry = Payout.objects.exclude(pk=failed.pk).get()
    assert retry.retry_of_id == failed.pk and retry.status == PayoutStatus.PENDING_APPROVAL
    assert retry.originator_conversation_id != failed.originator_conversation_id
