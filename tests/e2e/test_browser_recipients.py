"""Issue 29 in a real browser (Debian's Chromium, driven by Playwright, headless) on Django's live server: rita
saves a paybill supplier in the recipients' console; alan, another person, approves it from his approval queue;
rita presses Pay on the now active supplier and requests a payout; the name check's worker asks M-Pesa's Org Info
(a fake answering as the documented sample does, with another name than ours); alan opens the approval page, sees
the name at M-Pesa beside ours, flagged, and approves with "I have checked the name" ticked.

No ORM while the browser runs (Playwright's event loop is in this thread): each person's visit is its own browser
session, and the worker's lookup runs between them. The second factor is off here (ADMIN_REQUIRE_2FA=False, as in
the other browser tests; tests/e2e/test_browser_demo_walk.py walks the TOTP enrolment).
Screenshots go to the test's temporary directory; with UPDATE_SCREENSHOTS=1 they are copied to docs/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from payments.models import AuditEvent, Payout, PayoutStatus, Recipient
from payments.tasks import check_payout_name
from tests import fake_daraja
from tests.e2e.browser import BROWSER_TEST, shoot
from tests.factories import make_approver, make_requester

pytestmark = BROWSER_TEST

ORG_INFO = f"{fake_daraja.BASE}/sfcverify/v1/query/info"
# Shown in docs/recipients.md.
DOC_SHOTS = ("recipients-pay-laptop.png", "recipients-approve-name-check-laptop.png")


@pytest.fixture
def name_check_on(settings, monkeypatch):
    """The check is on; the lookups queued and the payouts sent are collected (no broker or worker here)."""
    fake_daraja.configure(settings)
    settings.MPESA_NAME_CHECK = True
    settings.ADMIN_REQUIRE_2FA = False
    queued, sent = [], []
    monkeypatch.setattr("payments.payouts.name_check.queue_name_check", queued.append)
    monkeypatch.setattr("payments.payouts.services.queue_sends", sent.extend)
    return queued, sent


def test_a_supplier_is_saved_approved_by_another_paid_and_its_name_checked(browse, name_check_on):
    queued, sent = name_check_on
    make_requester("rita")
    alan = make_approver("alan")

    with browse("rita") as page:
        page.goto(f"{page.base}/admin/payments/recipient/")
        page.click("a:text-is('New recipient')")
        page.fill("#id_name", "Acme Supplies")
        page.select_option("#id_rail", "paybill")
        page.fill("#id_party_b", "888880")
        page.fill("#id_account_reference", "ACC-7")
        page.fill("#id_external_reference", "SUP-002")
        page.fill("#id_category", "supplier")
        shoot(page, "recipients-new")
        page.click("input[type=submit][value=Save]")
        page.wait_for_selector("ul.messagelist li.success")
        assert "Acme Supplies saved: another person must approve it." in page.inner_text("ul.messagelist")
        assert "Pending approval" in page.inner_text("#content")
        page.goto(f"{page.base}/admin/payments/recipient/")
        assert page.locator("#result_list a.button:text-is('Pay')").count() == 0  # not payable yet
        assert page.errors == []

    with browse("alan") as page:
        page.goto(f"{page.base}/admin/payments/recipient/?awaiting=me")
        row = page.locator("#result_list tbody tr", has_text="Acme Supplies")
        assert "Paybill 888880, account ACC-7" in row.inner_text()
        row.locator("input[name=_selected_action]").check()
        page.select_option("select[name=action]", "approve_selected")
        page.click("button[name=index]")
        page.wait_for_selector("ul.messagelist li")
        assert "approved: it can be paid." in page.inner_text("ul.messagelist")
        assert page.errors == []

    with browse("rita") as page:
        page.goto(f"{page.base}/admin/payments/recipient/")
        page.locator("#result_list tbody tr", has_text="Acme Supplies").locator("a:text-is('Pay')").first.click()
        page.wait_for_selector("text=Paid as Paybill 888880, account ACC-7")
        page.fill("#id_amount", "8500")
        page.fill("#id_remarks", "March invoice")
        shoot(page, "recipients-pay")
        page.click("input[type=submit][value='Request the payout']")
        page.wait_for_selector("ul.messagelist li.success")
        message = page.inner_text("ul.messagelist")
        assert re.search(r"Payout #\d+ of KES 8,500\.00 to Acme Supplies requested; it waits for approval", message)
        summary = page.inner_text("#content")
        assert "Paybill 888880, account ACC-7" in summary and "Pending approval" in summary
        payout_id = int(re.search(r"/payout/(\d+)/change/", page.url).group(1))
        assert page.errors == []

    # The worker's lookup, M-Pesa naming the paybill otherwise than we do.
    assert queued == [payout_id]
    with fake_daraja.answering() as mock:
        mock.post(ORG_INFO, json={"ResponseCode": "4000", "ResponseMessage": "Success",
                                  "OrganizationShortCode": "888880", "OrganizationName": "Duka Wholesalers Ltd",
                                  "ChargeProfileID": "20013"})
        check_payout_name.apply(args=[payout_id]).get()

    with browse("alan") as page:
        page.goto(f"{page.base}/admin/payments/payout/approve/?ids={payout_id}")
        row = page.locator("table.payout-decision tbody tr")
        assert "Acme Supplies" in row.locator("td[data-label=Recipient]").inner_text()
        name_cell = row.locator("td[data-label='Name at M-Pesa']").inner_text()
        assert "Duka Wholesalers Ltd" in name_cell and "Name differs" in name_cell
        assert "I have checked the name" in page.inner_text("p.name-check-confirm")
        assert not page.is_checked("input[name=name_confirmed]")
        shoot(page, "recipients-approve-name-check")
        page.check("input[name=name_confirmed]")
        page.click("input[name=confirm]")
        page.wait_for_selector("ul.messagelist li")
        assert f"Payout #{payout_id}: approved; it will be sent." in page.inner_text("ul.messagelist")
        assert page.errors == []

    recipient = Recipient.objects.get()
    assert (recipient.status, recipient.party_b, recipient.account_reference) == ("active", "888880", "ACC-7")
    payout = Payout.objects.get()
    assert (payout.status, payout.amount, payout.name_check_status) == (PayoutStatus.APPROVED, 8500, "mismatch")
    assert (payout.party_b, payout.account_reference, payout.recipient_name) == ("888880", "ACC-7", "Acme Supplies")
    event = AuditEvent.objects.get(payout=payout, action="approved")
    assert (event.actor, event.details["name_confirmed"], event.details["name_check"]) == (alan, True, "mismatch")
    assert sent == [payout.pk]
