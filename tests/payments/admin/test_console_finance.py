"""Finance in the console: an export and a statement reconciliation asked for in the admin, run by the worker's
task (eagerly here), followed on the job's page, downloaded; permission-gated and audited."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.nairobi_time import NAIROBI
from payments.models import AuditEvent, FinanceJob, FinanceJobStatus, PayoutStatus
from tests.factories import make_payout, make_user
from tests.payments.admin.conftest import logged_in
from tests.payments.reconciliation.statements import b2c_row, write_csv, write_inflating_xlsx, write_xlsx

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _worker(settings, tmp_path):
    """The job's task runs in the test (as a worker would run it), files go to a temporary directory."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CONSOLE_FILES_DIR = tmp_path / "console-files"


def payout_on(receipt: str, when: datetime, amount: str, **fields):
    return make_payout(
        status=fields.pop("status", PayoutStatus.COMPLETED), transaction_id=receipt, amount=Decimal(amount),
        result_code="0", created_at=when - timedelta(minutes=5), completed_at=when, mpesa_completed_at=when,
        **fields,
    )  # fmt: skip


def july(day: int, hour: int = 10) -> datetime:
    return datetime(2024, 7, day, hour, 0, tzinfo=NAIROBI)


def test_export_in_the_console_runs_on_the_worker_and_downloads_the_commands_file(
    approver, django_capture_on_commit_callbacks
):
    from openpyxl import load_workbook

    first = payout_on("SGE0000001", july(2), "12500.00")
    payout_on("SGE0000002", july(3), "300.00")
    payout_on("SGE0000003", datetime(2024, 8, 1, 10, tzinfo=NAIROBI), "999.00")  # outside the range
    client = logged_in(approver)
    form = client.get("/admin/payments/financejob/export/")
    assert form.status_code == 200 and 'name="start"' in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/payments/financejob/export/",
            {"start": "2024-07-01", "end": "2024-07-31", "kind": "payouts", "format": "xlsx"},
        )
    job = FinanceJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/payments/financejob/{job.pk}/change/"
    assert job.status == FinanceJobStatus.DONE and job.rows == 2 and job.requested_by == approver

    page = client.get(response["Location"]).content.decode()
    assert "2 rows written" in page and f"/admin/payments/financejob/{job.pk}/download/" in page
    progress = client.get(f"/admin/payments/financejob/{job.pk}/progress/").json()
    assert progress["finished"] is True and progress["percent"] == 100 and progress["done"] == 2

    download = client.get(f"/admin/payments/financejob/{job.pk}/download/")
    assert download.status_code == 200
    assert 'filename="payouts-20240701-20240731.xlsx"' in download["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(b"".join(download.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("ID", "Kind", "Status", "Amount (KES)") and sheet.freeze_panes == "A2"
    assert rows[1][0] == first.pk and rows[1][3] == 12500 and len(rows) == 3
    assert isinstance(rows[1][rows[0].index("Created (Nairobi)")], datetime)

    # Audited: who exported what, when.
    event = AuditEvent.objects.get(action="ledger_export_requested")
    assert event.actor == approver and event.details["start"] == "2024-07-01" and event.details["format"] == "xlsx"
    listing = client.get("/admin/payments/financejob/").content.decode()
    assert "payouts created 2024-07-01 to 2024-07-31 (XLSX)" in listing and "alan" in listing


def test_a_csv_export_is_the_same_file_as_the_command_gives(approver, django_capture_on_commit_callbacks, tmp_path):
    from django.core.management import call_command

    payout_on("SGE0000011", july(5), "1500.00")
    client = logged_in(approver)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/payments/financejob/export/",
            {"start": "2024-07-01", "end": "2024-07-31", "kind": "payouts", "format": "csv"},
        )
    job = FinanceJob.objects.get()
    console = b"".join(client.get(f"/admin/payments/financejob/{job.pk}/download/").streaming_content).decode()
    command = tmp_path / "cmd.csv"
    call_command("export_reconciliation", start="2024-07-01", end="2024-07-31", output=str(command),
                 stderr=io.StringIO())  # fmt: skip
    assert console == command.read_text() and "SGE0000011" in console


def test_export_refuses_bad_dates_and_users_without_the_permission(approver, django_capture_on_commit_callbacks):
    client = logged_in(approver)
    response = client.post(
        "/admin/payments/financejob/export/",
        {"start": "2024-07-31", "end": "2024-07-01", "kind": "payouts", "format": "csv"},
    )
    assert response.status_code == 400 and "The last day is before the first." in response.content.decode()
    too_long = client.post(
        "/admin/payments/financejob/export/",
        {"start": "2023-01-01", "end": "2024-07-01", "kind": "payouts", "format": "csv"},
    )
    assert too_long.status_code == 400 and "at most 366 days" in too_long.content.decode()
    out_of_range = client.post(
        "/admin/payments/financejob/export/",
        {"start": "9999-12-31", "end": "9999-12-31", "kind": "payouts", "format": "csv"},
    )
    assert out_of_range.status_code == 400 and "Give a date between" in out_of_range.content.decode()
    assert not FinanceJob.objects.exists()
    assert not AuditEvent.objects.filter(action="ledger_export_requested").exists()  # the login is audited, no export
    outsider = make_user("staffonly", is_staff=True)
    assert logged_in(outsider).get("/admin/payments/financejob/export/").status_code == 403
    assert logged_in(outsider).get("/admin/payments/financejob/reconcile/").status_code == 403


def statement_rows():
    return [
        b2c_row("SGR0000001", "02-07-2024 10:00:00", "1,500.00"),
        b2c_row("SGR0000002", "03-07-2024 10:00:00", "2,000.00"),  # ours is 2,500: the planted mismatch
        b2c_row("SGR0000099", "04-07-2024 10:00:00", "700.00"),  # not ours
    ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_reconcile_a_statement_in_the_console(approver, django_capture_on_commit_callbacks, tmp_path, fmt):
    payout_on("SGR0000001", july(2), "1500.00")
    mismatched = payout_on("SGR0000002", july(3), "2500.00")
    path = tmp_path / f"ORG_600999_Statement.{fmt}"
    (write_csv if fmt == "csv" else write_xlsx)(path, statement_rows())
    client = logged_in(approver)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/payments/financejob/reconcile/",
            {"statement": SimpleUploadedFile(path.name, path.read_bytes())},
        )
    job = FinanceJob.objects.get()
    assert response.status_code == 302, response.content.decode()[:500]
    assert job.status == FinanceJobStatus.DONE, job.error

    page = client.get(response["Location"]).content.decode()
    assert "2 discrepancies" in page and "Amount mismatch" in page and "In the statement, not ours" in page
    assert f'href="/admin/payments/payout/{mismatched.pk}/change/"' in page
    assert "The statement shows KES 2,000.00" in page and "SGR0000099" in page
    assert "KES 2,500.00 completed" in page and "payouts" in page

    report = client.get(f"/admin/payments/financejob/{job.pk}/download/")
    assert report.status_code == 200 and ".reconciliation.csv" in report["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert sorted(r["kind"] for r in rows) == ["amount_mismatch", "statement_only"]

    event = AuditEvent.objects.get(action="statement_reconcile_requested")
    assert event.actor == approver and event.details["file_name"] == path.name


def test_a_file_that_is_not_a_statement_is_refused_and_nothing_is_queued(approver):
    client = logged_in(approver)
    response = client.post(
        "/admin/payments/financejob/reconcile/",
        {"statement": SimpleUploadedFile("notes.csv", b"name,amount\nJane,100\n")},
    )
    assert response.status_code == 400
    assert "notes.csv" in response.content.decode() and "Please correct" in response.content.decode()
    assert not FinanceJob.objects.exists() and not AuditEvent.objects.filter(action__contains="reconcile").exists()


def test_an_xlsx_that_inflates_like_a_zip_bomb_is_refused_unread_and_nothing_is_stored(approver, settings, tmp_path):
    # 3 MB of zeros in the sheet, stored in a few KB: openpyxl would read it (and a 1,000 MB one, in the web
    # request); only the zip's directory is read, and its ratio refuses it.
    path = write_inflating_xlsx(tmp_path / "ORG_600999_Statement.xlsx", statement_rows(), padding_mb=3)
    assert path.stat().st_size < 64 * 1024
    response = logged_in(approver).post(
        "/admin/payments/financejob/reconcile/",
        {"statement": SimpleUploadedFile(path.name, path.read_bytes())},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "its part xl/worksheets/sheet1.xml inflates" in page and "is it a zip bomb?" in page
    assert not FinanceJob.objects.exists() and not AuditEvent.objects.filter(action__contains="reconcile").exists()
    assert not list((settings.CONSOLE_FILES_DIR / "statements").glob("*"))


def test_requesters_may_export_but_not_reconcile_or_download_a_reconciliation(
    requester, approver, django_capture_on_commit_callbacks, tmp_path
):
    path = write_csv(tmp_path / "s.csv", statement_rows())
    with django_capture_on_commit_callbacks(execute=True):
        logged_in(approver).post(
            "/admin/payments/financejob/reconcile/", {"statement": SimpleUploadedFile("s.csv", path.read_bytes())}
        )
    job = FinanceJob.objects.get()
    client = logged_in(requester)
    assert client.get("/admin/payments/financejob/export/").status_code == 200
    assert client.get("/admin/payments/financejob/reconcile/").status_code == 403
    assert client.get(f"/admin/payments/financejob/{job.pk}/download/").status_code == 403


def test_while_the_job_waits_its_page_shows_a_progress_bar_polled_by_a_static_script(approver, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # no worker has taken it yet
    client = logged_in(approver)
    client.post(
        "/admin/payments/financejob/export/",
        {"start": "2024-07-01", "end": "2024-07-31", "kind": "payments", "format": "json"},
    )
    job = FinanceJob.objects.get()
    assert job.status == FinanceJobStatus.QUEUED
    page = client.get(f"/admin/payments/financejob/{job.pk}/change/").content.decode()
    assert '<progress id="job-progress-bar"' in page and "Waiting for a worker" in page
    assert f'data-progress-url="/admin/payments/financejob/{job.pk}/progress/"' in page
    assert 'src="/static/payments/job-progress.js"' in page and "<script>" not in page
    assert "/download/" not in page
    assert client.get(f"/admin/payments/financejob/{job.pk}/download/").status_code == 404
    assert client.get(f"/admin/payments/financejob/{job.pk}/progress/").json()["finished"] is False


def test_a_job_the_broker_never_got_is_queued_again_by_beat_and_runs(approver, monkeypatch,
                                                                       django_capture_on_commit_callbacks):  # fmt: skip
    from payments.reconciliation import jobs as finance
    from payments.tasks import sweep_finance_jobs

    payout_on("SGE0000021", july(4), "700.00")
    real_publish = finance.publish_now

    def broker_down(task, *args):
        raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(finance, "publish_now", broker_down)
    client = logged_in(approver)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/payments/financejob/export/",
                    {"start": "2024-07-01", "end": "2024-07-31", "kind": "payouts", "format": "csv"})  # fmt: skip
    job = FinanceJob.objects.get()
    assert job.status == FinanceJobStatus.QUEUED

    assert sweep_finance_jobs.apply().get() == {"requeued": 0, "stopped": 0}  # asked for a moment ago: not yet
    FinanceJob.objects.filter(pk=job.pk).update(created_at=job.created_at - timedelta(minutes=2))
    assert sweep_finance_jobs.apply().get() == {"requeued": 0, "stopped": 0}  # the broker is still down
    monkeypatch.setattr(finance, "publish_now", real_publish)
    assert sweep_finance_jobs.apply().get() == {"requeued": 1, "stopped": 0}

    job.refresh_from_db()
    assert (job.status, job.rows) == (FinanceJobStatus.DONE, 1)
    page = client.get(f"/admin/payments/financejob/{job.pk}/change/").content.decode()
    assert "1 row written." in page
    assert sweep_finance_jobs.apply().get() == {"requeued": 0, "stopped": 0}


def test_a_job_whose_worker_died_is_marked_failed_and_says_ask_again(approver, settings):
    from payments.reconciliation.jobs import JobProgress
    from payments.tasks import sweep_finance_jobs

    settings.CELERY_TASK_ALWAYS_EAGER = False
    client = logged_in(approver)
    client.post("/admin/payments/financejob/export/",
                {"start": "2024-07-01", "end": "2024-07-31", "kind": "payouts", "format": "csv"})  # fmt: skip
    job = FinanceJob.objects.get()
    # A worker claimed it and died: nothing has been heard of it for longer than the timeout.
    started = datetime.now(tz=NAIROBI) - timedelta(minutes=settings.FINANCE_JOB_TIMEOUT_MINUTES + 1)
    FinanceJob.objects.filter(pk=job.pk).update(status=FinanceJobStatus.RUNNING, started_at=started)
    # Another started as long ago, but its worker still reports progress: a long job, not a dead one.
    long_one = FinanceJob.objects.create(kind="export", requested_by=approver, status=FinanceJobStatus.RUNNING,
                                         started_at=started)  # fmt: skip
    JobProgress(long_one.pk, total=1000).update(10)

    assert sweep_finance_jobs.apply().get() == {"requeued": 0, "stopped": 1}
    job.refresh_from_db()
    long_one.refresh_from_db()
    assert job.status == FinanceJobStatus.FAILED and long_one.status == FinanceJobStatus.RUNNING
    page = client.get(f"/admin/payments/financejob/{job.pk}/change/").content.decode()
    assert "No word from its worker for 60 minutes" in page and "Ask for it again." in page
    assert client.get(f"/admin/payments/financejob/{job.pk}/progress/").json()["finished"] is True
