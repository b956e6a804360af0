"""`python manage.py export_reconciliation --start YYYY-MM-DD --end YYYY-MM-DD [--kind payouts|payments]
[--format csv|json|xlsx] [--output PATH]`

One row per payout (or payment) created between the two dates (Nairobi time, both inclusive), oldest first,
with every field finance needs. Streams: memory stays flat however many rows. Writes to standard output when
no output path is given; draws a progress bar on standard error when that is a terminal.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from payments import selectors
from payments.reconciliation.export import FORMATS, KINDS, export
from payments.reconciliation.progress import Progress


def _date(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date in the form YYYY-MM-DD", returncode=2) from None
    problem = selectors.report_date_problem(day)
    if problem:
        raise CommandError(f"{value}: {problem}", returncode=2)
    return day


class Command(BaseCommand):
    help = (
        "Export payouts or payments created between two dates (Nairobi, inclusive) for finance, as CSV, JSON "
        "or XLSX: ids, receipts, conversation ids, amounts, phones, statuses, result codes, requester and "
        "approvers, times in Africa/Nairobi."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", required=True, help="First day, YYYY-MM-DD (Nairobi time).")
        parser.add_argument("--end", required=True, help="Last day, YYYY-MM-DD (Nairobi time), inclusive.")
        parser.add_argument("--kind", choices=KINDS, default="payouts", help="What to export (default payouts).")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default=None,
            help="Output format (default: from the output file's extension, else csv).",
        )
        parser.add_argument("--output", default=None, help="File to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = _date(options["start"]), _date(options["end"])
        if end < start:
            raise CommandError("--end is before --start")
        output = options["output"] if options["output"] not in (None, "-") else None
        fmt = options["format"]
        if fmt is None:
            suffix = Path(output).suffix.lower().lstrip(".") if output else ""
            fmt = suffix if suffix in FORMATS else "csv"
        progress = Progress(self.stderr._out, f"Exporting {options['kind']}")

        if output is None:
            count = self._to_stdout(fmt, options["kind"], start, end, progress)
        else:
            count = self._to_file(Path(output), fmt, options["kind"], start, end, progress)
            self.stderr.write(f"{count:,} {options['kind']} written to {output}")

    def _to_stdout(self, fmt, kind, start, end, progress) -> int:
        stream = self.stdout._out  # the real stream under Django's OutputWrapper
        if fmt == "xlsx":
            binary = getattr(stream, "buffer", None)
            if binary is None or stream.isatty():
                raise CommandError("XLSX is binary: give --output PATH or redirect standard output to a file")
            stream.flush()
            count = export(kind=kind, start=start, end=end, fmt=fmt, out=binary, progress=progress)
            binary.flush()
            return count
        count = export(kind=kind, start=start, end=end, fmt=fmt, out=stream, progress=progress)
        stream.flush()
        return count

    def _to_file(self, path: Path, fmt, kind, start, end, progress) -> int:
        # Written beside the target and renamed at the end: a failed export never leaves half a file.
        partial = path.with_name(path.name + ".partial")
        try:
            if fmt == "xlsx":
                with partial.open("wb") as out:
                    count = export(kind=kind, start=start, end=end, fmt=fmt, out=out, progress=progress)
            else:
                with partial.open("w", newline="", encoding="utf-8") as out:
                    count = export(kind=kind, start=start, end=end, fmt=fmt, out=out, progress=progress)
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return count
