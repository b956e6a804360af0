"""Payout plans (issue 30) in a real browser (Debian's Chromium, driven by Playwright, headless) on Django's live
server: rita creates "Trainers weekly" in the console with two saved recipients; alan, another person, approves
it; `run_payout_plans` runs at a fixed instant and makes the occurrence's batch; ann, an approver, finds the run
waiting on the overview, opens its batch and approves its payouts.

No ORM while the browser runs (Playwright's event loop is in this thread): each person's visit is its own browser
session, and the command runs between them. The live server keeps the real clock (tests/clock.py,
REAL_CLOCK_FOLDERS), so the command's fixed instant is a Monday years ahead: the latest occurrence at or before
it is after the plan's approval. The second factor is off here (ADMIN_REQUIRE_2FA=False, as in the other
browser tests). Screenshots at 1366 and 390 px go to the test's temporary directory; with UPDATE_SCREENSHOTS=1
they are copied to docs/screenshots/.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from payments.models import PayoutBatch, PayoutPlan, PayoutStatus
from payments.recipients import services as recipients
from tests.e2e.browser import BROWSER_TEST, shoot
from tests.factories import make_approver, make_requester

pytestmark = BROWSER_TEST

RUN_AT = "2030-01-07 09:00"  # a Monday, at the plan's time
DOC_SHOTS = ("plans-new-laptop.png", "plans-detail-phone.png", "plans-overview-laptop.png")


@pytest.fixture(autouse=True)
def _no_second_factor(settings):
    settings.ADMIN_REQUIRE_2FA = False


@pytest.fixture
def sent(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr("payments.payouts.services.queue_sends", queued.extend)
    monkeypatch.setattr("payments.payouts.services.queue_send", queued.append)
    return queued


def saved(creator, approver, name: str, phone: str, reference: str) -> int:
    recipient = recipients.recipient_create(created_by=creator, name=name, rail="mobile", phone=phone,
                                            external_reference=reference, category="trainer")
    recipients.recipient_approve(recipient_id=recipient.pk, approved_by=approver)
    return recipient.pk


def test_a_plan_is_created_approved_by_another_run_and_its_batch_approved(browse, sent):
    rita, alan = make_requester("rita"), make_approver("alan")
    make_approver("ann")
    jane = saved(rita, alan, "Jane Wanjiru", "0712345678", "TR-1")
    otieno = saved(rita, alan, "Otieno Odhiambo", "0722000111", "TR-2")

    with browse("rita") as page:
        page.goto(f"{page.base}/admin/payments/payoutplan/")
        page.click("a:text-is('New payout plan')")
        page.fill("#id_name", "Trainers weekly")
        page.select_option("#id_frequency", "weekly")
        page.select_option("#id_weekday", "0")
        page.fill("#id_time_of_day", "09:00")
        page.select_option("#id_lines-0-recipient", str(jane))
        page.fill("#id_lines-0-amount", "1500")
        page.select_option("#id_lines-1-recipient", str(otieno))
        page.fill("#id_lines-1-amount", "2000")
        shoot(page, "plans-new")
        page.click("input[type=submit][value=Save]")
        page.wait_for_selector("ul.messagelist li.success")
        assert "another person must approve it before it runs" in page.inner_text("ul.messagelist")
        content = page.inner_text("#content")
        assert "Pending approval" in content and "Every Monday at 09:00 (Nairobi)" in content
        assert page.locator("a.button:text-is('Approve')").count() == 1  # offered, but refused to rita
        assert page.errors == []

    with browse("alan") as page:
        page.goto(f"{page.base}/admin/payments/payoutplan/")
        page.click("#result_list a:text-is('Trainers weekly')")
        page.click("a.button:text-is('Approve')")
        page.click("input[type=submit][value='Yes, approve']")
        page.wait_for_selector("ul.messagelist li.success")
        assert "Trainers weekly: active." in page.inner_text("ul.messagelist")
        content = page.inner_text("#content")
        assert "Jane Wanjiru" in content and "KES 2,000.00" in content
        shoot(page, "plans-detail")
        assert page.errors == []

    out = StringIO()
    call_command("run_payout_plans", "--at", RUN_AT, stdout=out)
    assert "1 run(s) created." in out.getvalue()
    batch = PayoutBatch.objects.get()
    assert batch.name == "Trainers weekly — 2030-01-07"

    with browse("ann") as page:
        waiting = page.locator("#plan-runs-waiting")
        assert "Trainers weekly — 2030-01-07" in waiting.inner_text()
        shoot(page, "plans-overview")
        waiting.locator("a", has_text="Trainers weekly — 2030-01-07").click()
        page.click("a:text-is('Approve all pending payouts in this batch')")
        shoot(page, "plans-batch-approve")
        page.click("input[name=confirm]")
        page.wait_for_selector("ul.messagelist li")
        assert "approved; it will be sent" in page.inner_text("ul.messagelist")
        assert page.errors == []

    plan = PayoutPlan.objects.get()
    assert (plan.status, plan.created_by, plan.approved_by) == ("active", rita, alan)
    payouts = batch.payouts.order_by("amount")
    assert [(p.recipient_name, p.amount, p.status) for p in payouts] == [
        ("Jane Wanjiru", 1500, PayoutStatus.APPROVED), ("Otieno Odhiambo", 2000, PayoutStatus.APPROVED)]
    assert sorted(sent) == sorted(p.pk for p in payouts)
