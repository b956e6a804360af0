#!/usr/bin/env python
"""`manage.py reconcile_statement` on a statement of over a million rows, made from the seeded ledger: every
payout receipt (a B2C row and its charge is one row here) and every payment, with a few hundred planted
discrepancies of each kind. Times the command and reports its peak memory.

    .venv/bin/python bench/seed_payouts.py      # once
    .venv/bin/python bench/reconcile.py

Target (issue 6): under 60 s.
"""

from __future__ import annotations

import csv
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, run_measured, setup_django  # noqa: E402

COLUMNS = [
    "Receipt No.", "Completion Time", "Initiation Time", "Details", "Transaction Status", "Paid In", "Withdrawn",
    "Balance", "Balance Confirmed", "Reason Type", "Other Party Info", "Linked Transaction ID", "A/C No.",
]  # fmt: skip
B2C = "Business Payment to Customer via API"
PLANTED = 100  # of each kind
TIMEOUT = 600


def make_statement(path: Path) -> tuple[int, dict[str, int]]:
    from django.db import connection

    from core.nairobi_time import NAIROBI

    rng = random.Random(6)
    planted = dict.fromkeys(["amount", "status", "dropped", "stranger"], 0)
    rows = 0
    with connection.cursor() as c:
        c.execute(
            "SELECT MIN(LEAST(mpesa_completed_at, completed_at)), MAX(GREATEST(mpesa_completed_at, completed_at)) "
            "FROM payments_payout WHERE transaction_id IS NOT NULL"
        )
        first, last = c.fetchone()
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerows([["Account Holder:", "BENCH LIMITED"], ["Short Code:", "600999"]])
        fmt = "%d-%m-%Y %H:%M:%S"
        w.writerow(["Time Period:", f"{first.astimezone(NAIROBI):{fmt}} - {last.astimezone(NAIROBI):{fmt}}"])
        w.writerows([["Opening Balance:", "0.00"], []])
        w.writerow(COLUMNS)
        with connection.cursor() as c:
            c.execute(
                "SELECT transaction_id, COALESCE(mpesa_completed_at, completed_at, status_changed_at), amount, phone "
                "FROM payments_payout WHERE transaction_id IS NOT NULL ORDER BY id"
            )
            while batch := c.fetchmany(10_000):
                for receipt, when, amount, phone in batch:
                    status, shown = "Completed", amount
                    pick = rng.random()
                    if pick < 0.0001 and planted["dropped"] < PLANTED:
                        planted["dropped"] += 1
                        continue
                    if pick > 0.9999 and planted["amount"] < PLANTED:
                        planted["amount"] += 1
                        shown = amount + 1
                    elif 0.5 < pick < 0.5001 and planted["status"] < PLANTED:
                        planted["status"] += 1
                        status = "Failed"
                    t = when.astimezone(NAIROBI).strftime(fmt)
                    w.writerow([receipt, t, t, B2C, status, "", f"-{shown:,.2f}", "", "", B2C, f"{phone} - R", "", ""])
                    rows += 1
            c.execute("SELECT receipt, transaction_time, amount, phone FROM payments_payment ORDER BY id")
            while batch := c.fetchmany(10_000):
                for receipt, when, amount, phone in batch:
                    t = when.astimezone(NAIROBI).strftime(fmt)
                    w.writerow(
                        [
                            receipt,
                            t,
                            t,
                            "Pay Bill Online",
                            "Completed",
                            f"{amount:,.2f}",
                            "",
                            "",
                            "",
                            "Pay Bill Online",
                            phone,
                            "",
                            "",
                        ]
                    )  # noqa: E501
                    rows += 1
        for n in range(PLANTED):
            t = first.astimezone(NAIROBI).strftime(fmt)
            w.writerow([f"ZZ{n:08d}", t, t, B2C, "Completed", "", "-99.00", "", "", B2C, "2547 - STRANGER", "", ""])
            planted["stranger"] += 1
            rows += 1
    return rows, planted


def main() -> int:
    setup_django()
    OUT.mkdir(parents=True, exist_ok=True)
    statement, report = OUT / "statement.csv", OUT / "statement-report.csv"
    started = time.perf_counter()
    rows, planted = make_statement(statement)
    print(f"statement: {rows:,} rows, {statement.stat().st_size / 2**20:.0f} MB, made in "
          f"{time.perf_counter() - started:.1f} s; planted {planted}", flush=True)  # fmt: skip

    summary = OUT / "statement-summary.txt"
    with summary.open("w") as out:
        elapsed, peak, code = run_measured(
            ["reconcile_statement", str(statement), "--report", str(report)], timeout=TIMEOUT, stdout=out
        )
    print(summary.read_text())
    print(f"reconcile_statement: {elapsed:.2f} s, peak RSS {peak:.0f} MB, exit code {code}")
    statement.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
