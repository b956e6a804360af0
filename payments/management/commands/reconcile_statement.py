"""`python manage.py reconcile_statement PATH [--report PATH]`

Matches an M-Pesa org portal statement (CSV or XLSX) against our payouts and payments by receipt, prints a
summary, writes every discrepancy to the report (CSV; default: beside the statement, named
`<statement>.reconciliation.csv`), and exits 0 when everything matched, 1 otherwise. A file that cannot be
read (or is beyond the STATEMENT_MAX_* bounds) is an error naming the line, exit 2, and no report is written.
The charges and transfers only the statement knows are proposed for the ledger, never posted: an approver
accepts them (admin: Ledger > Statement postings; ledger.services.statement).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.money import kes
from payments.reconciliation.matching import LINE_KINDS, Kind, reconcile, write_report
from payments.reconciliation.statement import Statement, StatementError

LABELS = {
    Kind.STATEMENT_ONLY: "in the statement, not ours",
    Kind.OURS_ONLY: "ours, not in the statement",
    Kind.AMOUNT_MISMATCH: "amount mismatch",
    Kind.STATUS_MISMATCH: "status mismatch",
    Kind.DUPLICATE: "receipt listed twice in the statement",
}
SKIPPED = {
    "fee": "charges",
    "internal": "movements between our own accounts",
    "no_amount": "rows with no amount",
    "not_completed_not_ours": "failed or pending rows that are not ours",
}


class Command(BaseCommand):
    help = (
        "Reconcile an M-Pesa org portal statement (CSV or XLSX) with our payouts and payments: prints a summary, "
        "writes the discrepancies to a CSV report, exits 0 when everything matched and 1 otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The statement file (.csv or .xlsx) as downloaded from the portal.")
        parser.add_argument(
            "--report", default=None, help="Where to write the discrepancies (CSV); default beside the statement."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        report = Path(options["report"]) if options["report"] else path.with_name(path.name + ".reconciliation.csv")
        try:
            statement = Statement(path)
            result = reconcile(statement, progress_stream=self.stderr._out)
        except StatementError as exc:
            message = f"{path.name}: {exc}" if not str(exc).startswith(path.name) else str(exc)
            raise CommandError(message, returncode=2) from None

        try:
            with report.open("w", newline="", encoding="utf-8") as out:
                write_report(result, out)
        except OSError as exc:
            raise CommandError(f"Cannot write the report {report}: {exc.strerror or exc}", returncode=2) from None

        self._summary(path, report, result)
        if not result.ok:
            sys.exit(1)

    def _summary(self, path: Path, report: Path, result) -> None:
        write = self.stdout.write
        write(f"Statement {path.name}: {result.rows:,} row{'s' if result.rows != 1 else ''}")
        if result.period_start:
            fmt = "%d-%m-%Y %H:%M:%S"
            write(
                f"Period ({'from its header' if result.period_from == 'header' else 'of its rows'}): "
                f"{result.period_start:{fmt}} to {result.period_end:{fmt}}"
            )
        write(f"Matched by receipt: {result.matched:,}; ours in the period: {result.ours_in_period:,}")
        write(f"Checked for ours missing from the statement: {' and '.join(k + 's' for k in result.covers)}")
        for key, label in SKIPPED.items():
            if result.skipped.get(key):
                write(f"Not matched ({label}): {result.skipped[key]:,}")
        write("Every line:")
        for kind, label in LINE_KINDS.items():
            if result.lines[kind]:
                write(f"  {label}: {result.lines[kind]:,} ({kes(result.line_amounts[kind])})")
        if result.balance_agrees is not None:
            verdict = "agree" if result.balance_agrees else "DIFFER"
            write(
                f"Opening balance {kes(result.opening_balance)} + the lines {kes(result.movements)} = "
                f"{kes(result.expected_closing)}; closing balance {kes(result.closing_balance)}: {verdict}"
            )
        proposed = result.ledger_proposed
        if proposed is not None:
            write(
                f"Proposed for the ledger: {proposed.charges:,} charges ({kes(proposed.charges_amount)}), "
                f"{proposed.transfers:,} transfers (in {kes(proposed.transfers_in)}, out KES "
                f"{proposed.transfers_out:,.2f}); {proposed.already:,} already in the ledger, "
                f"{proposed.waiting:,} already waiting. Nothing is posted until an approver accepts them "
                "(admin: Ledger > Statement postings)."
            )
        counts = result.counts()
        if result.ok:
            write(self.style.SUCCESS("Everything matched."))
        else:
            write(self.style.ERROR(f"{len(result.discrepancies):,} discrepancies:"))
            for kind in Kind.ALL:
                if counts.get(kind):
                    write(f"  {LABELS[kind]}: {counts[kind]:,}")
        write(f"Report: {report}")
