"""M-Pesa org portal statements made by the tests, in CSV and XLSX, laid out as the portal lays them out."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

COLUMNS = [
    "Receipt No.",
    "Completion Time",
    "Initiation Time",
    "Details",
    "Transaction Status",
    "Paid In",
    "Withdrawn",
    "Balance",
    "Balance Confirmed",
    "Reason Type",
    "Other Party Info",
    "Linked Transaction ID",
    "A/C No.",
]
B2C = "Business Payment to Customer via API"


def header_block(period: str | None = "01-07-2024 00:00:00 - 31-07-2024 23:59:59") -> list[list[str]]:
    lines = [
        ["Account Holder:", "ACME FITNESS LIMITED"],
        ["Short Code:", "600999"],
        ["Account:", "Utility Account"],
    ]
    if period:
        lines.append(["Time Period:", period])
    lines += [["Opening Balance:", "250,000.00"], ["Closing Balance:", "180,000.00"], []]
    return lines


def b2c_row(receipt: str, when: str, amount: str, status: str = "Completed", party: str = "254712000001 - JANE"):
    return {
        "Receipt No.": receipt,
        "Completion Time": when,
        "Initiation Time": when,
        "Details": f"{B2C} to {party}",
        "Transaction Status": status,
        "Withdrawn": f"-{amount}",
        "Reason Type": B2C,
        "Other Party Info": party,
    }


def paid_in_row(receipt: str, when: str, amount: str, status: str = "Completed", party: str = "254712000002 - JOHN"):
    return {
        "Receipt No.": receipt,
        "Completion Time": when,
        "Initiation Time": when,
        "Details": "Pay Bill Online",
        "Transaction Status": status,
        "Paid In": amount,
        "Reason Type": "Pay Bill Online",
        "Other Party Info": party,
    }


def charge_row(receipt: str, when: str, amount: str = "15.00"):
    return {
        "Receipt No.": receipt,
        "Completion Time": when,
        "Details": "Business Payment to Customer Charge",
        "Transaction Status": "Completed",
        "Withdrawn": f"-{amount}",
        "Reason Type": "Business Payment to Customer Charge",
    }


def transfer_row(receipt: str, when: str, amount: str = "50,000.00"):
    return {
        "Receipt No.": receipt,
        "Completion Time": when,
        "Details": "Utility Account to Working Account Transfer",
        "Transaction Status": "Completed",
        "Withdrawn": f"-{amount}",
        "Reason Type": "Organization Funds Transfer",
    }


def write_csv(
    path: Path,
    rows: list[dict],
    *,
    period: str | None = "01-07-2024 00:00:00 - 31-07-2024 23:59:59",
    columns: list[str] = COLUMNS,
    footer: bool = True,
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerows(header_block(period))
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
        if footer:
            writer.writerow([])
            writer.writerow(["Disclaimer: this statement is for information only."])
    return path


def write_xlsx(
    path: Path,
    rows: list[dict],
    *,
    period: str | None = "01-07-2024 00:00:00 - 31-07-2024 23:59:59",
    typed: bool = True,
) -> Path:
    """As the portal's XLSX: with `typed`, times are real dates and amounts real numbers."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for line in header_block(period):
        sheet.append(line)
    sheet.append(COLUMNS)
    for row in rows:
        values = []
        for column in COLUMNS:
            value = row.get(column, "") or None
            if typed and value and column in ("Completion Time", "Initiation Time"):
                value = datetime.strptime(value, "%d-%m-%Y %H:%M:%S")
            elif typed and value and column in ("Paid In", "Withdrawn"):
                value = float(value.replace(",", ""))
            values.append(value)
        sheet.append(values)
    workbook.save(path)
    return path


def write_inflating_xlsx(path: Path, rows: list[dict], *, padding_mb: int) -> Path:
    """A real statement (as `write_xlsx`) whose sheet also carries `padding_mb` MB of zeros in an XML comment:
    a few kilobytes stored, megabytes inflated (about 1,000 to 1), as a zip bomb is made. openpyxl reads it
    as the statement it is."""
    import zipfile

    base = write_xlsx(path.with_name(f"base-{path.name}"), rows)
    megabyte = b"0" * (1024 * 1024)
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for item in source.infolist():
            data = source.read(item)
            if item.filename != "xl/worksheets/sheet1.xml":
                bomb.writestr(item, data)
                continue
            head, _, tail = data.rpartition(b"</worksheet>")
            with bomb.open("xl/worksheets/sheet1.xml", "w") as sheet:
                sheet.write(head + b"<!--")
                for _ in range(padding_mb):
                    sheet.write(megabyte)
                sheet.write(b"--></worksheet>" + tail)
    base.unlink()
    return path
