"""In a real browser (Debian's Chromium, driven by Playwright, headless): the requester logs in and refunds a
payment through the admin form, the approver logs in and approves it, and both see it completed, sent by
the worker to the Daraja simulator and settled by its callback, all on real processes (gunicorn, Celery on
Redis, PostgreSQL).

Screenshots of the key pages go to the test's temporary directory; with UPDATE_SCREENSHOTS=1 they replace
the ones under docs/screenshots/ that README.md shows.
"""

from __future__ import annotations

import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from payments.models import PaymentSource, Payout, PayoutStatus
from tests.e2e.support import ROOT, set_login_password
from tests.factories import make_approver, make_payment, make_requester

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "e2e-Pass-word-2026"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]


@pytest.fixture
def sync_playwright():
    module = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    return module.sync_playwright


def test_refund_requested_and_approved_in_the_admin_with_a_real_browser(running_system, sync_playwright, tmp_path):
    system = running_system
    requester, approver = make_requester("rita", first_name="Rita", last_name="Wambui"), make_approver("alan")
    for user in (requester, approver):
        set_login_password(user, PASSWORD)
    payment = make_payment(
        source=PaymentSource.C2B, receipt="SJK4H2L9QX", phone="254708374149", amount=Decimal("1500.00"),
        account_reference="ORDER-1001", payer_name="Wanjiku Kamau",
    )  # fmt: skip
    shots = tmp_path / "screenshots"
    shots.mkdir()
    base = system.url

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:

            def session(username: str):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.set_default_timeout(15_000)
                page = context.new_page()
                page.goto(f"{base}/admin/login/")
                if username == "rita":
                    page.screenshot(path=shots / "01-login.png")
                page.fill("#id_username", username)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{base}/admin/")
                return context, page

            # The requester: the payment's page, its Refund form, the confirmation, the request.
            context, page = session("rita")
            page.goto(f"{base}/admin/payments/payment/{payment.pk}/change/")
            page.screenshot(path=shots / "02-payment.png", full_page=True)
            page.click("text=Refund")
            page.fill("#id_amount", "500")
            page.fill("#id_reason", "Customer returned one of the two items")
            page.screenshot(path=shots / "03-refund-form.png")
            page.click("input[type=submit][value=Continue]")
            page.wait_for_selector("text=Yes, request this refund")
            assert "KES 500" in page.content() and "254708374149" in page.content()
            page.click("input[name=confirm]")
            page.wait_for_selector("ul.messagelist li.success")
            message = page.inner_text("ul.messagelist")
            assert "waits for approval" in message, message
            # No ORM in here: Playwright runs an event loop in this thread, and Django would hand the ORM
            # a connection of its own that nothing closes. The page names the payout.
            match = re.search(r"/admin/payments/payout/(\d+)/change/", page.url)
            assert match, page.url
            payout_id = int(match.group(1))
            assert "Pending approval" in page.inner_text("#content")
            assert page.locator("a", has_text="Approve").count() == 0  # a requester cannot approve
            page.screenshot(path=shots / "04-refund-requested.png")
            context.close()

            # The approver: the payout's page, Approve, the confirmation, and the payout completed.
            context, page = session("alan")
            page.goto(f"{base}/admin/payments/payout/{payout_id}/change/")
            page.click("a:text-is('Approve')")
            page.wait_for_selector("text=Yes, approve 1 payout")
            page.screenshot(path=shots / "05-approve-confirmation.png", full_page=True)
            page.click("input[name=confirm]")
            page.wait_for_selector("ul.messagelist li")
            assert "approved; it will be sent" in page.inner_text("ul.messagelist")

            def completed() -> bool:
                page.goto(f"{base}/admin/payments/payout/{payout_id}/change/")
                return "Completed" in page.inner_text(".field-status_badge")

            for _ in range(60):  # at most ~30 s: the worker sends, the simulator answers, its Result settles it
                if completed():
                    break
                page.wait_for_timeout(500)
            content = page.inner_text("#content")
            assert "Completed" in content, content[:2000]
            page.screenshot(path=shots / "06-payout-completed.png", full_page=True)
            context.close()
        finally:
            browser.close()

    payout = Payout.objects.get(payment=payment)
    assert payout.pk == payout_id and payout.requested_by == requester
    assert payout.status == PayoutStatus.COMPLETED and payout.transaction_id
    assert list(payout.approvals.values_list("approver__username", flat=True)) == ["alan"]
    assert list(payout.events.values_list("action", flat=True))[:3] == ["requested", "approved", "sending"]
    assert system.simulator.payments_for(payout.originator_conversation_id)[0]["outcome"] == "paid"
    payment.refresh_from_db()
    assert payment.refunded_amount == Decimal("500.00")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in sorted(shots.glob("*.png")):
            shutil.copyfile(shot, SCREENSHOTS / shot.name)
