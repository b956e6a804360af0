#!/usr/bin/env python
"""Time the console's overview (the admin index) and GET /api/dashboard/ on the seeded million payouts,
through Django's full request stack in-process, as an approver (whose "waiting for your approval" count is the
costliest figure: every pending payout, each checked against their approvals and edits), with the number of
queries and whether any of them counts payouts without an indexed condition.

    .venv/bin/python bench/seed_payouts.py      # once
    .venv/bin/python bench/dashboard.py [--requests 20]

The seeded payouts span 90 days of early 2024, so the clock is set to the last seeded day (15:00 Nairobi):
"today" and "this week" then hold their share of the million (about 11,000 and 78,000). Float readings (one
a minute over the 90 days, as B2C results record them) are added once when the table has none.

Target (issue 17): under 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import setup_django  # noqa: E402

WARMUP = 3
TARGET_MS = 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.models import Max
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from core.console_kit import table_estimate
    from core.nairobi_time import NAIROBI
    from payments.models import FloatBalance, Payout, PayoutStatus

    last = Payout.objects.aggregate(last=Max("created_at"))["last"]
    if last is None:
        print("no payouts: run bench/seed_payouts.py first")
        return 2
    now = last.astimezone(NAIROBI).replace(hour=15, minute=0, second=0, microsecond=0)
    if not FloatBalance.objects.exists():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO payments_floatbalance (utility_available, working_available, source, observed_at) "
                "SELECT 200000 + (n %% 5000) * 20, 5000, 'b2c_result', %s + n * interval '1 minute' "
                "FROM generate_series(0, 90 * 1440) AS n",
                [now - timedelta(days=90)],
            )
            cursor.execute("ANALYZE payments_floatbalance")

    approver, _ = get_user_model().objects.get_or_create(username="bench-approver", defaults={"is_staff": True})
    approver.groups.add(Group.objects.get(name="Payout approvers"))
    print(f"payouts in the table: {table_estimate(Payout):,} (estimate)")
    print(f"pending approval: {Payout.objects.filter(status=PayoutStatus.PENDING_APPROVAL).count():,}")
    print(f"float readings: {FloatBalance.objects.count():,}; clock set to {now:%Y-%m-%d %H:%M} Nairobi")

    failed = False
    with mock.patch("django.utils.timezone.now", return_value=now):
        client = Client()
        client.force_login(approver)
        data = client.get("/api/dashboard/").json()
        print(
            f"figures: awaiting {data['awaiting_my_approval']:,}, paid today {data['paid_today']['count']:,}, "
            f"paid this week {data['this_week']['paid']['count']:,} (KES {data['this_week']['paid']['amount']}), "
            f"failed this week {data['this_week']['failed']:,}"
        )
        for label, url in {"overview (admin index)": "/admin/", "GET /api/dashboard/": "/api/dashboard/"}.items():
            for _ in range(WARMUP):
                assert client.get(url).status_code == 200, url
            timings = []
            for _ in range(args.requests):
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
            unbounded = [
                q["sql"]
                for q in queries.captured_queries
                if "COUNT(" in q["sql"].upper()
                and '"payments_payout"' in q["sql"]
                and "WHERE" not in q["sql"].upper()
            ]
            slowest = max(float(q["time"]) for q in queries.captured_queries) * 1000
            median = statistics.median(timings)
            p95 = sorted(timings)[int(0.95 * (len(timings) - 1))]
            failed |= median >= TARGET_MS
            print(
                f"{label:24} median {median:7.1f} ms  p95 {p95:7.1f} ms  queries {len(queries.captured_queries):2}  "
                f"slowest query {slowest:6.1f} ms  unbounded payout COUNT {len(unbounded)}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
