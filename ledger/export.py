"""The journal for the accounting system: Xero's manual journal import, QuickBooks Online's journal entry
import, or a plain double-entry CSV. One journal per ledger transaction; accounts by their external code when
they have one. Text cells are neutralised against formulas (a cell starting with = + - @ tab or CR gets a
leading apostrophe, core/spreadsheet_cells.py) so a spreadsheet never runs what a memo or a name says.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO

from core.nairobi_time import NAIROBI
from core.spreadsheet_cells import neutralise
from ledger import selectors
from ledger.models import Entry

FORMATS = ("xero", "quickbooks", "csv")

XERO_COLUMNS = ["*Narration", "*Date", "Description", "*AccountCode", "*TaxRate", "*Amount",
                "TrackingName1", "TrackingOption1", "TrackingName2", "TrackingOption2"]
QUICKBOOKS_COLUMNS = ["JournalNo", "JournalDate", "AccountName", "Debits", "Credits", "Description", "Name"]
CSV_COLUMNS = ["transaction_id", "posted_at", "kind", "source", "source_id", "memo", "account_code",
               "external_code", "account_name", "account_type", "debit", "credit"]


def safe_text(value) -> str:
    """A text cell a spreadsheet will show, never evaluate (the project's one rule: core/spreadsheet_cells.py)."""
    return neutralise("" if value is None else str(value))


def period(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in Nairobi time."""
    return (
        datetime.combine(start, time.min, tzinfo=NAIROBI),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=NAIROBI),
    )


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _narration(entry: Entry) -> str:
    tx = entry.transaction
    if tx.memo:
        return f"Ledger #{tx.pk} {tx.kind}: {tx.memo}"
    return f"Ledger #{tx.pk} {tx.kind} ({tx.source} {tx.source_id})"


def rows(fmt: str, entries: Iterable[Entry], *, tax_rate: str = "Tax Exempt") -> Iterable[list[str]]:
    if fmt == "xero":
        yield XERO_COLUMNS
        for e in entries:
            local = e.transaction.posted_at.astimezone(NAIROBI)
            amount = e.debit if e.debit else -e.credit  # Xero: positive is a debit, negative a credit
            yield [safe_text(_narration(e)), local.strftime("%d/%m/%Y"), safe_text(e.account.name),
                   safe_text(e.account.external_code or e.account.code), safe_text(tax_rate), _money(amount),
                   "", "", "", ""]
    elif fmt == "quickbooks":
        yield QUICKBOOKS_COLUMNS
        for e in entries:
            local = e.transaction.posted_at.astimezone(NAIROBI)
            yield [str(e.transaction_id), local.strftime("%d/%m/%Y"),
                   safe_text(e.account.external_code or e.account.name),
                   _money(e.debit) if e.debit else "", _money(e.credit) if e.credit else "",
                   safe_text(_narration(e)), ""]
    elif fmt == "csv":
        yield CSV_COLUMNS
        for e in entries:
            tx = e.transaction
            yield [str(tx.pk), tx.posted_at.astimezone(NAIROBI).isoformat(), safe_text(tx.kind), safe_text(tx.source),
                   safe_text(tx.source_id), safe_text(tx.memo), safe_text(e.account.code),
                   safe_text(e.account.external_code), safe_text(e.account.name), e.account.type,
                   _money(e.debit), _money(e.credit)]
    else:
        raise ValueError(fmt)


def export_journal(*, start: date, end: date, fmt: str, out: IO[str], tax_rate: str = "Tax Exempt") -> int:
    """Write the journal of [start, end] (Nairobi days, inclusive); returns the number of entries written."""
    since, until = period(start, end)
    writer = csv.writer(out, lineterminator="\r\n" if fmt != "csv" else "\n")
    entries = selectors.journal_between(start=since, end=until).iterator(chunk_size=2000)
    written = -1  # the header is not a line
    for row in rows(fmt, entries, tax_rate=tax_rate):
        writer.writerow(row)
        written += 1
    return written
