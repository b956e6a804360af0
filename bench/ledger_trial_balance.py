#!/usr/bin/env python
"""Time the ledger's trial balance (and an account's first page of entries) on the bench database after
`seed_payouts.py` and `manage.py ledger_backfill` (or `--backfill` here):

    BENCH_DB=bench_ledger .venv/bin/python bench/seed_payouts.py
    BENCH_DB=bench_ledger .venv/bin/python bench/ledger_trial_balance.py --backfill

Prints the median and worst of `--runs` calls of each, in milliseconds, and the row counts behind them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import manage, setup_django  # noqa: E402


def timed_ms(func, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--backfill", action="store_true", help="run manage.py ledger_backfill first")
    args = parser.parse_args()
    if args.backfill:
        manage("migrate", "-v0")
        manage("ledger_backfill")
    setup_django()
    from django.db import connection

    from ledger import selectors
    from ledger.models import DailyBalance, Entry, JournalTransaction
    from payments.models import Payout

    print(f"payouts: {Payout.objects.count():,}; journal transactions: {JournalTransaction.objects.count():,}; "
          f"entries: {Entry.objects.count():,}; daily running totals: {DailyBalance.objects.count():,}")
    tb = selectors.trial_balance()
    print(f"trial balance now: debits {tb.debits:,.2f} credits {tb.credits:,.2f} balanced {tb.balanced}")
    cases = {
        "trial balance (now)": lambda: selectors.trial_balance(),
        "trial balance (?at= mid-period, 2024-02-15 12:00 UTC)": lambda: selectors.trial_balance(
            at=datetime(2024, 2, 15, 12, tzinfo=UTC)),
        "mpesa_utility entries, first page of 50": lambda: list(
            selectors.account_entries(code="mpesa_utility").order_by("-posted_at", "-id")[:50]),
    }
    for label, func in cases.items():
        median, worst = timed_ms(func, args.runs)
        print(f"{label}: median {median:.1f} ms, worst {worst:.1f} ms ({args.runs} runs)")
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
