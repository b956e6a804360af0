"""`manage.py export_journal`: Xero's manual journal import, QuickBooks Online's journal entry import, a plain
double-entry CSV; accounts by their external codes; text cells neutralised; bad arguments exit 2."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ledger import accounts
from ledger.export import NAIROBI
from ledger.models import Account
from ledger.services.posting import move, transaction_post

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def journal():
    Account.objects.filter(code=accounts.MPESA_UTILITY).update(external_code="1100")
    Account.objects.filter(code=accounts.MPESA_CHARGES).update(external_code="6400")
    when = datetime(2024, 7, 15, 10, 30, tzinfo=NAIROBI)
    transaction_post(source="test", source_id="c1", kind="charge", posted_at=when,
                     memo='=HYPERLINK("http://evil.example","click")',
                     lines=move(amount=Decimal("15.00"), debit=accounts.MPESA_CHARGES, credit=accounts.MPESA_UTILITY))
    transaction_post(source="test", source_id="t1", kind="funding", posted_at=datetime(2024, 8, 2, tzinfo=NAIROBI),
                     lines=move(amount=Decimal("99.00"), debit=accounts.MPESA_UTILITY, credit=accounts.FLOAT_FUNDING))


def export(tmp_path, fmt: str) -> list[list[str]]:
    out = tmp_path / f"journal.{fmt}.csv"
    call_command("export_journal", "--start", "2024-07-01", "--end", "2024-07-31", "--format", fmt,
                 "--output", str(out))
    with out.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_xero_manual_journal_template(journal, tmp_path):
    header, debit, credit = export(tmp_path, "xero")
    assert header == ["*Narration", "*Date", "Description", "*AccountCode", "*TaxRate", "*Amount",
                      "TrackingName1", "TrackingOption1", "TrackingName2", "TrackingOption2"]
    assert debit[1] == credit[1] == "15/07/2024"
    assert (debit[3], debit[5]) == ("6400", "15.00")  # external codes; a debit is positive
    assert (credit[3], credit[5]) == ("1100", "-15.00")  # a credit negative
    assert debit[0] == credit[0]  # one narration: one journal
    assert debit[4] == "Tax Exempt"


def test_quickbooks_journal_entry_import(journal, tmp_path):
    header, debit, credit = export(tmp_path, "quickbooks")
    assert header == ["JournalNo", "JournalDate", "AccountName", "Debits", "Credits", "Description", "Name"]
    assert debit[0] == credit[0]
    assert (debit[2], debit[3], debit[4]) == ("6400", "15.00", "")
    assert (credit[2], credit[3], credit[4]) == ("1100", "", "15.00")


def test_plain_double_entry_csv_with_formulas_neutralised(journal, tmp_path):
    header, *rows = export(tmp_path, "csv")
    assert header[:6] == ["transaction_id", "posted_at", "kind", "source", "source_id", "memo"]
    assert len(rows) == 2  # August's transaction is outside the period
    assert all(row[5].startswith("'=HYPERLINK") for row in rows)
    assert {(row[6], row[10], row[11]) for row in rows} == {
        ("mpesa_charges", "15.00", "0.00"), ("mpesa_utility", "0.00", "15.00")}
    assert rows[0][1] == "2024-07-15T10:30:00+03:00"


def test_every_text_cell_is_neutralised_in_xero_too(journal, tmp_path):
    Account.objects.filter(code=accounts.MPESA_CHARGES).update(external_code="@SUM(1)", name="+cmd")
    _, debit, _ = export(tmp_path, "xero")
    assert debit[0].startswith("'") is False  # the narration starts with "Ledger #"
    assert (debit[2], debit[3]) == ("'+cmd", "'@SUM(1)")


@pytest.mark.parametrize("args", [
    ["--start", "2024-07-01", "--end", "2024-07-31", "--format", "pdf"],
    ["--start", "01/07/2024", "--end", "2024-07-31", "--format", "csv"],
    ["--start", "2024-07-31", "--end", "2024-07-01", "--format", "xero"],
])
def test_bad_arguments_are_a_command_error_exit_2_and_nothing_written(tmp_path, args):
    out = tmp_path / "journal.csv"
    with pytest.raises(CommandError) as raised:
        call_command("export_journal", *args, "--output", str(out))
    assert raised.value.returncode == 2
    assert not out.exists() and not list(tmp_path.iterdir())


def test_from_the_command_line_bad_arguments_exit_2(tmp_path):
    out = tmp_path / "journal.csv"
    for args in (["--format", "pdf"], ["--format", "csv", "--start", "July"]):
        base = {"--start": "2024-07-01", "--end": "2024-07-31", "--output": str(out)}
        base.update(dict(zip(args[::2], args[1::2], strict=True)))
        command = [sys.executable, "manage.py", "export_journal", "--settings=tests.settings"]
        for key, value in base.items():
            command += [key, value]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert "CommandError" in done.stderr or "Error" in done.stderr
        assert not out.exists()
