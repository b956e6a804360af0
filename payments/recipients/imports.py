"""Loading many recipients from one CSV, previewed and approved like a batch of payouts.

`recipients_import_preview` checks every row and creates nothing; `recipients_import_create` checks them again
and saves the valid ones, each pending approval, under one RecipientImport that keeps the refused rows; an
approver then approves the import (`recipients_import_approve`: each recipient through recipient_approve, so
its uploader can approve none of them) or each recipient on its own. Reading the file (size, UTF-8, CSV, NUL
bytes) follows the bulk payout upload's rules (payments/payouts/bulk.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import PurePath

from django.db import transaction

from core.errors import InvalidState, PayoutError, PermissionDenied
from core.field_widths import truncate_to
from payments.audit_events import event_record
from payments.models import (
    AuditAction,
    EventSource,
    PayoutRail,
    Recipient,
    RecipientImport,
    RecipientStatus,
)
from payments.payouts.bulk import MAX_ROWS, decoded
from payments.recipients import services
from payments.roles import REQUEST_PERMISSION

# Header names accepted for each column (lower-cased, letters and digits only).
COLUMNS = {
    "name": ("name", "recipientname", "payee"),
    "rail": ("rail", "paidby", "type"),
    "phone": ("phone", "phonenumber", "msisdn", "mobile"),
    "party_b": ("partyb", "paybill", "till", "number", "businessnumber", "shortcode"),
    "account_reference": ("accountreference", "account", "accountnumber"),
    "external_reference": ("externalreference", "reference", "ref", "id"),
    "category": ("category",),
    "notes": ("notes", "note"),
}
TEMPLATE_CSV = (
    "name,rail,phone,party_b,account_reference,external_reference,category,notes\r\n"
    "Jane Wanjiru,mobile,0712345678,,,TR-001,trainer,\r\n"
    "Acme Supplies,paybill,,888880,ACC-7,SUP-002,supplier,Invoices monthly\r\n"
)


@dataclass(frozen=True)
class ImportRow:
    line: int
    values: dict[str, str]

    @property
    def paid_as(self) -> str:
        from payments.payouts.rails import payee_words

        return payee_words(self.values["rail"], phone=self.values["phone"], party_b=self.values["party_b"],
                           account_reference=self.values["account_reference"])


@dataclass
class ImportPreview:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"line", "problem", "cells"}


def _key(header: str) -> str:
    return "".join(ch for ch in header.lower() if ch.isalnum())


def _read(file) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    raw = decoded(file.read())
    reader = csv.reader(io.StringIO(raw))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise PayoutError(f"The file is not valid CSV (line {reader.line_num}): {exc}.") from None
    if not rows:
        raise PayoutError("The file is empty.")
    columns: dict[str, int] = {}
    for index, name in enumerate(rows[0][1]):
        for column, aliases in COLUMNS.items():
            if _key(name) in aliases and column not in columns:
                columns[column] = index
    if "name" not in columns or not {"phone", "party_b"} & set(columns):
        raise PayoutError("The header row must name the columns name and phone (or party_b for businesses); "
                          "rail, account_reference, external_reference, category and notes are optional.")
    body = [(line, row) for line, row in rows[1:] if any(cell.strip() for cell in row)]
    if not body:
        raise PayoutError("The file has a header but no rows.")
    if len(body) > MAX_ROWS:
        raise PayoutError(f"The file has {len(body)} rows; at most {MAX_ROWS} can be imported at once.")
    return columns, body


def _rail_of(values: dict[str, str]) -> str:
    """The rail a row without one means: a phone is a mobile number, a number with an account a paybill."""
    if values["phone"]:
        return PayoutRail.MOBILE
    return PayoutRail.PAYBILL if values["account_reference"] else PayoutRail.TILL


def _check_row(line: int, cells: list[str], columns: dict[str, int], seen: dict[str, int],
               taken: set[str]) -> tuple[ImportRow | None, list[str]]:
    values = {name: (cells[i].strip() if i < len(cells) else "") for name, i in columns.items()}
    values = {name: values.get(name, "") for name in COLUMNS}
    values["rail"] = values["rail"].lower() or _rail_of(values)
    problems = [m.replace("payout", "recipient") for m in
                services.recipient_payee_problems(values["rail"], values).values()]
    for name in ("name", "external_reference", "category", "notes"):
        try:
            services.clean_text(name, values[name])
        except PayoutError as exc:
            problems.append(exc.message)
    reference = values["external_reference"]
    if reference in seen:
        problems.append(f"the reference {reference!r} is also on line {seen[reference]}.")
    elif reference in taken:
        problems.append(f"a saved recipient already has the reference {reference!r}.")
    if reference:
        seen.setdefault(reference, line)
    return (None, problems) if problems else (ImportRow(line, values), [])


def _check_file(file) -> ImportPreview:
    columns, body = _read(file)
    index = columns.get("external_reference")
    named = {cells[index].strip() for _, cells in body if index is not None and index < len(cells)} - {""}
    taken = set(Recipient.objects.exclude(status=RecipientStatus.ARCHIVED)
                .filter(external_reference__in=named).values_list("external_reference", flat=True))
    preview, seen = ImportPreview(), {}
    for line, cells in body:
        row, problems = _check_row(line, cells, columns, seen, taken)
        if row is None:
            cells_by_name = {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}
            preview.errors.append({"line": line, "problem": " ".join(problems), "cells": cells_by_name})
        else:
            preview.rows.append(row)
    return preview


def _require(user) -> None:
    if user is None or not user.is_active or not user.has_perm(REQUEST_PERMISSION):
        raise PermissionDenied("You do not have permission to import recipients.")


def recipients_import_preview(*, uploaded_by, file) -> ImportPreview:
    """Every row of `file` checked as recipients_import_create would, creating nothing."""
    _require(uploaded_by)
    return _check_file(file)


def recipients_import_create(*, uploaded_by, file, name: str = "",
                             source: str = EventSource.ADMIN) -> tuple[RecipientImport | None, ImportPreview]:
    """Save the valid rows of `file` as recipients pending approval, under one RecipientImport (None when no
    row is valid). Raises PayoutError, creating nothing, when the file cannot be read."""
    _require(uploaded_by)
    preview = _check_file(file)
    if not preview.rows:
        return None, preview
    file_name = truncate_to(RecipientImport, "file_name", PurePath(getattr(file, "name", "") or "").name)
    with transaction.atomic():
        batch = RecipientImport.objects.create(
            name=truncate_to(RecipientImport, "name", name.strip() or file_name or "CSV import"),
            uploaded_by=uploaded_by, file_name=file_name, refused_rows=preview.errors)
        for row in preview.rows:
            services.recipient_create(created_by=uploaded_by, source=source, source_import=batch, **row.values)
        event_record(action=AuditAction.RECIPIENTS_IMPORTED, source=source, actor=uploaded_by,
                     details={"import": batch.pk, "saved": len(preview.rows), "refused": len(preview.errors)})
    return batch, preview


def recipients_import_approve(*, import_id: int, approved_by, source: str = EventSource.ADMIN) -> int:
    """Approve every recipient of an import still pending approval (each by recipient_approve: its four eyes,
    its event). Returns how many; refuses, approving none, when the approver may not approve one of them."""
    with transaction.atomic():
        pending = list(Recipient.objects.filter(source_import_id=import_id, status=RecipientStatus.PENDING_APPROVAL)
                       .order_by("pk").values_list("pk", flat=True))
        if not pending:
            raise InvalidState(f"Import #{import_id} has no recipient pending approval.")
        for recipient_id in pending:
            services.recipient_approve(recipient_id=recipient_id, approved_by=approved_by, source=source)
    return len(pending)
