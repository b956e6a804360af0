"""Every page an approver acts on, in a real browser (Debian's Chromium, driven by Playwright, headless) at a
phone's width (390x844) and a laptop's (1366x768), on the demo `make run` seeds: nothing is wider than the
screen, so nobody scrolls sideways to find the recipient, the amount or the button.

No ORM while the browser runs (Playwright's event loop is in this thread): rows are read before.
Screenshots go to /tmp/shots (per page and width: the whole page, and the first screen); with
UPDATE_SCREENSHOTS=1 the README's phone screenshots in docs/screenshots/ are refreshed from them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count

from ledger.models import Account
from payments.models import Payment, Payout, PayoutBatch, PayoutStatus
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.e2e.support import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]

SHOTS = Path("/tmp/shots")
PASSWORD = "demo-pass-123"  # seed_demo's
STATEMENT = ROOT / "docs" / "demo" / "ORG_600992_Statement_demo.csv"
WIDTHS = {"phone": (390, 844), "laptop": (1366, 768)}
README_SHOTS = {
    "phone-approve-first-screen.png": "17-phone-approve-confirmation.png",
    "phone-payouts-first-screen.png": "18-phone-payouts-list.png",
}
# Names the innermost elements that reach past the screen's right edge, so a failure says what to fix.
WIDEST = """(width) => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > width + 1 && e.children.length === 0)
  .slice(0, 4)
  .map(e => `${e.tagName.toLowerCase()}.${e.className}#${e.id}: ${Math.round(e.getBoundingClientRect().right)}`)"""


def test_no_decision_page_is_wider_than_a_phone(live_server, settings, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the statement is reconciled while the upload is answered
    settings.CONSOLE_FILES_DIR = tmp_path / "console-files"
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    pending = Payout.objects.filter(status=PayoutStatus.PENDING_APPROVAL).order_by("pk").first()
    review = Payout.objects.filter(status=PayoutStatus.NEEDS_REVIEW).order_by("pk").first()
    batch = PayoutBatch.objects.order_by("pk").first()
    payment = Payment.objects.order_by("pk").first()
    account = Account.objects.annotate(lines=Count("entries")).order_by("-lines").first()  # the busiest
    assert pending and review and batch and payment and account
    payout_urls = "/admin/payments/payout"
    pages = {
        "overview": "/admin/",
        "payouts": f"{payout_urls}/",
        "payout": f"{payout_urls}/{pending.pk}/change/",
        "approve": f"{payout_urls}/approve/?ids={pending.pk}",
        "reject": f"{payout_urls}/reject/?ids={pending.pk}",
        "review": f"{payout_urls}/{review.pk}/review/",
        "batch": f"/admin/payments/payoutbatch/{batch.pk}/change/",
        "payments": "/admin/payments/payment/",
        "refund": f"/admin/payments/payment/{payment.pk}/refund/",
        "statement": f"/admin/ledger/account/{account.code}/statement/",
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    too_wide: dict[str, int] = {}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for size, (width, height) in WIDTHS.items():
                context = browser.new_context(viewport={"width": width, "height": height})
                context.set_default_timeout(20_000)
                page = context.new_page()
                page.goto(f"{live_server.url}/admin/login/")
                page.fill("#id_username", "admin")  # every page, refund form included
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{live_server.url}/admin/")
                if size == "phone":
                    page.goto(f"{live_server.url}/admin/payments/financejob/reconcile/")
                    page.set_input_files("input[type=file]", str(STATEMENT))
                    page.click("input[type=submit][value=Reconcile]")
                    page.wait_for_load_state()
                    pages["reconciliation"] = page.url.removeprefix(live_server.url)
                for name, path in pages.items():
                    response = page.goto(f"{live_server.url}{path}")
                    assert response.status == 200, (name, path, response.status)
                    page.screenshot(path=SHOTS / f"{size}-{name}.png", full_page=True)
                    page.screenshot(path=SHOTS / f"{size}-{name}-first-screen.png")  # what shows before scrolling
                    scroll_width = page.evaluate("document.documentElement.scrollWidth")
                    if scroll_width > width:
                        too_wide[f"{size} {name}"] = (scroll_width, page.evaluate(WIDEST, width))
                context.close()
        finally:
            browser.close()
    assert "/financejob/" in pages["reconciliation"]
    assert too_wide == {}, too_wide
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot, name in README_SHOTS.items():
            shutil.copyfile(SHOTS / shot, SCREENSHOTS / name)
