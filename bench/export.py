#!/usr/bin/env python
"""CSV export of the seeded payouts: `manage.py export_reconciliation` against PostgreSQL's own
`COPY (SELECT ...) TO STDOUT WITH CSV` of the same SELECT (the one the command runs), with the export's peak
memory. Checks both files hold the same rows. Then times the JSON export, which Python writes row by row.

    .venv/bin/python bench/seed_payouts.py      # once
    .venv/bin/python bench/export.py [--runs 2]

Targets (issue 6): export within 2x COPY's time; peak RSS under 150 MB.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, run_measured, setup_django  # noqa: E402

START, END = "2023-12-31", "2024-04-01"  # every seeded payout
TIMEOUT = 900


def copy_baseline(path: Path) -> float:
    from datetime import date

    from django.db import connection

    from payments.selectors import payout_export

    _, queryset = payout_export(start=date.fromisoformat(START), end=date.fromisoformat(END))
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as c:
        raw = c.cursor  # psycopg's own cursor: server-side COPY
        # The connection binds parameters on the server, whose cursors cannot inline them; COPY needs the
        # literal query, so a client-side cursor on the same connection writes it.
        select = psycopg.ClientCursor(raw.connection).mogrify(sql, params)
        started = time.perf_counter()
        with path.open("wb") as f, raw.copy(f"COPY ({select}) TO STDOUT WITH CSV") as copy:
            for chunk in copy:
                f.write(chunk)
        return time.perf_counter() - started


def command_export(path: Path, fmt: str = "csv") -> tuple[float, float]:
    """Wall time and peak RSS (MB) of the command, run as its own process."""
    elapsed, peak, code = run_measured(
        ["export_reconciliation", "--start", START, "--end", END, "--format", fmt, "--output", str(path)],
        timeout=TIMEOUT,
    )
    if code != 0:
        raise SystemExit(f"export failed with exit code {code}")
    return elapsed, peak


def same_rows(copy_path: Path, export_path: Path) -> int:
    """Row-by-row equality (COPY quotes empty strings, Python's csv does not: compare parsed values)."""
    with copy_path.open(newline="") as a, export_path.open(newline="") as b:
        ours = csv.reader(b)
        next(ours)  # header
        n = 0
        for n, (x, y) in enumerate(zip(csv.reader(a), ours, strict=True), start=1):
            if x != y:
                raise SystemExit(f"row {n} differs:\n{x}\n{y}")
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    setup_django()
    OUT.mkdir(parents=True, exist_ok=True)
    copy_path, export_path = OUT / "copy.csv", OUT / "export.csv"

    copies, exports, peaks = [], [], []
    for run in range(1, args.runs + 1):
        copies.append(copy_baseline(copy_path))
        print(f"run {run}: COPY {copies[-1]:.2f} s", flush=True)
        elapsed, peak = command_export(export_path)
        exports.append(elapsed)
        peaks.append(peak)
        print(f"run {run}: export_reconciliation {elapsed:.2f} s, peak RSS {peak:.0f} MB", flush=True)
    rows = same_rows(copy_path, export_path)
    size = export_path.stat().st_size / 2**20
    best_copy, best_export = min(copies), min(exports)
    print(f"rows: {rows:,} ({size:.0f} MB of CSV), identical to COPY's")
    print(f"best COPY: {best_copy:.2f} s; best export: {best_export:.2f} s; ratio {best_export / best_copy:.2f}x")
    print(f"peak RSS of the export: {max(peaks):.0f} MB")
    copy_path.unlink()
    export_path.unlink()

    # The JSON export goes through the other path (Python writes every row, fed by the server-side cursor):
    # its memory must stay as flat.
    json_path = OUT / "export.json"
    elapsed, peak = command_export(json_path, "json")
    print(f"export_reconciliation --format json: {elapsed:.2f} s, peak RSS {peak:.0f} MB, "
          f"{json_path.stat().st_size / 2**20:.0f} MB")  # fmt: skip
    json_path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
