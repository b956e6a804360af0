"""`manage.py export_reconciliation`: content checked row by row in CSV, JSON and XLSX."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from payments.models import PaymentSource, PaymentStatus, Payout, PayoutKind, PayoutStatus
from payments.reconciliation import export as export_module
from payments.reconciliation.progress import Progress
from payments.selectors import exports as export_selectors
from tests.factories import make_approval, make_approver, make_payment, make_payout, make_requester

pytestmark = pytest.mark.django_db

# 21:30 UTC on 30 June is 00:30 on 1 July in Nairobi: inside a July export.
FIRST = datetime(2024, 6, 30, 21, 30, tzinfo=UTC)

PAYOUT_COLUMNS = [
    "id",
    "kind",
    "status",
    "amount",
    "rail",
    "phone",
    "party_b",
    "account_reference",
    "recipient_name",
    "recipient_type",
    "recipient_reference",
    "receiver_name",
    "command_id",
    "remarks",
    "occasion",
    "payment_id",
    "payment_receipt",
    "batch_id",
    "originator_conversation_id",
    "conversation_id",
    "transaction_id",
    "result_code",
    "result_description",
    "requested_by",
    "approved_by",
    "required_approvals",
    "review_reason",
    "created_at",
    "approved_at",
    "submitted_at",
    "completed_at",
    "mpesa_completed_at",
    "status_changed_at",
]


@pytest.fixture
def payouts():
    rita = make_requester("rita")
    alan, bea = make_approver("alan"), make_approver("bea")
    payment = make_payment(receipt="SGPAY00001", source=PaymentSource.STK_PUSH, amount=Decimal("5000.00"))
    refund = make_payout(
        kind=PayoutKind.REFUND,
        payment=payment,
        status=PayoutStatus.COMPLETED,
        amount=Decimal("12500.00"),
        phone="254712000001",
        recipient_name='Jane, "JJ" Wanjiru',
        remarks="Refund, order 9",
        requested_by=rita,
        required_approvals=2,
        conversation_id="AG_20240701_0001",
        transaction_id="SG632NMUAB",
        result_code="0",
        result_description="The service request is processed successfully.",
        receiver_name="JANE WANJIRU",
        created_at=FIRST,
        approved_at=FIRST + timedelta(minutes=1),
        submitted_at=FIRST + timedelta(minutes=2),
        completed_at=FIRST + timedelta(minutes=3),
        mpesa_completed_at=FIRST + timedelta(minutes=2, seconds=58),
        status_changed_at=FIRST + timedelta(minutes=3),
    )
    make_approval(refund, bea, created_at=FIRST + timedelta(seconds=30))
    make_approval(refund, make_approver("olga"), voided_at=FIRST, created_at=FIRST)
    make_approval(refund, alan, created_at=FIRST + timedelta(seconds=50))
    failed = make_payout(
        status=PayoutStatus.FAILED,
        amount=Decimal("99.50"),
        phone="254712000002",
        requested_by=rita,
        result_code="2001",
        result_description="The initiator information is invalid.",
        created_at=datetime(2024, 7, 15, 9, 0, tzinfo=UTC),
        status_changed_at=datetime(2024, 7, 15, 9, 5, tzinfo=UTC),
    )
    make_approval(failed, alan, created_at=datetime(2024, 7, 15, 9, 1, tzinfo=UTC))
    waiting = make_payout(
        status=PayoutStatus.PENDING_APPROVAL,
        requested_by=rita,
        occasion="July fees",
        # 20:59 UTC on 31 July is 23:59 in Nairobi: the last minute of the export.
        created_at=datetime(2024, 7, 31, 20, 59, tzinfo=UTC),
        status_changed_at=datetime(2024, 7, 31, 20, 59, tzinfo=UTC),
    )
    make_payout(requested_by=rita, created_at=datetime(2024, 7, 31, 21, 0, tzinfo=UTC))  # 1 August in Nairobi
    make_payout(requested_by=rita, created_at=datetime(2024, 6, 30, 20, 59, tzinfo=UTC))  # 30 June in Nairobi
    return refund, failed, waiting


def expected_rows(refund, failed, waiting) -> list[dict]:
    blank = {**dict.fromkeys(PAYOUT_COLUMNS, ""), "rail": "mobile"}
    return [
        {
            **blank,
            "id": str(refund.pk),
            "kind": "refund",
            "status": "completed",
            "amount": "12500.00",
            "phone": "254712000001",
            "recipient_name": 'Jane, "JJ" Wanjiru',
            "command_id": "BusinessPayment",
            "remarks": "Refund, order 9",
            "receiver_name": "JANE WANJIRU",
            "payment_id": str(refund.payment_id),
            "payment_receipt": "SGPAY00001",
            "originator_conversation_id": refund.originator_conversation_id,
            "conversation_id": "AG_20240701_0001",
            "transaction_id": "SG632NMUAB",
            "result_code": "0",
            "result_description": "The service request is processed successfully.",
            "requested_by": "rita",
            "approved_by": "bea; alan",
            "required_approvals": "2",
            "created_at": "2024-07-01 00:30:00",
            "approved_at": "2024-07-01 00:31:00",
            "submitted_at": "2024-07-01 00:32:00",
            "completed_at": "2024-07-01 00:33:00",
            "mpesa_completed_at": "2024-07-01 00:32:58",
            "status_changed_at": "2024-07-01 00:33:00",
        },
        {
            **blank,
            "id": str(failed.pk),
            "kind": "disbursement",
            "status": "failed",
            "amount": "99.50",
            "phone": "254712000002",
            "recipient_name": "Nicholas Songok",
            "command_id": "BusinessPayment",
            "remarks": "Trainer payout",
            "originator_conversation_id": failed.originator_conversation_id,
            "result_code": "2001",
            "result_description": "The initiator information is invalid.",
            "requested_by": "rita",
            "approved_by": "alan",
            "required_approvals": "1",
            "created_at": "2024-07-15 12:00:00",
            "status_changed_at": "2024-07-15 12:05:00",
        },
        {
            **blank,
            "id": str(waiting.pk),
            "kind": "disbursement",
            "status": "pending_approval",
            "amount": "10.00",
            "phone": "254705912645",
            "recipient_name": "Nicholas Songok",
            "command_id": "BusinessPayment",
            "remarks": "Trainer payout",
            "occasion": "July fees",
            "originator_conversation_id": waiting.originator_conversation_id,
            "requested_by": "rita",
            "required_approvals": "1",
            "created_at": "2024-07-31 23:59:00",
            "status_changed_at": "2024-07-31 23:59:00",
        },
    ]


def run(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_reconciliation", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_csv_to_stdout_row_by_row(payouts):
    text, _ = run("--start", "2024-07-01", "--end", "2024-07-31")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == PAYOUT_COLUMNS
    assert [dict(zip(rows[0], row, strict=True)) for row in rows[1:]] == expected_rows(*payouts)


def test_python_formatting_gives_the_same_csv(payouts, monkeypatch):
    """Where the database cannot format (SQLite), Python does, to the same text."""
    on_postgres, _ = run("--start", "2024-07-01", "--end", "2024-07-31")

    class OtherVendor:
        vendor = "other"

    monkeypatch.setattr(export_selectors, "connection", OtherVendor)
    monkeypatch.setattr(export_module, "connection", OtherVendor)
    in_python, _ = run("--start", "2024-07-01", "--end", "2024-07-31")

    def rows(text):
        # SQLite's group_concat does not promise an order: compare the approvers as a set.
        parsed = list(csv.DictReader(io.StringIO(text)))
        for row in parsed:
            row["approved_by"] = sorted(row["approved_by"].split("; "))
        return parsed

    assert rows(in_python) == rows(on_postgres)


def test_json(payouts):
    text, _ = run("--start", "2024-07-01", "--end", "2024-07-31", "--format", "json")
    data = json.loads(text)
    expected = expected_rows(*payouts)
    assert len(data) == 3
    for got, want in zip(data, expected, strict=True):
        assert got["id"] == int(want["id"])
        assert got["amount"] == want["amount"]
        assert got["created_at"] == want["created_at"]
        assert got["approved_by"] == (want["approved_by"] or None)
        assert {k: ("" if v is None else str(v)) for k, v in got.items()} == want


@pytest.fixture
def supplier_payout():
    """A paybill payout whose account (typed by a requester) reads as a formula to a spreadsheet."""
    return make_payout(
        rail="paybill", phone="", party_b="888880", account_reference="=HYPERLINK(1)", command_id="BusinessPayBill",
        status=PayoutStatus.PENDING_APPROVAL, amount=Decimal("2500.00"), created_at=FIRST,
    )


def test_csv_and_json_carry_the_rail_and_who_is_paid(supplier_payout):
    text, _ = run("--start", "2024-07-01", "--end", "2024-07-31")
    row = next(csv.DictReader(io.StringIO(text)))
    assert (row["rail"], row["party_b"], row["account_reference"], row["phone"]) == (
        "paybill", "888880", "'=HYPERLINK(1)", "")
    text, _ = run("--start", "2024-07-01", "--end", "2024-07-31", "--format", "json")
    got = json.loads(text)[0]
    # JSON is read by programs: the account exactly as stored.
    assert (got["rail"], got["party_b"], got["account_reference"]) == ("paybill", "888880", "=HYPERLINK(1)")


def test_xlsx_carries_the_rail_and_who_is_paid_as_text(supplier_payout, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "july.xlsx"
    run("--start", "2024-07-01", "--end", "2024-07-31", "--output", str(path))
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert "Paybill or till number" in rows[0] and "Rail" in rows[0]
    first = dict(zip(PAYOUT_COLUMNS, rows[1], strict=True))
    assert (first["rail"], first["party_b"], first["account_reference"]) == ("paybill", "888880", "'=HYPERLINK(1)")


def test_empty_json_is_an_empty_array():
    text, _ = run("--start", "2020-01-01", "--end", "2020-01-31", "--format", "json")
    assert json.loads(text) == []


def test_xlsx_file_with_real_dates_and_numbers(payouts, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "july.xlsx"  # the format follows the extension
    _, err = run("--start", "2024-07-01", "--end", "2024-07-31", "--output", str(path))
    assert f"3 payouts written to {path}" in err
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    # Readable titles over a frozen header row; amounts are numbers shown with two decimals.
    assert list(rows[0]) == [export_module.xlsx_title(c) for c in PAYOUT_COLUMNS]
    assert rows[0][:4] == ("ID", "Kind", "Status", "Amount (KES)")
    assert "Created (Nairobi)" in rows[0] and "M-Pesa receipt" in rows[0]
    assert sheet.freeze_panes == "A2"
    assert sheet.cell(row=2, column=PAYOUT_COLUMNS.index("amount") + 1).number_format == "#,##0.00"
    first = dict(zip(PAYOUT_COLUMNS, rows[1], strict=True))
    assert first["amount"] == 12500 and first["id"] == payouts[0].pk
    assert first["created_at"] == datetime(2024, 7, 1, 0, 30)
    assert first["approved_by"] == "bea; alan"
    assert first["transaction_id"] == "SG632NMUAB"
    assert [r[0] for r in rows[1:]] == [p.pk for p in payouts]
    assert sheet.title == "payouts"
    assert not list(tmp_path.glob("*.partial"))


def test_xlsx_splits_sheets_at_the_row_limit(payouts, tmp_path, monkeypatch):
    from openpyxl import load_workbook

    monkeypatch.setattr(export_module, "XLSX_SHEET_ROWS", 2)
    path = tmp_path / "x.xlsx"
    run("--start", "2024-07-01", "--end", "2024-07-31", "--output", str(path))
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["payouts", "payouts (2)"]
    assert [r[0] for r in workbook["payouts (2)"].iter_rows(values_only=True)] == ["ID", payouts[2].pk]


def test_payments_export():
    payment = make_payment(
        receipt="SGP0000001",
        source=PaymentSource.C2B,
        amount=Decimal("2500.00"),
        refunded_amount=Decimal("500.00"),
        phone="254712000009",
        payer_name="JOHN DOE",
        account_reference="INV-1",
        transaction_time=datetime(2024, 7, 2, 7, 0, tzinfo=UTC),
        created_at=datetime(2024, 7, 2, 7, 0, 5, tzinfo=UTC),
    )
    make_payment(status=PaymentStatus.PENDING, receipt=None, created_at=datetime(2024, 8, 2, tzinfo=UTC))
    text, _ = run("--start", "2024-07-01", "--end", "2024-07-31", "--kind", "payments")
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert {
        k: row[k]
        for k in [
            "id",
            "source",
            "status",
            "receipt",
            "phone",
            "amount",
            "refunded_amount",
            "account_reference",
            "payer_name",
            "transaction_time",
            "created_at",
        ]
    } == {
        "id": str(payment.pk),
        "source": "c2b",
        "status": "completed",
        "receipt": "SGP0000001",
        "phone": "254712000009",
        "amount": "2500.00",
        "refunded_amount": "500.00",
        "account_reference": "INV-1",
        "payer_name": "JOHN DOE",
        "transaction_time": "2024-07-02 10:00:00",
        "created_at": "2024-07-02 10:00:05",
    }


def test_csv_file_output(payouts, tmp_path):
    path = tmp_path / "out.csv"
    text, _ = run("--start", "2024-07-01", "--end", "2024-07-31", "--output", str(path))
    assert text == ""
    assert len(path.read_text().splitlines()) == 4


def test_bad_arguments(tmp_path):
    with pytest.raises(CommandError, match="--end is before --start"):
        run("--start", "2024-07-31", "--end", "2024-07-01")
    with pytest.raises(CommandError, match="'07/01/2024' is not a date"):
        run("--start", "07/01/2024", "--end", "2024-07-01")
    with pytest.raises(CommandError, match="XLSX is binary"):
        run("--start", "2024-07-01", "--end", "2024-07-01", "--format", "xlsx")
    with pytest.raises(CommandError, match="Cannot write"):
        run("--start", "2024-07-01", "--end", "2024-07-01", "--output", str(tmp_path / "missing" / "x.csv"))


@pytest.mark.parametrize("fmt", ["json", "xlsx"])
def test_streams_in_chunks(payouts, monkeypatch, fmt, tmp_path):
    """Rows are fetched from a server-side cursor in chunks and written as they come, never loaded whole."""
    seen = []
    real_iterator = type(Payout.objects.all()).iterator

    def spy(self, chunk_size=None):
        seen.append(chunk_size)
        return real_iterator(self, chunk_size=chunk_size)

    monkeypatch.setattr(type(Payout.objects.all()), "iterator", spy)
    monkeypatch.setattr(export_module, "CHUNK", 2)
    run("--start", "2024-07-01", "--end", "2024-07-31", "--output", str(tmp_path / f"x.{fmt}"))
    assert seen == [2]


@pytest.mark.postgres
def test_csv_on_postgresql_comes_from_copy(payouts, monkeypatch):
    calls = []
    real = export_module.copy_csv

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(export_module, "copy_csv", spy)
    text, _ = run("--start", "2024-07-01", "--end", "2024-07-31")
    assert calls == [1]
    assert len(list(csv.reader(io.StringIO(text)))) == 4


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_only():
    terminal = FakeTerminal()
    progress = Progress(terminal, "Exporting payouts", total=4)
    progress.update(4)
    progress.close()
    assert "Exporting payouts [" in terminal.getvalue() and "4/4 rows 100%" in terminal.getvalue()

    pipe = io.StringIO()
    quiet = Progress(pipe, "Exporting payouts", total=4)
    quiet.update(4)
    quiet.close()
    assert pipe.getvalue() == "" and not quiet.enabled


def test_a_write_error_stops_the_export_and_is_raised():
    fetched = []

    def batches():
        for n in range(10):
            fetched.append(n)
            yield [n]

    def write(batch):
        if batch == [1]:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        export_module._pipelined(batches(), write)
    assert len(fetched) < 10
