"""The console in a real browser (Debian's Chromium, driven by Playwright, headless), on the running system
(gunicorn, a Celery worker on Redis, PostgreSQL), with the demo data `make run` seeds:

- the approver opens the overview: what needs them (and the card leads to exactly those payouts), today and
  this week, the float with its charts;
- exports a week of payouts as XLSX: the worker writes it, the page follows its progress (the static
  poller), and the browser downloads it;
- uploads the sample statement: the worker reconciles it, the page shows the planted mismatch with a link to
  our payout and offers the report.

Screenshots go to the test's temporary directory; UPDATE_SCREENSHOTS=1 copies them to docs/screenshots/.
"""

from __future__ import annotations

import csv
import io
import os
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from payments.models import FinanceJob, FinanceJobStatus, Payout, PayoutStatus
from tests.e2e.support import ROOT, set_login_password
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]
STATEMENT = ROOT / "docs" / "demo" / "ORG_600992_Statement_demo.csv"
PASSWORD = "e2e-Pass-word-2026"


@pytest.fixture
def sync_playwright():
    module = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    return module.sync_playwright


@pytest.fixture(autouse=True)
def _console_files(tmp_path, monkeypatch):
    # Read by the web server and the worker (their environment is built from this process's).
    monkeypatch.setenv("CONSOLE_FILES_DIR", str(tmp_path / "console-files"))


def test_overview_export_and_statement_upload_in_a_real_browser(running_system, sync_playwright, tmp_path):
    call_command("seed_demo", stdout=io.StringIO())
    # The web server's hashers, not the tests' fast one.
    set_login_password(get_user_model().objects.get(username="approver"), PASSWORD)
    # Read before the browser starts (no ORM while Playwright's loop runs in this thread).
    awaiting = Payout.objects.filter(status=PayoutStatus.PENDING_APPROVAL).exclude(requested_by__username="approver")
    awaiting_ids = set(awaiting.values_list("pk", flat=True))
    mismatched = Payout.objects.get(transaction_id="DEMOST0003")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    base = running_system.url

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
            context.set_default_timeout(20_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{base}/")  # the root opens the console
            page.fill("#id_username", "approver")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/admin/")

            # The overview.
            assert page.title() == "Overview | M-Pesa payouts"
            card = page.locator("#card-awaiting")
            assert int(card.locator(".console-figure").inner_text()) == len(awaiting_ids)
            assert int(page.locator("#card-needs-review .console-figure").inner_text()) == 1
            assert int(page.locator("#card-failed-today .console-figure").inner_text()) >= 2
            assert page.locator("#failures-today tbody tr").count() >= 2
            assert page.locator("svg.console-chart").count() == 2
            assert "low-balance threshold" in page.inner_text("#float")
            assert "payouts are running" in page.inner_text("#kill-switch-state")
            page.screenshot(path=shots / "07-console-overview.png", full_page=True)
            card.click()
            page.wait_for_selector("#result_list")
            listed = {int(v) for v in page.locator("#result_list input.action-select").evaluate_all(
                "boxes => boxes.map(b => b.value)")}  # fmt: skip
            assert listed == awaiting_ids

            # Export: a week of payouts as XLSX, written by the worker, followed, downloaded.
            page.goto(f"{base}/admin/")
            page.click("text=Export payouts or payments")
            page.fill("#id_start", "2026-11-01")
            page.fill("#id_end", "2026-11-07")
            page.select_option("#id_kind", "payouts")
            page.select_option("#id_format", "xlsx")
            page.screenshot(path=shots / "08-console-export-form.png")
            page.click("#export-form input[type=submit]")
            page.wait_for_selector("#job-download")  # the poller reloads the page once the worker is done
            assert "6 rows written" in page.inner_text("#job-result")
            page.screenshot(path=shots / "09-console-export-done.png")
            with page.expect_download() as download_info:
                page.click("#job-download")
            download = download_info.value
            assert download.suggested_filename == "payouts-20261101-20261107.xlsx"
            xlsx = tmp_path / download.suggested_filename
            download.save_as(xlsx)

            # Reconcile the sample statement.
            page.goto(f"{base}/admin/")
            page.click("text=Reconcile a statement")
            page.set_input_files("#id_statement", str(STATEMENT))
            page.click("#reconcile-form input[type=submit]")
            page.wait_for_selector("#reconcile-summary")
            assert "1 discrepancy" in page.inner_text("#reconcile-result")
            row = page.locator("#discrepancies tbody tr")
            assert row.count() == 1 and "DEMOST0003" in row.inner_text() and "Amount mismatch" in row.inner_text()
            link = row.locator("a")
            assert link.get_attribute("href") == f"/admin/payments/payout/{mismatched.pk}/change/"
            page.screenshot(path=shots / "10-console-reconciliation.png", full_page=True)
            with page.expect_download() as report_info:
                page.click("#job-download")
            report = tmp_path / "report.csv"
            report_info.value.save_as(report)
            link.click()
            page.wait_for_url(f"**/admin/payments/payout/{mismatched.pk}/change/")
            assert errors == [], errors
            context.close()
        finally:
            browser.close()

    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("ID", "Kind", "Status", "Amount (KES)") and sheet.freeze_panes == "A2"
    assert len(rows) == 7 and {r[rows[0].index("M-Pesa receipt")] for r in rows[1:]} == {
        f"DEMOST000{n}" for n in range(1, 7)
    }
    with report.open(newline="") as f:
        assert [(r["kind"], r["receipt"]) for r in csv.DictReader(f)] == [("amount_mismatch", "DEMOST0003")]
    jobs = FinanceJob.objects.order_by("pk")
    assert [(j.kind, j.status, j.requested_by.username) for j in jobs] == [
        ("export", FinanceJobStatus.DONE, "approver"),
        ("reconcile", FinanceJobStatus.DONE, "approver"),
    ]
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in sorted(shots.glob("*.png")):
            shutil.copyfile(shot, SCREENSHOTS / shot.name)
