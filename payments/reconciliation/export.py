"""Streaming exports of payouts or payments for finance: one row per record, as CSV, JSON or XLSX.

Rows come from one server-side cursor (`QuerySet.iterator`) and are written as they arrive, so memory stays
flat however many there are. On PostgreSQL the database formats times (Nairobi) and amounts itself, and CSV
comes straight out of `COPY` of the same SELECT; elsewhere, and for XLSX (which wants real dates and
numbers), Python formats them.
Times are 'YYYY-MM-DD HH:MM:SS' in Africa/Nairobi (EAT, UTC+3) in CSV and JSON, dates in XLSX.
In CSV and XLSX, text that a spreadsheet would run as a formula (a payer name `=HYPERLINK(...)`) gets a
leading `'` (core.spreadsheet_cells); numbers and dates stay numbers and dates, and XLSX text is always a string.
"""

from __future__ import annotations

import codecs
import csv
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from itertools import islice
from typing import IO

from django.db import connection, transaction

from core.nairobi_time import NAIROBI
from core.spreadsheet_cells import neutralise_row
from payments import selectors
from payments.reconciliation.progress import Progress
from payments.selectors import MONEY_COLUMNS, TIME_COLUMNS

KINDS = ("payouts", "payments")
FORMATS = ("csv", "json", "xlsx")
CHUNK = 5000
# An XLSX sheet holds 1,048,576 rows; past that the export goes on in another sheet.
XLSX_SHEET_ROWS = 1_048_575


def export_query(kind: str, *, start: date, end: date, as_text: bool, neutralise: bool = False):
    if kind == "payouts":
        return selectors.payout_export(start=start, end=end, as_text=as_text, neutralise=neutralise)
    if kind == "payments":
        return selectors.payment_export(start=start, end=end, as_text=as_text, neutralise=neutralise)
    raise ValueError(f"Unknown export kind {kind!r}")


def _time_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M:%S")


def _money_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return f"{value:.2f}"


def _time_cell(value):
    if value is None:
        return None
    return value.astimezone(NAIROBI).replace(tzinfo=None)


def _row_formatter(columns: list[str], time_fn, money_fn) -> Callable[[tuple], tuple] | None:
    """A function that formats one row's times and amounts, or None when nothing needs formatting."""
    positions = [(i, time_fn) for i, c in enumerate(columns) if c in TIME_COLUMNS]
    positions += [(i, money_fn) for i, c in enumerate(columns) if c in MONEY_COLUMNS and money_fn]
    if not positions:
        return None

    def fmt(row: tuple) -> tuple:
        row = list(row)
        for i, fn in positions:
            row[i] = fn(row[i])
        return row

    return fmt


def _batches(rows: Iterable, size: int = CHUNK) -> Iterator[list]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _pipelined(batches: Iterable[list], write: Callable[[list], None]) -> int:
    """Write each batch in a second thread while this one fetches the next: PostgreSQL computes rows while
    Python writes them, instead of each waiting for the other. The database is only touched from this
    thread; at most two batches wait in between, so memory stays flat. Returns the number of rows."""
    pending: queue.Queue = queue.Queue(maxsize=2)
    failure: list[BaseException] = []

    def writer() -> None:
        while (batch := pending.get()) is not None:
            if failure:
                continue  # drain: the fetching side stops at its next batch
            try:
                write(batch)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                failure.append(exc)

    thread = threading.Thread(target=writer, name="export-writer", daemon=True)
    thread.start()
    count = 0
    try:
        for batch in batches:
            if failure:
                break
            pending.put(batch)
            count += len(batch)
    finally:
        pending.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return count


def _needs_python_formatting() -> bool:
    return connection.vendor != "postgresql"


def write_csv(out: IO[str], columns: list[str], rows: Iterable, progress: Progress) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    fmt = _row_formatter(columns, _time_text, _money_text) if _needs_python_formatting() else None

    def write(batch: list) -> None:
        writer.writerows(neutralise_row(fmt(row) if fmt else row) for row in batch)
        progress.update(len(batch))

    return _pipelined(_batches(rows), write)


def copy_csv(out: IO[str], columns: list[str], queryset, progress: Progress) -> int:
    """On PostgreSQL, CSV straight from the database: the same SELECT run as `COPY (...) TO STDOUT WITH CSV`,
    its output streamed through as it comes. PostgreSQL's own writer is faster than any Python one; the rows
    are the same as write_csv's (it quotes an empty string as "", which reads back the same)."""
    import psycopg

    csv.writer(out, lineterminator="\n").writerow(columns)
    sql, params = queryset.query.sql_with_params()
    raw = connection.connection
    select = psycopg.ClientCursor(raw).mogrify(sql, params)
    decoder = codecs.getincrementaldecoder("utf-8")()
    count = 0
    with raw.cursor() as cursor, cursor.copy(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)") as copy:
        for chunk in copy:
            out.write(decoder.decode(bytes(chunk)))
            lines = bytes(chunk).count(b"\n")  # a field holding a line break counts twice: for the bar only
            count += lines
            progress.update(lines)
        out.write(decoder.decode(b"", final=True))
        count = cursor.rowcount if cursor.rowcount >= 0 else count
    return count


def write_json(out: IO[str], columns: list[str], rows: Iterable, progress: Progress) -> int:
    """A JSON array written element by element: amounts as strings (exact), ids as numbers."""
    fmt = _row_formatter(columns, _time_text, _money_text) if _needs_python_formatting() else None
    out.write("[")
    written = [0]

    def write(batch: list) -> None:
        out.write(
            ("\n" if written[0] == 0 else ",\n")
            + ",\n".join(json.dumps(dict(zip(columns, fmt(row) if fmt else row, strict=True))) for row in batch)
        )
        written[0] += len(batch)
        progress.update(len(batch))

    count = _pipelined(_batches(rows), write)
    out.write("\n]\n" if count else "]\n")
    return count


# XLSX is read by people: column titles in words (CSV and JSON keep the field names, for programs).
_TITLE_WORDS = {"id": "ID", "kes": "KES", "mpesa": "M-Pesa"}
XLSX_TITLES = {
    "id": "ID",
    "amount": "Amount (KES)",
    "refunded_amount": "Refunded (KES)",
    "transaction_id": "M-Pesa receipt",
    "receipt": "M-Pesa receipt",
    "originator_conversation_id": "OriginatorConversationID",
    "conversation_id": "ConversationID",
    "checkout_request_id": "CheckoutRequestID",
    "merchant_request_id": "MerchantRequestID",
    "command_id": "CommandID",
    "party_b": "Paybill or till number",
    "mpesa_completed_at": "M-Pesa completion time",
    "payment_receipt": "Refunded payment's receipt",
}


def xlsx_title(column: str) -> str:
    """`recipient_reference` -> `Recipient reference`; `created_at` -> `Created (Nairobi)`."""
    if column in XLSX_TITLES:
        title = XLSX_TITLES[column]
    else:
        name = column.removesuffix("_at") if column in TIME_COLUMNS else column
        words = [_TITLE_WORDS.get(word, word) for word in name.split("_")]
        title = " ".join(words)
        title = title[0].upper() + title[1:]
    return f"{title} (Nairobi)" if column in TIME_COLUMNS else title


def write_xlsx(out: IO[bytes], columns: list[str], rows: Iterable, progress: Progress, *, title: str) -> int:
    """openpyxl's write-only workbook streams rows to a temporary file per sheet: memory stays flat. Each
    sheet has a frozen header row of readable titles; amounts are numbers (two decimals shown) and times
    are spreadsheet dates in Nairobi time."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    fmt = _row_formatter(columns, _time_cell, None)
    time_positions = [i for i, c in enumerate(columns) if c in TIME_COLUMNS]
    money_positions = [i for i, c in enumerate(columns) if c in MONEY_COLUMNS]
    titles = [xlsx_title(c) for c in columns]
    count = 0

    def new_sheet(name: str):
        sheet = workbook.create_sheet(name)
        sheet.freeze_panes = "A2"
        for i, column in enumerate(columns, start=1):
            width = 20 if column in TIME_COLUMNS else max(12, len(titles[i - 1]) + 2)
            sheet.column_dimensions[get_column_letter(i)].width = width
        header = []
        for name in titles:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = Font(bold=True)
            header.append(cell)
        sheet.append(header)
        return sheet

    sheet = None
    sheet_rows = XLSX_SHEET_ROWS
    for batch in _batches(rows):
        for row in batch:
            if sheet_rows >= XLSX_SHEET_ROWS:
                number = len(workbook.worksheets) + 1
                sheet = new_sheet(title if number == 1 else f"{title} ({number})")
                sheet_rows = 0
            # Text never starts with '=' once neutralised, so openpyxl writes it as a string, not a formula.
            values = neutralise_row(fmt(row) if fmt else row)
            for i in time_positions:
                if values[i] is not None:
                    cell = WriteOnlyCell(sheet, value=values[i])
                    cell.number_format = "yyyy-mm-dd hh:mm:ss"
                    values[i] = cell
            for i in money_positions:
                if values[i] is not None:
                    cell = WriteOnlyCell(sheet, value=values[i])
                    cell.number_format = "#,##0.00"
                    values[i] = cell
            sheet.append(values)
            sheet_rows += 1
        count += len(batch)
        progress.update(len(batch))
    if sheet is None:
        new_sheet(title)
    workbook.save(out)
    return count


def export(
    *,
    kind: str,
    start: date,
    end: date,
    fmt: str,
    out: IO,
    progress: Progress,
) -> int:
    """Write every `kind` record created between `start` and `end` (Nairobi dates, inclusive) to `out` (text
    for csv/json, binary for xlsx). Returns the number of rows."""
    streamed_csv = fmt == "csv" and connection.vendor == "postgresql"
    # COPY's rows never pass through Python: PostgreSQL neutralises their text (core.spreadsheet_cells) itself.
    columns, queryset = export_query(kind, start=start, end=end, as_text=fmt != "xlsx", neutralise=streamed_csv)
    if progress.enabled:
        progress.total = queryset.count()
    # One transaction, so PostgreSQL streams from a plain server-side cursor (outside one, Django's cursor is
    # WITH HOLD and PostgreSQL would materialise the whole result first), all rows from one snapshot.
    with transaction.atomic():
        if streamed_csv:
            count = copy_csv(out, columns, queryset, progress)
            progress.close()
            return count
        rows = queryset.iterator(chunk_size=CHUNK)
        if fmt == "csv":
            count = write_csv(out, columns, rows, progress)
        elif fmt == "json":
            count = write_json(out, columns, rows, progress)
        elif fmt == "xlsx":
            count = write_xlsx(out, columns, rows, progress, title=kind)
        else:
            raise ValueError(f"Unknown format {fmt!r}")
    progress.close()
    return count
