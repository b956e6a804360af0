"""Bad input is a clear 4xx (or a command error, exit 2, nothing written), never a 5xx or a hang: forged
cursors on every cursor-paginated list, out-of-range report dates, a NUL in a bulk-upload CSV, and for
reconcile_statement an absurd amount, an impossible Time Period, a NUL in a receipt, and XLSX bombs."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from payments.models import Payout, PayoutBatch
from tests.factories import make_payment, make_payout, make_requester
from tests.payments.admin.conftest import logged_in
from tests.payments.reconciliation.statements import COLUMNS, b2c_row, write_csv, write_xlsx

pytestmark = pytest.mark.django_db

@pytest.fixture
def api():
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.factories import make_user

    # Reading takes a payout role's view permissions (a staff flag alone grants nothing).
    finance = make_user("finance", is_staff=True, groups=("Payout approvers",))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=finance).key}")
    return client


LISTS = ["/api/payments/", "/api/payouts/", "/api/reconciliation/discrepancies/"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def merged(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


# DRF's cursor (payments, payouts) and our merged one (discrepancies): each list gets both kinds.
FORGED = [
    "garbage",
    "%00",
    b64("p=garbage"),  # DRF's cursor, with a position that is not a time
    b64("o=1&p=xx"),
    b64("r=1&p=\x00"),
    b64("p=0001-01-01 00:00:00+14:00"),  # a time that cannot be moved to UTC
]
FORGED_MERGED = [
    "garbage",
    "%00",
    merged([0, "not a time", 1, False]),
    merged([0, "0001-01-01T00:00:00+14:00", 1, False]),
    merged([0, "2024-07-01T00:00:00", 2**70, False]),
    merged([10**30, "2024-07-01T00:00:00", 1, False]),
    merged({"a": 1}),
]
CASES = [(url, cursor) for url in LISTS[:2] for cursor in FORGED] + [(LISTS[2], c) for c in FORGED_MERGED]


@pytest.mark.parametrize(("url", "cursor"), CASES)
def test_a_forged_cursor_is_a_clear_4xx(api, url, cursor):
    make_payout(), make_payment()
    response = api.get(url, {"cursor": cursor})
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Invalid cursor"}


@pytest.mark.parametrize(
    "query", [{"end": "9999-12-31"}, {"start": "9999-12-31"}, {"start": "0001-01-01"}, {"end": "1899-01-01"}]
)
def test_stats_with_an_out_of_range_date_is_400(api, query):
    response = api.get("/api/stats/", query)
    assert response.status_code == 400
    [field] = query
    assert "Give a date between 2000-01-01 and 9998-12-31" in response.json()[field][0]


def test_export_with_an_out_of_range_date_is_a_command_error():
    with pytest.raises(CommandError, match="between 2000-01-01 and 9998-12-31") as raised:
        call_command("export_reconciliation", "--start", "2024-07-01", "--end", "9999-12-31", stdout=io.StringIO())
    assert raised.value.returncode == 2


def test_a_nul_byte_in_a_bulk_upload_is_refused_and_creates_nothing():
    client = logged_in(make_requester("rita"))
    data = b"phone,amount,remarks\n0712345678,100,Fee one\n0722000111,200,Fee\x00two\n"
    page = client.post(
        reverse("admin:payments_payout_bulk_upload"),
        {"file": SimpleUploadedFile("march.csv", data, content_type="text/csv"), "command_id": "BusinessPayment"},
    )
    assert page.status_code == 200
    assert "NUL byte (line 3)" in str(page.context["form"].errors["file"])
    assert not PayoutBatch.objects.exists() and not Payout.objects.exists()


# --- reconcile_statement ---------------------------------------------------------------------------------


def reconcile(path: Path, tmp_path: Path) -> tuple[CommandError, Path]:
    report = tmp_path / "report.csv"
    with pytest.raises(CommandError) as raised:
        call_command("reconcile_statement", str(path), report=str(report), stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 2
    assert not report.exists()  # nothing written
    return raised.value, report


@pytest.mark.parametrize("amount", ["1e999999999", "-1e999999999", "1E+999999", "9" * 40, "NaN", "Infinity"])
def test_an_absurd_amount_is_refused(tmp_path, amount):
    row = b2c_row("SGZ0000001", "10-07-2024 12:00:00", "100.00")
    row["Withdrawn"] = amount
    error, _ = reconcile(write_csv(tmp_path / "s.csv", [row]), tmp_path)
    assert f"Withdrawn {amount!r} is not an amount" in str(error)


@pytest.mark.parametrize("period", ["00-00-0000 00:00:00 - 00-00-0000 23:59:59", "01-07-2024 - 31-13-2024"])
def test_an_impossible_time_period_is_refused(tmp_path, period):
    rows = [b2c_row("SGZ0000001", "10-07-2024 12:00:00", "100.00")]
    error, _ = reconcile(write_csv(tmp_path / "s.csv", rows, period=period), tmp_path)
    assert "Time Period" in str(error) and "not two real dd-mm-yyyy dates" in str(error)


@pytest.mark.parametrize("when", ["00-00-0000 00:00:00", ""])
def test_a_zero_or_missing_completion_time_is_refused(tmp_path, when):
    row = b2c_row("SGZ0000001", when, "100.00")
    error, _ = reconcile(write_csv(tmp_path / "s.csv", [row]), tmp_path)
    assert "line 9" in str(error)


def test_a_nul_in_a_receipt_is_refused(tmp_path):
    rows = [b2c_row("SGZ00\x0000001", "10-07-2024 12:00:00", "100.00")]
    error, _ = reconcile(write_csv(tmp_path / "s.csv", rows), tmp_path)
    assert "line 9: the Receipt No. holds a NUL byte" in str(error)


def _inline_row(number: int, values: list[str]) -> bytes:
    cells = "".join(
        f'<c r="{chr(65 + i)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
        for i, value in enumerate(values)
        if value
    )
    return f'<row r="{number}">{cells}</row>'.encode()


def xlsx_bomb(path: Path, *, rows: int, last_row: int | None = None) -> Path:
    """A small file that claims A1:XFD1048576 and holds, after a statement's column row and one B2C row,
    `rows` rows of one cell in column XFD (16,384): the shape that made openpyxl pad every row to 16,384
    cells (a 4 MB file ran for over 120 s)."""
    base = write_xlsx(path.with_name("base.xlsx"), [])
    transaction = b2c_row("SGZ0000001", "10-07-2024 12:00:00", "100.00")
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                bomb.writestr(item, source.read(item))
        with bomb.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><dimension ref="A1:XFD1048576"/><sheetData>'
            )
            sheet.write(_inline_row(1, COLUMNS))
            sheet.write(_inline_row(2, [transaction.get(c, "") for c in COLUMNS]))
            for number in range(3, 3 + rows):
                sheet.write(f'<row r="{number}"><c r="XFD{number}"><v>1</v></c></row>'.encode())
            if last_row:
                sheet.write(f'<row r="{last_row}"><c r="A{last_row}"><v>1</v></c></row>'.encode())
            sheet.write(b"</sheetData></worksheet>")
    return path


def test_an_xlsx_that_inflates_beyond_the_bound_is_refused_unread(tmp_path, settings):
    settings.STATEMENT_MAX_XLSX_MB = 5
    bomb = xlsx_bomb(tmp_path / "bomb.xlsx", rows=200_000)
    assert bomb.stat().st_size < 2 * 1024 * 1024  # small on disk, ~8 MB inflated
    error, _ = reconcile(bomb, tmp_path)
    assert "inflates to" in str(error) and "STATEMENT_MAX_XLSX_MB" in str(error)


def test_an_xlsx_claiming_a_million_rows_is_refused_at_the_row_bound(tmp_path, settings):
    settings.STATEMENT_MAX_ROWS = 5_000
    bomb = xlsx_bomb(tmp_path / "bomb.xlsx", rows=10, last_row=1_048_576)
    error, _ = reconcile(bomb, tmp_path)
    assert "more than 5,000 rows (STATEMENT_MAX_ROWS)" in str(error)


def test_a_wide_xlsx_within_the_bounds_is_read_only_as_wide_as_a_statement(tmp_path):
    """30,000 rows each claiming column XFD: read 64 cells wide, the one real row is reconciled (exit 1:
    it is not ours), where openpyxl alone built 16,384 cells a row."""
    bomb = xlsx_bomb(tmp_path / "wide.xlsx", rows=30_000)
    report = tmp_path / "report.csv"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("reconcile_statement", str(bomb), report=str(report), stdout=out, stderr=io.StringIO())
    assert exited.value.code == 1 and "Statement wide.xlsx" in out.getvalue()


def test_reading_beyond_the_time_bound_is_refused(tmp_path, settings):
    settings.STATEMENT_MAX_SECONDS = 0
    rows = [b2c_row(f"SGZ{n:07d}", "10-07-2024 12:00:00", "100.00") for n in range(5000)]
    error, _ = reconcile(write_csv(tmp_path / "s.csv", rows), tmp_path)
    assert "took longer than 0 s (STATEMENT_MAX_SECONDS)" in str(error)
