"""`manage.py reconcile_statement`: fixture statements (CSV and XLSX) covering every discrepancy kind."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from core.nairobi_time import NAIROBI
from payments.models import PaymentStatus, PayoutStatus
from tests.factories import make_payment, make_payout
from tests.payments.reconciliation.statements import (
    b2c_row,
    charge_row,
    paid_in_row,
    transfer_row,
    write_csv,
    write_inflating_xlsx,
    write_xlsx,
)

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    return datetime.strptime(text, "%d-%m-%Y %H:%M:%S").replace(tzinfo=NAIROBI)


def completed_payout(receipt: str, when: str, amount: str, **fields):
    moment = at(when)
    defaults = dict(
        status=PayoutStatus.COMPLETED,
        transaction_id=receipt,
        amount=Decimal(amount),
        result_code="0",
        created_at=moment - timedelta(minutes=5),
        completed_at=moment + timedelta(seconds=3),
        mpesa_completed_at=moment,
    )
    defaults.update(fields)
    return make_payout(**defaults)


def completed_payment(receipt: str, when: str, amount: str, **fields):
    return make_payment(
        receipt=receipt, amount=Decimal(amount), transaction_time=at(when), created_at=at(when), **fields
    )


def run(path, report):
    """(exit code, printed summary, report rows)."""
    out = io.StringIO()
    try:
        call_command("reconcile_statement", str(path), report=str(report), stdout=out, stderr=io.StringIO())
        code = 0
    except SystemExit as exc:
        code = exc.code
    with open(report, newline="") as f:
        rows = list(csv.DictReader(f))
    return code, out.getvalue(), rows


@pytest.fixture
def ledger():
    """Ours, in July 2024 unless said otherwise."""
    return {
        "match": completed_payout("SGA0000001", "06-07-2024 22:48:52", "1500.00"),
        "amount": completed_payout("SGA0000002", "07-07-2024 10:00:00", "1500.00"),
        "failed_there": completed_payout("SGA0000003", "08-07-2024 10:00:00", "200.00"),
        "review_here": completed_payout(
            "SGA0000004", "09-07-2024 10:00:00", "300.00", status=PayoutStatus.NEEDS_REVIEW, completed_at=None
        ),
        "missing": completed_payout("SGA0000005", "10-07-2024 10:00:00", "400.00"),
        "august": completed_payout("SGA0000006", "02-08-2024 10:00:00", "500.00"),
        # Our time says 30 June, M-Pesa's row says 1 July: still matched, by receipt.
        "edge": completed_payout("SGA0000007", "30-06-2024 23:59:58", "600.00"),
        "failed_here": make_payout(status=PayoutStatus.FAILED, result_code="2001", transaction_id="SGA0000008"),
        "pay_match": completed_payment("RCA0000001", "11-07-2024 12:00:00", "1000.00"),
        "pay_amount": completed_payment("RCA0000002", "12-07-2024 12:00:00", "500.00"),
        "pay_missing": completed_payment("RCA0000003", "13-07-2024 12:00:00", "750.00"),
        "pay_pending": make_payment(
            status=PaymentStatus.PENDING,
            receipt="RCA0000004",
            amount=Decimal("80.00"),
            transaction_time=at("14-07-2024 12:00:00"),
        ),
    }


def statement_rows():
    return [
        b2c_row("SGA0000001", "06-07-2024 22:48:52", "1,500.00"),
        charge_row("SGA0000001", "06-07-2024 22:48:52"),
        b2c_row("SGA0000002", "07-07-2024 10:00:00", "1,400.00"),
        b2c_row("SGA0000003", "08-07-2024 10:00:00", "200.00", status="Failed"),
        b2c_row("SGA0000004", "09-07-2024 10:00:00", "300.00"),
        b2c_row("SGA0000007", "01-07-2024 00:00:02", "600.00"),
        b2c_row("SGA0000008", "15-07-2024 10:00:00", "10.00"),
        paid_in_row("RCA0000001", "11-07-2024 12:00:00", "1,000.00"),
        paid_in_row("RCA0000002", "12-07-2024 12:00:00", "5,000.00"),
        paid_in_row("RCA0000004", "14-07-2024 12:00:00", "80.00"),
        b2c_row("SGZ0000099", "16-07-2024 10:00:00", "250.00", party="254799000000 - STRANGER"),
        paid_in_row("RCZ0000098", "17-07-2024 10:00:00", "1,234.00"),
        b2c_row("SGZ0000097", "18-07-2024 10:00:00", "50.00", status="Failed"),
        transfer_row("OAT0000001", "19-07-2024 10:00:00"),
        b2c_row("SGA0000001", "20-07-2024 10:00:00", "1,500.00"),
    ]


EXPECTED = [
    # (kind, receipt, statement line, our id key)
    ("statement_only", "SGZ0000099", 19, None),
    ("statement_only", "RCZ0000098", 20, None),
    ("ours_only", "SGA0000005", None, "missing"),
    ("ours_only", "RCA0000003", None, "pay_missing"),
    ("amount_mismatch", "SGA0000002", 11, "amount"),
    ("amount_mismatch", "RCA0000002", 17, "pay_amount"),
    ("status_mismatch", "SGA0000003", 12, "failed_there"),
    ("status_mismatch", "SGA0000004", 13, "review_here"),
    ("status_mismatch", "SGA0000008", 15, "failed_here"),
    ("status_mismatch", "RCA0000004", 18, "pay_pending"),
    ("duplicate_receipt", "SGA0000001", 23, None),
]


def _check_report(rows, ledger):
    got = [
        (r["kind"], r["receipt"], int(r["statement_line"]) if r["statement_line"] else None, r["our_id"]) for r in rows
    ]
    expected = [(k, receipt, line, str(ledger[key].pk) if key else "") for k, receipt, line, key in EXPECTED]
    assert sorted(got, key=str) == sorted(expected, key=str)


def test_csv_statement_every_discrepancy_kind(tmp_path, ledger):
    path = write_csv(tmp_path / "july.csv", statement_rows())
    code, summary, rows = run(path, tmp_path / "report.csv")

    assert code == 1
    _check_report(rows, ledger)
    by_receipt = {(r["kind"], r["receipt"]): r for r in rows}
    amount = by_receipt[("amount_mismatch", "SGA0000002")]
    assert (amount["statement_amount"], amount["our_amount"], amount["our_type"]) == ("1400.00", "1500.00", "payout")
    assert "KES 1,400.00" in amount["message"] and "KES 1,500.00" in amount["message"]
    assert amount["statement_time"] == "2024-07-07 10:00:00"
    assert "254712000001 - JANE" in amount["statement_details"]
    failed = by_receipt[("status_mismatch", "SGA0000003")]
    assert failed["message"] == f"Payout #{ledger['failed_there'].pk} is completed here but Failed in the statement."
    assert by_receipt[("status_mismatch", "SGA0000008")]["our_status"] == "failed"
    stranger = by_receipt[("statement_only", "SGZ0000099")]
    assert "STRANGER" in stranger["statement_details"] and stranger["statement_amount"] == "250.00"
    missing = by_receipt[("ours_only", "SGA0000005")]
    assert (missing["our_time"], missing["our_status"], missing["statement_line"]) == (
        "2024-07-10 10:00:00",
        "completed",
        "",
    )
    assert "line 9" in by_receipt[("duplicate_receipt", "SGA0000001")]["message"]

    assert "Statement july.csv: 15 rows" in summary
    assert "Period (from its header): 01-07-2024 00:00:00 to 31-07-2024 23:59:59" in summary
    assert "11 discrepancies" in summary
    for line in [
        "in the statement, not ours: 2",
        "ours, not in the statement: 2",
        "amount mismatch: 2",
        "status mismatch: 4",
        "receipt listed twice in the statement: 1",
        "Not matched (charges): 1",
        "Not matched (movements between our own accounts): 1",
        "Not matched (failed or pending rows that are not ours): 1",
    ]:
        assert line in summary, line


def test_xlsx_statement_gives_the_same_report(tmp_path, ledger):
    for typed in (True, False):
        path = write_xlsx(tmp_path / f"july-{typed}.xlsx", statement_rows(), typed=typed)
        code, _, rows = run(path, tmp_path / f"report-{typed}.csv")
        assert code == 1
        _check_report(rows, ledger)


def test_everything_matched_exits_0(tmp_path):
    completed_payout("SGB0000001", "02-07-2024 09:00:00", "10.00")
    completed_payment("RCB0000001", "03-07-2024 09:00:00", "2500.00")
    completed_payout("SGB0000002", "05-08-2024 09:00:00", "10.00")  # after the statement's period
    path = write_csv(
        tmp_path / "ok.csv",
        [
            b2c_row("SGB0000001", "02-07-2024 09:00:00", "10.00"),
            charge_row("SGB0000001", "02-07-2024 09:00:00", "0.00"),
            paid_in_row("RCB0000001", "03-07-2024 09:00:00", "2,500.00"),
        ],
    )
    code, summary, rows = run(path, tmp_path / "report.csv")
    assert (code, rows) == (0, [])
    assert "Everything matched." in summary
    assert "Matched by receipt: 2; ours in the period: 2" in summary


def test_period_from_rows_when_the_header_has_none(tmp_path):
    completed_payout("SGC0000001", "02-07-2024 09:00:00", "10.00")
    completed_payout("SGC0000002", "04-07-2024 09:00:00", "10.00")  # between the rows: missing
    completed_payout("SGC0000003", "09-07-2024 09:00:00", "10.00")  # after the last row: not judged
    path = write_csv(
        tmp_path / "s.csv",
        [b2c_row("SGC0000001", "02-07-2024 09:00:00", "10.00"), transfer_row("OAT1", "05-07-2024 10:00:00")],
        period=None,
    )
    code, summary, rows = run(path, tmp_path / "r.csv")
    assert code == 1
    assert [(r["kind"], r["receipt"]) for r in rows] == [("ours_only", "SGC0000002")]
    assert "Period (of its rows): 02-07-2024 09:00:00 to 05-07-2024 10:00:00" in summary


def test_default_report_beside_the_statement(tmp_path):
    path = write_csv(tmp_path / "empty.csv", [])
    call_command("reconcile_statement", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert (tmp_path / "empty.csv.reconciliation.csv").read_text().startswith("kind,receipt,message,statement_line")


def test_malformed_statement_is_a_clear_error(tmp_path):
    rows = [b2c_row("SGD0000001", "02-07-2024 09:00:00", "10.00"), b2c_row("SGD0000002", "2nd July", "10.00")]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(CommandError, match=r"bad.csv: line 10: Completion Time '2nd July' is not dd-mm-yyyy HH:MM:SS"):
        call_command("reconcile_statement", str(path), report=str(tmp_path / "r.csv"), stdout=io.StringIO())
    assert not (tmp_path / "r.csv").exists()
    with pytest.raises(CommandError, match="no column row"):
        (tmp_path / "x.csv").write_text("just,some\ncsv,file\n")
        call_command("reconcile_statement", str(tmp_path / "x.csv"), stdout=io.StringIO())


def test_an_xlsx_that_inflates_like_a_zip_bomb_is_a_clear_error_before_it_is_read(tmp_path):
    path = write_inflating_xlsx(
        tmp_path / "bomb.xlsx", [b2c_row("SGD0000001", "02-07-2024 09:00:00", "10.00")], padding_mb=3
    )
    refused = r"^bomb.xlsx: its part xl/worksheets/sheet1.xml inflates [\d,]+ times its stored size"
    with pytest.raises(CommandError, match=refused) as error:
        call_command("reconcile_statement", str(path), report=str(tmp_path / "r.csv"), stdout=io.StringIO())
    assert error.value.returncode == 2 and not (tmp_path / "r.csv").exists()


def test_an_xlsx_part_over_the_bound_is_refused_naming_the_part_and_the_setting(tmp_path, settings):
    settings.STATEMENT_MAX_XLSX_MB = 1
    rows = [b2c_row(f"SGD{n:07d}", "02-07-2024 09:00:00", "10.00") for n in range(20_000)]
    path = write_xlsx(tmp_path / "big.xlsx", rows)
    refused = r"its part xl/worksheets/sheet1.xml inflates to \d+ MB, over the 1 MB allowed \(STATEMENT_MAX_XLSX_MB\)"
    with pytest.raises(CommandError, match=refused):
        call_command("reconcile_statement", str(path), report=str(tmp_path / "r.csv"), stdout=io.StringIO())


def test_a_b2c_account_statement_does_not_report_our_payments_missing(tmp_path):
    """The B2C shortcode's statement lists payouts only; the paybill's lists the payments."""
    completed_payout("SGE0000001", "02-07-2024 09:00:00", "10.00")
    completed_payment("RCE0000001", "03-07-2024 09:00:00", "2500.00")
    path = write_csv(tmp_path / "b2c.csv", [b2c_row("SGE0000001", "02-07-2024 09:00:00", "10.00")])
    code, summary, rows = run(path, tmp_path / "r.csv")
    assert (code, rows) == (0, [])
    assert "Checked for ours missing from the statement: payouts" in summary


def test_the_header_short_code_says_which_account(tmp_path, settings):
    settings.MPESA_B2C_SHORTCODE, settings.MPESA_SHORTCODE = "600999", "174379"  # the fixture's is 600999
    completed_payout("SGF0000001", "02-07-2024 09:00:00", "10.00")
    completed_payment("RCF0000001", "03-07-2024 09:00:00", "2500.00")
    # Only a stray paid-in row, yet it is the B2C account's statement: our payout is missing from it.
    path = write_csv(tmp_path / "s.csv", [paid_in_row("RCF0000001", "03-07-2024 09:00:00", "2,500.00")])
    code, summary, rows = run(path, tmp_path / "r.csv")
    assert code == 1
    assert [(r["kind"], r["receipt"]) for r in rows] == [("ours_only", "SGF0000001")]
    assert "Checked for ours missing from the statement: payouts" in summary
