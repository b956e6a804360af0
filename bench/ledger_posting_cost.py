#!/usr/bin/env python
"""What one posting costs PostgreSQL: the server's planning + execution time of `SELECT ledger_post(...)`
(one payout's `sent`: two entries, the shard lock, two running totals), median and 90th percentile of
`--runs` postings, read from EXPLAIN ANALYZE inside a transaction that is rolled back (nothing is kept).
Server time is what the shared machine's load disturbs least; the round trip and the commit's deferred
balance check come on top.

    BENCH_DB=bench_ledger .venv/bin/python bench/ledger_posting_cost.py [--runs 300]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_database, manage, setup_django  # noqa: E402

TIME = re.compile(r"(Planning|Execution) Time: ([0-9.]+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    ensure_database()
    manage("migrate", "-v0")
    setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from ledger.services.posting import _POST_SQL

    samples = []
    with transaction.atomic(), connection.cursor() as cursor:
        for n in range(args.runs):
            cursor.execute(
                "EXPLAIN (ANALYZE, SUMMARY) " + _POST_SQL,
                ["bench", f"{time.time_ns()}:{n}", "sent", timezone.now(), "", 10_000_000 + n, None, None, None,
                 False, True, ["payouts_in_flight", "mpesa_utility"], [Decimal("10.00"), Decimal("0")],
                 [Decimal("0"), Decimal("10.00")]],
            )
            samples.append(sum(float(m.group(2)) for (line,) in cursor.fetchall() if (m := TIME.search(line))))
        transaction.set_rollback(True)
    samples.sort()
    print(f"ledger_post, server planning + execution: median {statistics.median(samples):.3f} ms, "
          f"p90 {samples[int(len(samples) * 0.9)]:.3f} ms ({args.runs} postings, rolled back)")
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
