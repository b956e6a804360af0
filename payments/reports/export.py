"""A report as a file: CSV (the periods, a blank line, then the failures by reason) or XLSX (one sheet each).

Every cell goes through the safe-cells rule (core.spreadsheet_cells.neutralise): a result code or text that
starts with `=`, `+`, `-` or `@` gets a leading `'`; amounts and counts stay numbers, days stay dates."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from core.spreadsheet_cells import neutralise_row
from payments.models import PaymentSource, PayoutRail
from payments.reports.figures import Bucket, Report

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def minutes(value: timedelta | None) -> Decimal | None:
    if value is None:
        return None
    return (Decimal(value.total_seconds()) / 60).quantize(Decimal("0.1"))


def period_headers() -> list[str]:
    return [
        "First day", "Last day",
        *(f"In: {label}" for label in PaymentSource.labels),
        *(f"Out: {label}" for label in PayoutRail.labels),
        "Requested", "Sent", "Completed", "Failed", "Outcome unknown", "In flight", "Success rate (%)",
        "Charges", "Minutes to approval (average)", "Minutes from approval to completion (average)",
    ]  # fmt: skip


def period_row(b: Bucket) -> list:
    return [
        b.start, b.end,
        *(b.money_in[s].amount for s in PaymentSource.values),
        *(b.money_out[r].amount for r in PayoutRail.values),
        b.requested, b.sent, b.completed.count, b.failed.count, b.unknown.count, b.in_flight, b.success_rate,
        b.charges, minutes(b.average_to_approval), minutes(b.average_to_completion),
    ]  # fmt: skip


FAILURE_HEADERS = ["Result code", "Meaning", "What to do", "Payouts", "Amount"]


def tables(report: Report) -> list[tuple[str, list[str], list[list]]]:
    periods = [period_row(b) for b in report.buckets]
    totals = period_row(report.totals)
    failures = [[f.code, f.meaning, f.action, f.count, f.amount] for f in report.failures]
    return [
        ("Periods", period_headers(), [*periods, ["Total", *totals[1:]]]),
        ("Failures by reason", FAILURE_HEADERS, failures),
    ]


def file_name(report: Report, fmt: str) -> str:
    p = report.period
    return f"report-{p.start}-{p.end}-{p.group}.{fmt}"


def report_csv(report: Report) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for index, (title, headers, rows) in enumerate(tables(report)):
        if index:
            writer.writerow([])
        writer.writerow([title])
        writer.writerow(headers)
        for row in rows:
            writer.writerow(neutralise_row(row))
    return out.getvalue().encode("utf-8")


def report_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, headers, rows in tables(report):
        sheet = workbook.create_sheet(title)
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for row in rows:
            # Neutralised text never starts with '=', so openpyxl stores it as a string, not a formula.
            sheet.append(neutralise_row(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def report_file(report: Report, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, file name) of the report in `fmt` (csv or xlsx)."""
    content = report_csv(report) if fmt == "csv" else report_xlsx(report)
    return content, CONTENT_TYPES[fmt], file_name(report, fmt)
