"""Reading M-Pesa org portal statements: the header block, the columns, dates, amounts, malformed files."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from core.nairobi_time import NAIROBI
from payments.reconciliation.matching import classify
from payments.reconciliation.statement import Statement, StatementError, parse_amount, parse_time
from tests.payments.reconciliation.statements import (
    COLUMNS,
    b2c_row,
    charge_row,
    paid_in_row,
    transfer_row,
    write_csv,
    write_xlsx,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,500.00", Decimal("1500.00")),
        ("1,500", Decimal("1500")),
        ("1.500,50", Decimal("1500.50")),
        ("1500,5", Decimal("1500.5")),
        ("-1,500.00", Decimal("-1500.00")),
        ("(1,500.00)", Decimal("-1500.00")),
        ("KES 12,345,678.50", Decimal("12345678.50")),
        (" 10 ", Decimal("10")),
        (1500.5, Decimal("1500.5")),
        (1500, Decimal("1500")),
        ("", None),
        (None, None),
        ("-", None),
    ],
)
def test_amounts(text, expected):
    assert parse_amount(text) == expected


@pytest.mark.parametrize("text", ["ten", "1.2.3", "NaN", "Infinity"])
def test_bad_amounts(text):
    with pytest.raises(ValueError):
        parse_amount(text)


def test_times_are_nairobi():
    expected = datetime(2024, 7, 6, 22, 48, 52, tzinfo=NAIROBI)
    assert parse_time("06-07-2024 22:48:52") == expected
    assert parse_time("6/7/2024 22:48:52") == expected
    assert parse_time("2024-07-06 22:48:52") == expected
    assert parse_time(datetime(2024, 7, 6, 22, 48, 52)) == expected
    assert parse_time("06-07-2024 22:48") == expected.replace(second=0)
    assert parse_time("06-07-2024") == datetime(2024, 7, 6, tzinfo=NAIROBI)
    for bad in ["32-13-2024 10:00:00", "yesterday", "06-07-24 10:00:00", ""]:
        with pytest.raises(ValueError):
            parse_time(bad)


def test_csv_statement_header_block_and_rows(tmp_path):
    path = write_csv(
        tmp_path / "statement.csv",
        [
            b2c_row("SG632NMUAB", "06-07-2024 22:48:52", "1,500.00"),
            paid_in_row("SG7AAAAAAA", "07-07-2024 08:00:00", "250.00"),
        ],
    )
    statement = Statement(path)
    assert statement.header.fields["Account Holder"] == "ACME FITNESS LIMITED"
    assert statement.header.fields["Short Code"] == "600999"
    assert statement.header.period_start == datetime(2024, 7, 1, tzinfo=NAIROBI)
    assert statement.header.period_end == datetime(2024, 7, 31, 23, 59, 59, tzinfo=NAIROBI)
    assert statement.header.columns_line == 8
    out, paid_in = list(statement.rows())  # the blank line and the footer note are not transactions
    assert (out.line, out.receipt, out.amount, out.direction, out.status) == (
        9,
        "SG632NMUAB",
        Decimal("1500.00"),
        "out",
        "Completed",
    )
    assert out.completed_at == datetime(2024, 7, 6, 22, 48, 52, tzinfo=NAIROBI)
    assert out.other_party == "254712000001 - JANE"
    assert (paid_in.receipt, paid_in.amount, paid_in.direction) == ("SG7AAAAAAA", Decimal("250.00"), "in")


def test_period_written_as_from_to_with_dates_only(tmp_path):
    path = write_csv(tmp_path / "s.csv", [], period="From 01/07/2024 To 31/07/2024")
    header = Statement(path).header
    assert header.period_start == datetime(2024, 7, 1, tzinfo=NAIROBI)
    assert header.period_end.date().isoformat() == "2024-07-31" and header.period_end.hour == 23


def test_columns_found_in_any_order_and_case(tmp_path):
    columns = [c.upper().rstrip(".") for c in reversed(COLUMNS)]
    row = {c.upper().rstrip("."): v for c, v in b2c_row("SGORDER001", "01-07-2024 10:00:00", "10.00").items()}
    path = write_csv(tmp_path / "s.csv", [row], columns=columns)
    [parsed] = Statement(path).rows()
    assert (parsed.receipt, parsed.amount) == ("SGORDER001", Decimal("10.00"))


def test_semicolon_separated_export(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(";".join(COLUMNS) + "\nSGSEMI0001;01-07-2024 10:00:00;;x;Completed;;-1 500,00;;;;;;\n")
    [row] = Statement(path).rows()
    assert (row.receipt, row.amount) == ("SGSEMI0001", Decimal("1500.00"))


def test_xlsx_statement_typed_and_as_text(tmp_path):
    rows = [
        b2c_row("SG632NMUAB", "06-07-2024 22:48:52", "1,500.00"),
        paid_in_row("SG7AAAAAAA", "07-07-2024 08:00:00", "250.00"),
    ]
    for typed in (True, False):
        statement = Statement(write_xlsx(tmp_path / f"s{typed}.xlsx", rows, typed=typed))
        assert statement.is_xlsx
        assert statement.header.period_start == datetime(2024, 7, 1, tzinfo=NAIROBI)
        out, paid_in = statement.rows()
        assert (out.receipt, out.amount, out.direction) == ("SG632NMUAB", Decimal("1500.00"), "out")
        assert out.completed_at == datetime(2024, 7, 6, 22, 48, 52, tzinfo=NAIROBI)
        assert (paid_in.amount, paid_in.direction, paid_in.line) == (Decimal("250.00"), "in", 10)


def test_classification():
    def kind(row):
        path_row = dict(row)
        from payments.reconciliation.statement import StatementRow

        return classify(
            StatementRow(
                1,
                path_row["Receipt No."],
                parse_time(path_row["Completion Time"]),
                path_row["Transaction Status"],
                parse_amount(path_row.get("Paid In")),
                parse_amount(path_row.get("Withdrawn")),
                details=path_row.get("Details", ""),
                reason_type=path_row.get("Reason Type", ""),
            )
        )

    assert kind(b2c_row("A", "01-07-2024 10:00:00", "10.00")) == "payout"
    assert kind(paid_in_row("B", "01-07-2024 10:00:00", "10.00")) == "payment"
    assert kind(charge_row("C", "01-07-2024 10:00:00")) == "fee"
    assert kind(transfer_row("D", "01-07-2024 10:00:00")) == "internal"


# --- Malformed files: a clear error naming the line ----------------------------------------------------


def test_not_a_statement(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("hello,world\n1,2\n")
    with pytest.raises(StatementError, match="no column row .*Receipt No.*is this an M-Pesa org portal statement"):
        Statement(path)


def test_missing_required_column(tmp_path):
    columns = [c for c in COLUMNS if c != "Withdrawn"]
    path = write_csv(tmp_path / "s.csv", [], columns=columns)
    with pytest.raises(StatementError, match="line 8: the column row lacks Withdrawn"):
        Statement(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"Completion Time": "32-13-2024 10:00:00"},
            r"line 10: Completion Time '32-13-2024 10:00:00' is not dd-mm-yyyy",
        ),
        ({"Completion Time": "tomorrow"}, r"line 10: Completion Time 'tomorrow' is not dd-mm-yyyy HH:MM:SS"),
        ({"Withdrawn": "ten shillings"}, r"line 10: Withdrawn 'ten shillings' is not an amount"),
        ({"Receipt No.": ""}, r"line 10: no Receipt No."),
    ],
)
def test_bad_row_names_its_line(tmp_path, change, message):
    good = b2c_row("SGGOOD0001", "01-07-2024 10:00:00", "10.00")
    bad = {**b2c_row("SGBAD00001", "01-07-2024 11:00:00", "10.00"), **change}
    path = write_csv(tmp_path / "s.csv", [good, bad])
    with pytest.raises(StatementError, match=message):
        list(Statement(path).rows())


def test_bad_xlsx_row_names_its_row(tmp_path):
    rows = [b2c_row("SGGOOD0001", "01-07-2024 10:00:00", "10.00"), b2c_row("SGBAD00001", "someday", "10.00")]
    path = write_xlsx(tmp_path / "s.xlsx", rows, typed=False)
    with pytest.raises(StatementError, match="line 10: Completion Time 'someday'"):
        list(Statement(path).rows())


def test_broken_xlsx_and_missing_file(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(StatementError, match="not a readable XLSX file"):
        Statement(path)
    with pytest.raises(StatementError, match="no such file"):
        Statement(tmp_path / "missing.csv")
