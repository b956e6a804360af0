"""The demo as a new user walks it (issue 31's "Done when"), in a real browser (Debian's Chromium, driven by
Playwright, headless) at a laptop's width (1366x768) and a phone's (390x844), as each demo user `seed_demo`
creates, on the data `make run` starts with (seed_demo with the simulator's float, ledger_backfill, and the
first balance reading):

- approver: the float check has no flag, the trial balance balances, a payout's events are in order and none
  is after now, every line of the sample statement is accounted for, an inbox of what waits for them;
- requester: every form error at once, a failed payout requested again to a corrected phone, a note in its
  case file, a CSV batch whose refused rows are still downloadable from the batch, an inbox of their own;
- approver2 and admin: enrolment in the second factor offers backup codes;
- everyone: none of the jargon on the pages a finance person reads, and no page wider than the screen (the
  decision pages one by one are tests/e2e/test_browser_phone.py's).

No ORM while the browser runs (Playwright's event loop is in this thread): rows are read before, checked after.
Screenshots go to /tmp/shots-walk; with UPDATE_SCREENSHOTS=1 the README's walk screenshots in docs/screenshots/
are refreshed from them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from base64 import b32decode
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken

from core.nairobi_time import NAIROBI
from payments.callbacks.tokens import static_token
from payments.models import Payout, PayoutStatus
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.e2e.test_browser_phone import PASSWORD, STATEMENT, WIDEST, WIDTHS
from tests.factories import sample
from tests.ledger.conftest import post_callback

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]

SHOTS = Path("/tmp/shots-walk")
DEMO_FLOAT = "1000000.00"  # scripts/run_local.py's: the simulator's float, given to seed_demo
# Issue 31's list, as a person reads the page (the sidebar's app labels are upper-cased by the admin's CSS).
JARGON = [
    "CommandID",
    "Originator conversation id",
    "Mpesa completed at",
    "AXES",
    "OTP_STATIC",
    "OTP_TOTP",
    "Template params",
    "Dedupe key",
    "payout(s)",
]
README_SHOTS = {
    "laptop-approver-float-checks.png": "19-float-checks-agree.png",
    "laptop-approver-trial-balance.png": "20-trial-balance.png",
    "laptop-requester-request-again-corrected.png": "21-request-again-corrected-phone.png",
    "phone-approver-inbox.png": "22-phone-inbox.png",
}
CSV_TEXT = (
    "phone,amount,recipient name,reference,remarks\n"
    "0712345678,1500,Jane Wanjiru,INV-2042,December trainer fee\n"
    "0812345678,900,Bad Number,INV-2043,December trainer fee\n"
)


def first_balance_reading() -> None:
    """The simulator's first balance query answers the float seed_demo was given: posted to our callback URL."""
    body = json.dumps(sample("account_balance_result")).replace(
        "Utility Account|KES|228037.00|228037.00", f"Utility Account|KES|{DEMO_FLOAT}|{DEMO_FLOAT}"
    )
    assert post_callback(Client(), "balance-result", static_token("balance"), body).status_code == 200


def totp_code(secret: str) -> str:
    from django_otp.oath import TOTP

    totp = TOTP(b32decode(secret.replace(" ", "")), step=30, t0=0, digits=6)
    totp.time = time.time()
    return f"{totp.token():06d}"


@dataclass
class Walk:
    """One width's walk: signs each user in on a browser context of that size; `look` screenshots a page and
    notes its jargon and whether it is wider than the screen (asserted at the end, so one run shows them all)."""

    browser: object
    base: str
    size: str
    width: int
    height: int
    jargon: dict[str, list[str]]
    too_wide: dict[str, tuple]

    def session(self, username: str):
        viewport = {"width": self.width, "height": self.height}
        context = self.browser.new_context(viewport=viewport, accept_downloads=True)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(f"{self.base}/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{self.base}/admin/")
        return context, page

    def look(self, page, who: str, name: str, path: str | None = None) -> str:
        """Open (or stay on) a page: its screenshot, its jargon, its width; the text as a person reads it."""
        if path is not None:
            response = page.goto(f"{self.base}{path}")
            assert response.status == 200, (who, path, response.status)
        page.screenshot(path=SHOTS / f"{self.size}-{who}-{name}.png", full_page=True)
        text = page.inner_text("body")  # as read: the admin's CSS upper-cases the sidebar's labels
        if found := [word for word in JARGON if word in text]:
            self.jargon[f"{self.size} {who} {name}"] = found
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > self.width:
            self.too_wide[f"{self.size} {who} {name}"] = (scroll_width, page.evaluate(WIDEST, self.width))
        return text


def test_the_demo_walk_as_each_user_at_a_laptop_and_a_phone(live_server, settings, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the statement is reconciled while the upload is answered
    settings.CONSOLE_FILES_DIR = tmp_path / "console-files"
    call_command("seed_demo", "--float", DEMO_FLOAT, stdout=io.StringIO())
    call_command("ledger_backfill", stdout=io.StringIO())
    first_balance_reading()
    # Read before the browser starts: a failed payout of the requester's for each width, a completed one.
    failed = list(
        Payout.objects.filter(status=PayoutStatus.FAILED, requested_by__username="requester").order_by("pk")[:2]
    )
    completed = Payout.objects.filter(status=PayoutStatus.COMPLETED).order_by("pk").first()
    assert len(failed) == 2 and completed
    base = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    too_wide: dict[str, tuple] = {}
    jargon: dict[str, list[str]] = {}
    downloads: dict[str, list[list[str]]] = {}
    backup_codes: dict[str, list[str]] = {}
    started = time.monotonic()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for size, (width, height) in WIDTHS.items():
                walk = Walk(browser, base, size, width, height, jargon, too_wide)
                session, look = walk.session, walk.look

                # The approver: books that agree, a trail in order, the statement accounted for, their inbox.
                context, page = session("approver")
                look(page, "approver", "home", "/admin/")
                checks = look(page, "approver", "float-checks", "/admin/ledger/floatcheck/")
                assert "Agrees" in checks and "Drift: look into it" not in checks
                assert "KES 1,000,000.00" in checks
                trial = look(page, "approver", "trial-balance", "/admin/ledger/account/trial-balance/")
                assert "Balanced" in trial and "As of now" in trial
                look(page, "approver", "payout", f"/admin/payments/payout/{completed.pk}/change/")
                times = page.locator(".field-events_table tbody tr td:first-child").all_inner_texts()
                moments = [datetime.strptime(t.strip(), "%d %b %Y, %H:%M").replace(tzinfo=NAIROBI) for t in times]
                assert len(moments) >= 3 and moments == sorted(moments), times
                assert moments[-1] <= timezone.now(), times
                look(page, "approver", "payouts", "/admin/payments/payout/")
                look(page, "approver", "reconcile", "/admin/payments/financejob/reconcile/")
                page.set_input_files("#id_statement", str(STATEMENT))
                page.click("#reconcile-form input[type=submit]")
                page.wait_for_selector("#reconcile-summary")
                result = " ".join(look(page, "approver", "reconciliation").split())
                assert "All lines 13" in result and "they agree" in result, result[:2000]
                assert "Payouts matched to ours 6" in result and "M-Pesa charges 6" in result
                assert "Transfers between the organisation's accounts 1" in result
                inbox = look(page, "approver", "inbox", "/admin/inbox/")
                assert "waits for your approval" in inbox and "your request was" not in inbox
                context.close()

                # The requester: every error at once, a corrected request-again, a note, a batch's refused rows.
                context, page = session("requester")
                inbox = look(page, "requester", "inbox", "/admin/inbox/")
                assert "waits for your approval" not in inbox and "your request was" in inbox
                look(page, "requester", "new-payout", "/admin/payments/payout/add/")
                page.fill("#id_phone", "12345")
                page.fill("#id_amount", "100.50")  # the form asks no help from the browser's checks (novalidate)
                page.fill("#id_remarks", "x")
                with page.expect_navigation():
                    page.click("#content-main form input[type=submit].default")
                look(page, "requester", "new-payout-errors")
                bad = [f for f in ("phone", "amount", "remarks") if page.locator(f".field-{f} .errorlist").count()]
                assert bad == ["phone", "amount", "remarks"], bad

                retry_of = failed[0 if size == "laptop" else 1]
                look(page, "requester", "failed-payout", f"/admin/payments/payout/{retry_of.pk}/change/")
                page.click("a:text-is('Request again')")
                page.wait_for_selector("text=Yes, request it again")
                page.fill("input[name=phone]", "0722 000 111")
                look(page, "requester", "request-again-corrected")
                with page.expect_navigation():
                    page.click("input[name=confirm]")
                assert "It waits for approval" in page.inner_text("ul.messagelist")
                look(page, "requester", "requested-again")
                page.fill("#id_note_text", f"Called the recipient: the new number is right ({size}).")
                with page.expect_navigation():
                    page.click("#case-file input[type=submit]")
                assert "Note added to the case file." in page.inner_text("ul.messagelist")
                story = look(page, "requester", "case-file-note")
                assert f"Note: Called the recipient: the new number is right ({size})." in story
                assert "requester (note)" in story

                look(page, "requester", "bulk-upload", "/admin/payments/payout/bulk-upload/")
                page.set_input_files(
                    "#id_file", {"name": "december.csv", "mimeType": "text/csv", "buffer": CSV_TEXT.encode()}
                )
                page.fill("#id_name", f"December trainers ({size})")
                page.click("input[type=submit][value='Check the file']")
                page.wait_for_selector("h2.bulk-refused-summary")
                look(page, "requester", "bulk-preview")
                with page.expect_navigation():
                    page.click("input[name=confirm]")
                assert "created" in page.inner_text("ul.messagelist")
                look(page, "requester", "batch")
                with page.expect_download() as refused_file:
                    page.click("a:text-is('Download the refused rows (CSV)')")
                downloads[size] = list(csv.reader(io.StringIO(Path(refused_file.value.path()).read_text())))
                context.close()

                # Enrolment in the second factor ends with backup codes: approver2 on a laptop, admin on a phone.
                who = "approver2" if size == "laptop" else "admin"
                context, page = session(who)
                look(page, who, "enrol", "/account/two_factor/setup/")
                page.locator("[type=submit]:visible").first.click()
                page.wait_for_selector("input[name='generator-token']")
                look(page, who, "enrol-qr")
                secret = page.locator("a[href^='otpauth://']").inner_text()
                page.fill("input[name='generator-token']", totp_code(secret))
                page.locator("[type=submit]:visible").first.click()
                page.wait_for_url("**/account/two_factor/setup/complete/")
                look(page, who, "enrol-complete")
                backup_codes[who] = page.locator("li > code").all_inner_texts()
                page.click("a:text-is('Go to the console')")
                page.wait_for_url(f"{base}/admin/")
                if who == "admin":
                    look(page, who, "events", "/admin/payments/auditevent/")
                    look(page, who, "notifications", "/admin/notifications/notification/")
                    look(page, who, "webhooks", "/admin/webhooks/webhookendpoint/")
                context.close()
        finally:
            browser.close()

    assert time.monotonic() - started < 120
    assert jargon == {}, jargon
    assert too_wide == {}, too_wide
    for size, rows in downloads.items():
        assert rows[0][0] == "line" and [row[0] for row in rows[1:]] == ["3"], (size, rows)
        assert "Bad Number" in ",".join(rows[1]), (size, rows)
    for who, codes in backup_codes.items():
        tokens = StaticToken.objects.filter(device__user__username=who).values_list("token", flat=True)
        assert len(codes) == 10 and sorted(codes) == sorted(tokens), (who, codes)
    assert set(backup_codes) == {"approver2", "admin"}
    retries = Payout.objects.filter(retry_of__in=failed).order_by("retry_of_id")
    assert [(r.retry_of_id, r.phone, r.status) for r in retries] == [
        (f.pk, "254722000111", PayoutStatus.PENDING_APPROVAL) for f in failed
    ]
    assert [n.text for r in retries for n in r.notes.all()] == [
        "Called the recipient: the new number is right (laptop).",
        "Called the recipient: the new number is right (phone).",
    ]
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot, name in README_SHOTS.items():
            shutil.copyfile(SHOTS / shot, SCREENSHOTS / name)
