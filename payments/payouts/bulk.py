"""Bulk disbursement: a CSV of payees becomes one batch of payouts waiting for approval.

`payout_batch_preview` checks every row and creates nothing: the admin shows its valid rows with their total
and its refused rows with their reasons (and `batch_errors_csv` as a file to fix and upload again) before
the operator confirms. `payout_batch_create_from_csv` checks them all again and creates the batch.

Every row is checked before anything is created. A file that cannot be read (not CSV, not UTF-8, missing
columns, too big) creates nothing and raises PayoutError. Otherwise the valid rows become one PayoutBatch,
each payout made by payout_request_disbursement (so the same rules, limits and audit events apply as to a
single request), all in one transaction; the invalid rows come back as errors with their line numbers.

A row whose phone is blank pays the saved recipient its `recipient_reference` names (payments/recipients/):
it must be active, and its rail and payee are copied as `POST /api/payouts/` with `recipient` does. A row with
a phone and the reference of a recipient paid elsewhere is refused rather than guessed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import PurePath

from django.db import transaction

from core.errors import ApplicationError, PayoutError, PermissionDenied
from core.field_widths import truncate_to
from core.phone import InvalidPhoneNumber, normalize_msisdn
from core.spreadsheet_cells import FORMULA_TRIGGERS, PREFIX, neutralise
from payments.models import CommandID, EventSource, PayoutBatch, PayoutRail, Recipient
from payments.payouts.limits import validate_amount
from payments.payouts.name_check import is_first_time_payee, paid_phones
from payments.payouts.rails import payee_words
from payments.payouts.services import REQUEST_PERMISSION, payout_request_disbursement
from payments.recipients.paying import recipient_payout_request, recipients_by_reference, unpayable_reason

MAX_ROWS = 1000
MAX_BYTES = 1024 * 1024

# Header names accepted for each column (compared lower-cased, with spaces, dashes and underscores removed).
COLUMNS = {
    "phone": ("phone", "phonenumber", "msisdn", "mobile"),
    "amount": ("amount", "amountkes", "kes"),
    "recipient_name": ("recipientname", "name", "payee"),
    "recipient_reference": ("reference", "recipientreference", "ref"),
    "remarks": ("remarks", "remark", "description"),
}
REQUIRED = ("phone", "amount", "remarks")


@dataclass(frozen=True)
class RowError:
    line: int  # line of the file, the header being line 1
    message: str
    # The row's cells as uploaded (column -> text), for the preview and the error file.
    cells: tuple[tuple[str, str], ...] = ()

    def cell(self, name: str) -> str:
        return dict(self.cells).get(name, "")

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


@dataclass(frozen=True)
class _Row:
    line: int
    phone: str
    amount: Decimal
    recipient_name: str
    recipient_reference: str
    remarks: str
    recipient_id: int | None = None  # a saved recipient's row: its payee is copied at creation
    rail: str = PayoutRail.MOBILE


# The error file writes formula-like cells behind a leading ' (core.spreadsheet_cells.neutralise); a file uploaded
# again with them is read without it.
def _unquoted(value: str) -> str:
    return value[1:] if value[:1] == PREFIX and value[1:2] in FORMULA_TRIGGERS else value


def _key(header: str) -> str:
    return "".join(ch for ch in header.lower() if ch.isalnum())


def decoded(raw: bytes | str) -> str:
    """An uploaded file's text, or PayoutError when it is too big or not UTF-8."""
    if len(raw) > MAX_BYTES:
        raise PayoutError(f"The file is larger than {MAX_BYTES // 1024} KB; split it into smaller batches.")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PayoutError("The file is not UTF-8 text: save it from your spreadsheet as CSV (UTF-8).") from None
    raw = raw.lstrip("\ufeff")
    if "\x00" in raw:
        # Not text a spreadsheet saves; PostgreSQL cannot store it either.
        line = raw.count("\n", 0, raw.index("\x00")) + 1
        raise PayoutError(f"The file contains a NUL byte (line {line}): it is not a CSV text file.")
    return raw


def _read(file) -> tuple[list[str], list[tuple[int, list[str]]]]:
    raw = decoded(file.read(MAX_BYTES + 1))
    if not raw.strip():
        raise PayoutError("The file is empty.")
    try:
        dialect = csv.Sniffer().sniff(raw[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(raw), dialect)
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise PayoutError(f"The file is not valid CSV (line {reader.line_num}): {exc}.") from None
    header = rows[0][1]
    body = [(line, row) for line, row in rows[1:] if any(cell.strip() for cell in row)]
    if len(body) > MAX_ROWS:
        raise PayoutError(f"The file has {len(body)} rows; at most {MAX_ROWS} can be uploaded at once.")
    if not body:
        raise PayoutError("The file has a header but no rows.")
    return header, body


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _key(name)
        for column, aliases in COLUMNS.items():
            if key in aliases and column not in found:
                found[column] = index
    # A file of saved recipients may name them by reference alone.
    missing = [name for name in REQUIRED if name not in found
               and not (name == "phone" and "recipient_reference" in found)]
    if missing:
        raise PayoutError(
            f"The header row must name the columns phone, amount and remarks (missing: {', '.join(missing)}); "
            "recipient name and reference are optional."
        )
    return found


def _parse_amount(text: str, rail: str = PayoutRail.MOBILE) -> Decimal:
    cleaned = text.replace(",", "").replace(" ", "").upper().removeprefix("KES").removeprefix("KSH")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise PayoutError(f"Amount {text!r} is not a number.") from None
    return validate_amount(amount, rail=rail)


def _saved_recipient(phone: str | None, recipient: Recipient | None, problems: list[str]) -> Recipient | None:
    """The saved recipient a row pays (None: the row pays its phone), adding why it cannot to `problems`."""
    if recipient is None or (phone and (recipient.phone != phone)):
        if recipient is not None:
            problems.append(f"the reference names the saved recipient {recipient.name}, paid as "
                            f"{recipient.phone or recipient.party_b}: leave phone blank to pay them as saved.")
        return None
    why_not = unpayable_reason(recipient)
    if why_not:
        problems.append(why_not)
    return recipient


def _check_row(line: int, row: list[str], columns: dict[str, int],
               recipients: dict[str, Recipient] | None = None) -> tuple[_Row | None, list[str]]:
    def cell(name: str) -> str:
        index = columns.get(name)
        return _unquoted(row[index].strip()) if index is not None and index < len(row) else ""

    problems: list[str] = []
    phone = amount = None
    reference = cell("recipient_reference")
    try:
        phone = normalize_msisdn(cell("phone")) if cell("phone") else None
    except InvalidPhoneNumber as exc:
        problems.append(str(exc))
    recipient = _saved_recipient(phone, (recipients or {}).get(reference), problems)
    if phone is None and recipient is None and not problems:
        problems.append("phone is missing." if not reference else
                        f"phone is missing, and no saved recipient has the reference {reference!r}.")
    rail = recipient.rail if recipient is not None else PayoutRail.MOBILE
    try:
        amount = _parse_amount(cell("amount"), rail) if cell("amount") else None
        if amount is None:
            problems.append("amount is missing.")
    except ApplicationError as exc:
        problems.append(exc.message)
    remarks = cell("remarks")
    if not 2 <= len(remarks) <= 100:
        problems.append(f"remarks must have 2 to 100 characters (has {len(remarks)}).")
    name = cell("recipient_name")
    if len(name) > 150:
        problems.append("recipient name must have at most 150 characters.")
    if len(reference) > 100:
        problems.append("reference must have at most 100 characters.")
    if problems:
        return None, problems
    if recipient is not None:
        # The preview shows who is paid: a business's number beside its name (a phone has its own column).
        name = recipient.name if recipient.phone else f"{recipient.name} ({payee_words(**recipient.payee())})"
        return _Row(line, recipient.phone, amount, name, reference, remarks, recipient.pk, recipient.rail), []
    return _Row(line, phone, amount, name, reference, remarks), []


def _cells_of(row: _Row) -> tuple[tuple[str, str], ...]:
    return tuple((name, str(getattr(row, name))) for name in ERROR_FILE_COLUMNS)


ERROR_FILE_COLUMNS = ("phone", "amount", "recipient_name", "recipient_reference", "remarks")


@dataclass(frozen=True)
class BatchPreview:
    """What an upload would create (valid rows and their total) and what it would refuse."""

    rows: list[_Row]
    errors: list[RowError]

    @property
    def total(self) -> Decimal:
        return sum((row.amount for row in self.rows), Decimal("0.00"))

    @property
    def refused_lines(self) -> list[int]:
        return sorted({error.line for error in self.errors})


def _check_file(file) -> BatchPreview:
    header, body = _read(file)
    columns = _columns(header)
    errors: list[RowError] = []
    valid: list[_Row] = []
    seen: dict[tuple, int] = {}
    recipients = _named_recipients(body, columns)
    for line, cells in body:
        row, problems = _check_row(line, cells, columns, recipients)
        if row is not None:
            key = (row.phone, row.amount, row.recipient_reference, row.remarks)
            if key in seen:
                problems = [
                    f"the same payout as line {seen[key]} (phone, amount, reference and remarks); "
                    "change its reference if it is really due twice."
                ]
                row = None
            else:
                seen[key] = line
        if row is None:
            raw = tuple(
                (name, _unquoted(cells[index].strip()) if index < len(cells) else "")
                for name, index in columns.items()
            )
            errors.extend(RowError(line, problem, raw) for problem in problems)
        else:
            valid.append(row)
    return BatchPreview(rows=valid, errors=errors)


def first_time_lines(rows: list[_Row]) -> set[int]:
    """The preview's lines whose payee no completed payout has paid: the phones in one query, a saved business
    recipient's number one by one (few in a file)."""
    paid = paid_phones({row.phone for row in rows if row.phone})
    business = Recipient.objects.in_bulk([row.recipient_id for row in rows if not row.phone and row.recipient_id])
    lines = set()
    for row in rows:
        if row.phone:
            first = row.phone not in paid
        else:
            recipient = business.get(row.recipient_id)
            first = recipient is not None and is_first_time_payee(
                rail=recipient.rail, party_b=recipient.party_b, account_reference=recipient.account_reference)
        if first:
            lines.add(row.line)
    return lines


def _named_recipients(body: list[tuple[int, list[str]]], columns: dict[str, int]) -> dict[str, Recipient]:
    index = columns.get("recipient_reference")
    if index is None:
        return {}
    return recipients_by_reference({_unquoted(cells[index].strip()) for _, cells in body if index < len(cells)})


def payout_batch_preview(*, uploaded_by, file) -> BatchPreview:
    """Check every row of `file` as payout_batch_create_from_csv would, creating nothing. Raises
    PayoutError when the file itself cannot be read."""
    if uploaded_by is None or not uploaded_by.is_active or not uploaded_by.has_perm(REQUEST_PERMISSION):
        raise PermissionDenied("You do not have permission to request payouts.")
    return _check_file(file)


ERROR_FILE_HEADER = ("line", "phone", "amount", "recipient name", "reference", "remarks", "problem")


def batch_errors_csv(errors: list[RowError]) -> str:
    """The refused rows as a CSV to fix and upload again: the columns the upload reads (so the file itself
    can be uploaded once fixed) plus its line and the problem. Every cell is neutralised against formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ERROR_FILE_HEADER)
    by_line: dict[int, list[RowError]] = {}
    for error in errors:
        by_line.setdefault(error.line, []).append(error)
    for line in sorted(by_line):
        first = by_line[line][0]
        problems = " ".join(error.message for error in by_line[line])
        cells = [first.cell(name) for name in ERROR_FILE_COLUMNS]
        writer.writerow([str(line), *(neutralise(value) for value in cells), neutralise(problems)])
    return out.getvalue()


TEMPLATE_CSV = (
    "phone,amount,recipient name,reference,remarks\r\n"
    "0712345678,1500,Jane Wanjiru,INV-1042,March trainer fee\r\n"
    "254722000111,2300,Otieno Juma,INV-1043,March trainer fee\r\n"
)


def payout_batch_create_from_csv(
    *,
    uploaded_by,
    file,
    source: str = EventSource.ADMIN,
    name: str = "",
    command_id: str = CommandID.BUSINESS_PAYMENT,
) -> tuple[PayoutBatch | None, list[RowError]]:
    """Validate every row of `file` (bytes or text, opened for reading), then create the valid ones as one
    batch of payouts in `pending_approval`. Returns the batch (None when no row was valid) and the errors of
    the other rows. Raises PayoutError, creating nothing, when the file itself cannot be read."""
    if uploaded_by is None or not uploaded_by.is_active or not uploaded_by.has_perm(REQUEST_PERMISSION):
        raise PermissionDenied("You do not have permission to request payouts.")
    if command_id not in CommandID.values:
        raise PayoutError(f"CommandID must be one of {', '.join(CommandID.values)}.")
    preview = _check_file(file)
    errors, valid = list(preview.errors), preview.rows
    if not valid:
        return None, errors

    file_name = truncate_to(PayoutBatch, "file_name", PurePath(getattr(file, "name", "") or "").name)
    with transaction.atomic():
        batch = PayoutBatch.objects.create(
            name=truncate_to(PayoutBatch, "name", name.strip() or file_name or "CSV upload"),
            uploaded_by=uploaded_by,
            file_name=file_name,
        )
        created = 0
        for row in valid:
            try:
                # A savepoint each: a row refused here (a daily limit) leaves the others standing.
                with transaction.atomic():
                    if row.recipient_id is not None:
                        recipient_payout_request(
                            recipient_id=row.recipient_id, requested_by=uploaded_by, amount=row.amount,
                            remarks=row.remarks, command_id=command_id, batch=batch, source=source)
                        created += 1
                        continue
                    payout_request_disbursement(
                        requested_by=uploaded_by,
                        phone=row.phone,
                        amount=row.amount,
                        remarks=row.remarks,
                        command_id=command_id,
                        recipient_name=row.recipient_name,
                        recipient_reference=row.recipient_reference,
                        batch=batch,
                        source=source,
                    )
                created += 1
            except ApplicationError as exc:
                errors.append(RowError(row.line, exc.message, _cells_of(row)))
        errors.sort(key=lambda error: error.line)
        if not created:
            transaction.set_rollback(True)
            batch = None
        elif errors:
            batch.refused_rows = [
                {"line": error.line, "problem": error.message, "cells": dict(error.cells)} for error in errors
            ]
            batch.save(update_fields=["refused_rows"])
    return batch, errors


def batch_refused_rows(batch: PayoutBatch) -> list[RowError]:
    """The refused rows stored with `batch`, as the preview had them (for its page and its error file)."""
    return [
        RowError(row["line"], row["problem"], tuple((row.get("cells") or {}).items())) for row in batch.refused_rows
    ]
