"""`python manage.py export_journal --start YYYY-MM-DD --end YYYY-MM-DD --format xero|quickbooks|csv --output FILE`

The ledger's journal transactions posted between the two dates (Nairobi time, inclusive) in Xero's manual
journal import template, QuickBooks Online's journal entry import, or a plain double-entry CSV. Bad
arguments are a command error (exit 2) and write nothing; the file is written beside the target and renamed
at the end, so a failed export never leaves half a file.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.export import FORMATS, export_journal


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise CommandError(f"{name} {value!r} is not a date in the form YYYY-MM-DD", returncode=2) from None


class Command(BaseCommand):
    help = "Export the ledger's journal between two dates (Nairobi, inclusive) for Xero, QuickBooks Online or as CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", required=True, help="First day, YYYY-MM-DD (Nairobi time).")
        parser.add_argument("--end", required=True, help="Last day, YYYY-MM-DD (Nairobi time), inclusive.")
        parser.add_argument("--format", required=True, help="xero, quickbooks or csv.")
        parser.add_argument("--output", required=True, help="The file to write.")
        parser.add_argument("--xero-tax-rate", default="Tax Exempt",
                            help="Xero's *TaxRate for every line (the tax rate's name in Xero; default Tax Exempt).")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = _date(options["start"], "--start"), _date(options["end"], "--end")
        if end < start:
            raise CommandError("--end is before --start", returncode=2)
        fmt = options["format"]
        if fmt not in FORMATS:
            raise CommandError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}", returncode=2)
        path = Path(options["output"])
        if not path.parent.is_dir():
            raise CommandError(f"Cannot write {path}: no directory {path.parent}", returncode=2)
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("w", newline="", encoding="utf-8") as out:
                count = export_journal(start=start, end=end, fmt=fmt, out=out, tax_rate=options["xero_tax_rate"])
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}", returncode=2) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.stdout.write(f"{count:,} journal lines ({fmt}) written to {path}")
