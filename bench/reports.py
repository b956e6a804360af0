#!/usr/bin/env python
"""Time a month's report (issue 30: under 300 ms at 1,000,000 payouts) on the seeded payouts: the selector alone
(payments.reports.figures) and GET /api/reports/ through Django's full request stack in-process, grouped by
day, week and month, median of several runs each.

    BENCH_DB=bench_reports .venv/bin/python bench/reports.py [--payouts 1000000] [--runs 7]

Seeds the database first when it holds fewer than --payouts payouts (bench/seed_payouts.py: COPY, a few minutes),
then, once, spreads the rails (a tenth paybill, a tenth till, with a charge on each completed one) and the
failure codes (2001, 1, 400.002.02) over the seeded rows in one UPDATE (triggers off), then fills the reports'
running totals (PayoutReportDay) as migration 0027 does, since the seed loads its rows with the triggers off.
The seeded payouts span 90 days from 1 Jan 2024 (Nairobi), so January holds ~344,000.
Bounded: every statement has a 60 s timeout and the runs are counted.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_URL, ROOT, django_env, ensure_database, manage, setup_django, timed  # noqa: E402

TARGET_MS = 300
WARMUP = 2
SPREAD = """
UPDATE payments_payout SET
  rail = CASE id % 10 WHEN 3 THEN 'paybill' WHEN 7 THEN 'till' ELSE rail END,
  party_b = CASE WHEN id % 10 IN (3, 7) THEN '888880' ELSE party_b END,
  account_reference = CASE WHEN id % 10 = 3 THEN 'ACC-' || (id % 1000) ELSE account_reference END,
  charge = CASE WHEN id % 10 IN (3, 7) AND status = 'completed' THEN 15.00 ELSE charge END,
  result_code = CASE WHEN status = 'failed' THEN (ARRAY['2001', '1', '400.002.02'])[id % 3 + 1] ELSE result_code END
WHERE id % 10 IN (3, 7) OR status = 'failed'
"""


def seed_if_needed(payouts: int) -> None:
    import psycopg

    ensure_database()
    with psycopg.connect(BENCH_URL) as conn:
        try:
            have = conn.execute("SELECT COUNT(*) FROM payments_payout").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            have = 0
    if have < payouts:
        subprocess.run([sys.executable, "bench/seed_payouts.py", "--payouts", str(payouts)], cwd=ROOT,
                       env=django_env(), check=True)  # fmt: skip
    else:
        manage("migrate", "--noinput", stdout=sys.stderr)  # a database seeded before the reports' totals existed
    with psycopg.connect(BENCH_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM payments_payout WHERE rail = 'paybill' LIMIT 1").fetchone():
            with timed("spread rails, charges and failure codes"):
                conn.execute("SET session_replication_role = replica")
                conn.execute(SPREAD)
                conn.execute("SET session_replication_role = DEFAULT")
                conn.execute("TRUNCATE payments_payoutreportday")
                conn.execute("VACUUM ANALYZE payments_payout")
        if not conn.execute("SELECT 1 FROM payments_payoutreportday LIMIT 1").fetchone():
            # The seed loads with the triggers off: the reports' running totals are filled as migration 0027 does.
            refill = importlib.import_module("payments.migrations.0027_report_totals").refill_sql()
            with timed("fill the reports' running totals"):
                conn.execute(refill)
                conn.execute("VACUUM ANALYZE payments_payoutreportday")


def median_ms(call, runs: int) -> tuple[float, float]:
    for _ in range(WARMUP):
        call()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), max(timings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payouts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    seed_if_needed(args.payouts)
    setup_django()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from core.nairobi_time import NAIROBI
    from payments.reports import figures
    from payments.reports.params import ReportPeriod

    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '60s'")
    reader, _ = get_user_model().objects.get_or_create(username="bench-reader", defaults={"is_staff": True})
    reader.groups.add(Group.objects.get(name="Payout approvers"))
    now = datetime(2024, 4, 2, 12, tzinfo=NAIROBI)
    failed = False
    with mock.patch("django.utils.timezone.now", return_value=now):
        client = Client()
        client.force_login(reader)
        for group in ("day", "week", "month"):
            period = ReportPeriod(start=date(2024, 1, 1), end=date(2024, 1, 31), group=group)
            result = figures.report(period)
            t = result.totals
            selector, worst = median_ms(lambda p=period: figures.report(p), args.runs)
            url = f"/api/reports/?start=2024-01-01&end=2024-01-31&group={group}"
            api, api_worst = median_ms(lambda u=url: client.get(u), args.runs)
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            query_count = len(queries.captured_queries)
            page_url = url.replace("/api/reports/", "/admin/reports/")
            page, page_worst = median_ms(lambda u=page_url: client.get(u), args.runs)
            xlsx, xlsx_worst = median_ms(lambda u=f"{url}&export=xlsx": client.get(u), args.runs)
            failed |= max(api, page, xlsx) >= TARGET_MS
            print(f"January 2024 by {group:5}: {t.requested:,} payouts requested, {t.completed.count:,} completed, "
                  f"{t.failed.count:,} failed, {t.unknown.count:,} unknown, {len(result.failures)} failure reasons")
            print(f"  selector median {selector:6.1f} ms (max {worst:6.1f})   GET /api/reports/ {api:6.1f} ms "
                  f"(max {api_worst:6.1f}, {query_count} queries)   page {page:6.1f} ms "
                  f"(max {page_worst:6.1f})   XLSX {xlsx:6.1f} ms (max {xlsx_worst:6.1f})")  # fmt: skip
    print(f"target {TARGET_MS} ms: {'MISSED' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
