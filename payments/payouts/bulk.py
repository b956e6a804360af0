"""Bulk disbursement: a CSV of payees becomes one batch of payouts waiting for approval.

`payout_batch_preview` checks every row and creates nothing: the admin shows its valid rows with their total
and its refused rows with their reasons (and `batch_errors_csv` as a file to fix and upload again) before
the operator confirms. `payout_batch_create_from_csv` checks them all again and creates the batch.

Every row is checked before anything is created. A file that cannot be read (not CSV, not UTF-8, missing
columns, too big) creates nothing and raises PayoutError. Otherwise the valid rows become one PayoutBatch,
each payout made by payout_request_disbursement (so the same rules, limits and audit events apply as to a
single request), all in one transaction; the invalid rows come back as errors with their line numbers.

A row's `rail` (blank: mobile) says which payee columns it takes (`phone`; `party_b` and `account_reference`)
and is checked by that rail's rules (payments/payouts/rails.py), each problem named.

A row with no payee pays the saved recipient its `recipient_reference` names (payments/recipients/): it must be
active, and its rail and payee are copied as `POST /api/payouts/` with `recipient` does. A row with a payee
other than that recipient's is refused rather than guessed.

A batch's `send_after` (the upload form's "Send after") applies to every row without a `send_after` cell of its
own; a row's own cell wins. It must be in the future, or nothing is checked and nothing is created.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import PurePath

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, PayoutError, PermissionDenied
from core.field_widths import truncate_to
from core.nairobi_time import NAIROBI
from core.spreadsheet_cells import FORMULA_TRIGGERS, PREFIX, neutralise
from payments.models import CommandID, EventSource, PayoutBatch, PayoutRail, Recipient
from payments.payouts.limits import validate_amount
from payments.payouts.name_check import is_first_time_payee, paid_phones
from payments.payouts.rails import DISBURSEMENT_RAILS, RAILS, Account, clean_payee, payee_problems, payee_words
from payments.payouts.services import REQUEST_PERMISSION, payout_request_disbursement, validate_send_after
from payments.payouts.tariff import charge_lookup
from payments.recipients.paying import recipient_payout_request, recipients_by_reference, unpayable_reason

MAX_ROWS = 1000
MAX_BYTES = 1024 * 1024

# Header names accepted for each column (compared lower-cased, with spaces, dashes and underscores removed).
COLUMNS = {
    "rail": ("rail",),
    "phone": ("phone", "phonenumber", "msisdn", "mobile"),
    "party_b": ("partyb", "paybillortill", "businessnumber", "paybill", "till"),
    "account_reference": ("accountreference", "account", "accountnumber", "accountno"),
    "amount": ("amount", "amountkes", "kes"),
    "recipient_name": ("recipientname", "name", "payee"),
    "recipient_reference": ("reference", "recipientreference", "ref"),
    "remarks": ("remarks", "remark", "description"),
    "send_after": ("sendafter", "sendat", "scheduledfor"),
}
REQUIRED = ("amount", "remarks")
# A row's rail as written in the file (compared as header names are); a blank rail is a mobile payout.
RAIL_WORDS = {
    **{name.replace("_", ""): name for name in DISBURSEMENT_RAILS},
    "b2c": PayoutRail.MOBILE,
    "buygoods": PayoutRail.TILL,
    "topup": PayoutRail.FLOAT_TOPUP,
}


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
    rail: str = PayoutRail.MOBILE
    party_b: str = ""
    account_reference: str = ""
    recipient_id: int | None = None  # a saved recipient's row: its payee is copied at creation
    send_after: datetime | None = None  # optional column, Nairobi time: not sent before it


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
    missing = [name for name in REQUIRED if name not in found]
    # A file of saved recipients may name them by reference alone.
    if not {"phone", "party_b", "rail", "recipient_reference"} & set(found):
        missing.insert(0, "phone")
    if missing:
        raise PayoutError(
            f"The header row must name the columns phone, amount and remarks (missing: {', '.join(missing)}); "
            "recipient name and reference are optional, and a rail column with party_b and account_reference "
            "pays paybills, tills, Pochi or a float top-up."
        )
    return found


def _parse_amount(text: str, rail: str = PayoutRail.MOBILE) -> Decimal:
    cleaned = text.replace(",", "").replace(" ", "").upper().removeprefix("KES").removeprefix("KSH")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise PayoutError(f"Amount {text!r} is not a number.") from None
    return validate_amount(amount, rail=rail)


def rail_named(text: str) -> str | None:
    """The rail a row's rail cell names (a blank cell: mobile), or None when it names none."""
    return RAIL_WORDS.get(_key(text)) if text else PayoutRail.MOBILE


def _payee(rail: str, cell) -> tuple[dict[str, str], list[str]]:
    """The row's payee fields by its rail's rules, normalised, or every problem with them."""
    given = {name: cell(name) for name in _PAYEE_COLUMNS}
    problems = payee_problems(rail, given)
    if problems:
        return {}, [message if message.endswith(".") else f"{message}." for message in problems.values()]
    return clean_payee(rail, **given), []


_PAYEE_COLUMNS = ("phone", "party_b", "account_reference")


def _pays_as_saved(recipient: Recipient, rail: str, cell) -> bool:
    """Whether a row naming `recipient` pays it as saved: no payee given, or the very one it has."""
    if not any(cell(name) for name in _PAYEE_COLUMNS) and (not cell("rail") or rail == recipient.rail):
        return True
    payee, problems = _payee(rail, cell)
    return not problems and rail == recipient.rail and all(payee[f] == getattr(recipient, f) for f in _PAYEE_COLUMNS)


def _recipient_row(line: int, recipient: Recipient, cell, problems: list[str]) -> _Row | None:
    why_not = unpayable_reason(recipient)
    if why_not:
        problems.append(why_not)
    amount = _amount_of(cell, recipient.rail, problems)
    send_after = _send_after_of(cell("send_after"), problems)
    if problems:
        return None
    # The preview shows who is paid: a business's number beside its name, as a phone has its own column.
    name = recipient.name if recipient.phone else f"{recipient.name} ({payee_words(**recipient.payee())})"
    return _Row(line, recipient.phone, amount, name, cell("recipient_reference"), cell("remarks"), recipient.rail,
                recipient.party_b, recipient.account_reference, recipient.pk, send_after)  # fmt: skip


def _amount_of(cell, rail: str, problems: list[str]) -> Decimal | None:
    try:
        amount = _parse_amount(cell("amount"), rail) if cell("amount") else None
    except ApplicationError as exc:
        problems.append(exc.message)
        return None
    if amount is None:
        problems.append("amount is missing.")
    return amount


def _text_problems(cell) -> list[str]:
    problems = []
    remarks, name, reference = cell("remarks"), cell("recipient_name"), cell("recipient_reference")
    if not 2 <= len(remarks) <= 100:
        problems.append(f"remarks must have 2 to 100 characters (has {len(remarks)}).")
    if len(name) > 150:
        problems.append("recipient name must have at most 150 characters.")
    if len(reference) > 100:
        problems.append("reference must have at most 100 characters.")
    return problems


def _check_row(line: int, row: list[str], columns: dict[str, int],
               recipients: dict[str, Recipient] | None = None) -> tuple[_Row | None, list[str]]:
    def cell(name: str) -> str:
        index = columns.get(name)
        return _unquoted(row[index].strip()) if index is not None and index < len(row) else ""

    rail = rail_named(cell("rail"))
    if rail is None:
        return None, [f"rail must be one of {', '.join(DISBURSEMENT_RAILS)} (has {cell('rail')!r}).",
                      *_text_problems(cell)]  # fmt: skip
    reference = cell("recipient_reference")
    recipient = (recipients or {}).get(reference)
    problems = _text_problems(cell)
    if recipient is not None and _pays_as_saved(recipient, rail, cell):
        return _recipient_row(line, recipient, cell, problems), problems
    if recipient is not None:
        problems.append(f"the reference names the saved recipient {recipient.name}, paid as "
                        f"{payee_words(**recipient.payee())}: leave phone blank to pay them as saved.")  # fmt: skip
    payee, payee_found = _payee(rail, cell)
    if payee_found and reference and recipient is None and not any(cell(name) for name in _PAYEE_COLUMNS):
        payee_found[0] = f"{payee_found[0].rstrip('.')}, and no saved recipient has the reference {reference!r}."
    problems.extend(payee_found)
    amount = _amount_of(cell, rail, problems)
    send_after = _send_after_of(cell("send_after"), problems)
    if problems:
        return None, problems
    return _Row(line, payee["phone"], amount, cell("recipient_name"), reference, cell("remarks"), rail,
                payee["party_b"], payee["account_reference"], send_after=send_after), []  # fmt: skip


def _send_after_of(text: str, problems: list[str]) -> datetime | None:
    """The optional send_after cell: "2026-12-24 09:00" in Nairobi time (or ISO 8601 with its offset), to come."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"send_after must be a date and time such as 2026-12-24 09:00 (has {text!r}).")
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=NAIROBI)
    if moment <= timezone.now():
        problems.append("send_after must be in the future.")
        return None
    return moment


def _cells_of(row: _Row) -> tuple[tuple[str, str], ...]:
    return tuple((name, str(getattr(row, name))) for name in ERROR_FILE_COLUMNS)


ERROR_FILE_COLUMNS = (
    "phone", "amount", "recipient_name", "recipient_reference", "remarks", "rail", "party_b", "account_reference",
)  # fmt: skip


@dataclass(frozen=True)
class BatchPreview:
    """What an upload would create (valid rows and their total) and what it would refuse."""

    rows: list[_Row]
    errors: list[RowError]
    send_after: datetime | None = None  # the batch's, for the rows without their own

    @property
    def scheduled_by_batch(self) -> int:
        """How many rows take the batch's send_after (the others carry their own, or none)."""
        return sum(1 for row in self.rows if self.send_after is not None and row.send_after == self.send_after)

    @property
    def total(self) -> Decimal:
        return sum((row.amount for row in self.rows), Decimal("0.00"))

    @property
    def utility_total(self) -> Decimal:
        """What the rows paid from the B2C (Utility) account add up to: what its float must cover."""
        rows = (row for row in self.rows if RAILS[row.rail].leaves == Account.UTILITY)
        return sum((row.amount for row in rows), Decimal("0.00"))

    @property
    def charges_total(self) -> Decimal:
        """The rows' expected M-Pesa charges, from the tariff (docs/charges.md)."""
        charge = charge_lookup()
        return sum((charge(row.rail, row.amount) or Decimal("0") for row in self.rows), Decimal("0.00"))

    @property
    def refused_lines(self) -> list[int]:
        return sorted({error.line for error in self.errors})


def _check_file(file, send_after: datetime | None = None) -> BatchPreview:
    validate_send_after(send_after)  # before the file is read: a batch for a time gone creates nothing
    header, body = _read(file)
    columns = _columns(header)
    errors: list[RowError] = []
    valid: list[_Row] = []
    seen: dict[tuple, int] = {}
    recipients = _named_recipients(body, columns)
    for line, cells in body:
        row, problems = _check_row(line, cells, columns, recipients)
        if row is not None:
            key = (row.rail, row.phone, row.party_b, row.account_reference, row.amount, row.recipient_reference,
                   row.remarks)  # fmt: skip
            if key in seen:
                problems = [
                    f"the same payout as line {seen[key]} (payee, amount, reference and remarks); "
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
            valid.append(row if row.send_after or send_after is None else replace(row, send_after=send_after))
    return BatchPreview(rows=valid, errors=errors, send_after=send_after)


def first_time_lines(rows: list[_Row]) -> set[int]:
    """The preview's lines whose payee no completed payout has paid: the phones in one query, a business number
    one by one (few in a file)."""
    paid = paid_phones({row.phone for row in rows if row.phone})
    return {
        row.line
        for row in rows
        if (row.phone not in paid if row.phone else is_first_time_payee(
            rail=row.rail, party_b=row.party_b, account_reference=row.account_reference))
    }


def _named_recipients(body: list[tuple[int, list[str]]], columns: dict[str, int]) -> dict[str, Recipient]:
    index = columns.get("recipient_reference")
    if index is None:
        return {}
    return recipients_by_reference({_unquoted(cells[index].strip()) for _, cells in body if index < len(cells)})


def payout_batch_preview(*, uploaded_by, file, send_after: datetime | None = None) -> BatchPreview:
    """Check every row of `file` as payout_batch_create_from_csv would, creating nothing. Raises
    PayoutError when the file itself cannot be read, or `send_after` is not in the future."""
    if uploaded_by is None or not uploaded_by.is_active or not uploaded_by.has_perm(REQUEST_PERMISSION):
        raise PermissionDenied("You do not have permission to request payouts.")
    return _check_file(file, send_after)


ERROR_FILE_HEADER = (
    "line", "phone", "amount", "recipient name", "reference", "remarks", "rail", "party_b", "account_reference",
    "problem",
)  # fmt: skip


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
    "rail,phone,party_b,account_reference,amount,recipient name,reference,remarks\r\n"
    "mobile,0712345678,,,1500,Jane Wanjiru,INV-1042,March trainer fee\r\n"
    "mobile,254722000111,,,2300,Otieno Juma,INV-1043,March trainer fee\r\n"
    "paybill,,888880,INV-2041,12000,Nairobi Water,INV-2041,March water bill\r\n"
    "till,,5432109,,4500,Duka Supplies,RCPT-88,Office supplies\r\n"
)


def payout_batch_create_from_csv(
    *,
    uploaded_by,
    file,
    source: str = EventSource.ADMIN,
    name: str = "",
    command_id: str = CommandID.BUSINESS_PAYMENT,
    send_after: datetime | None = None,
) -> tuple[PayoutBatch | None, list[RowError]]:
    """Validate every row of `file` (bytes or text, opened for reading), then create the valid ones as one
    batch of payouts in `pending_approval`, each row without its own send_after cell given `send_after`.
    Returns the batch (None when no row was valid) and the errors of the other rows. Raises PayoutError,
    creating nothing, when the file itself cannot be read or `send_after` is not in the future."""
    if uploaded_by is None or not uploaded_by.is_active or not uploaded_by.has_perm(REQUEST_PERMISSION):
        raise PermissionDenied("You do not have permission to request payouts.")
    if command_id not in CommandID.values:
        raise PayoutError(f"CommandID must be one of {', '.join(CommandID.values)}.")
    preview = _check_file(file, send_after)
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
                            remarks=row.remarks, command_id=command_id, batch=batch, source=source,
                            send_after=row.send_after)
                        created += 1
                        continue
                    payout_request_disbursement(
                        requested_by=uploaded_by,
                        rail=row.rail,
                        phone=row.phone,
                        party_b=row.party_b,
                        account_reference=row.account_reference,
                        amount=row.amount,
                        remarks=row.remarks,
                        command_id=command_id,
                        recipient_name=row.recipient_name,
                        recipient_reference=row.recipient_reference,
                        batch=batch,
                        source=source,
                        send_after=row.send_after,
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
