#!/usr/bin/env python
"""Time `GET /api/payouts/` (first page, 50 payouts with requesters and approvals) on the seeded million
payouts, through Django's full request stack in-process (token auth, filters, cursor pagination,
serialisation). Also a filtered first page and the page after it.

    .venv/bin/python bench/seed_payouts.py      # once
    .venv/bin/python bench/api_first_page.py [--requests 50]

Target (issue 6): first page under 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import setup_django  # noqa: E402

WARMUP = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    setup_django()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    staff, _ = get_user_model().objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    token, _ = Token.objects.get_or_create(user=staff)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")

    first = client.get("/api/payouts/").json()
    cases = {
        "/api/payouts/ (first page, 50)": "/api/payouts/",
        "/api/payouts/?status=failed (first page)": "/api/payouts/?status=failed",
        "/api/payouts/?kind=refund&created_after=2024-02-01 (first page)": (
            "/api/payouts/?kind=refund&created_after=2024-02-01"
        ),
        "/api/payouts/ (second page, via next)": first["next"],
        "/api/payouts/?page_size=500 (first page)": "/api/payouts/?page_size=500",
    }
    for label, url in cases.items():
        for _ in range(WARMUP):
            assert client.get(url).status_code == 200
        timings = []
        for _ in range(args.requests):
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(
            f"{label}: median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms "
            f"({len(response.json()['results'])} results)",
            flush=True,
        )

    with CaptureQueriesContext(connection) as queries:
        client.get("/api/payouts/")
    page_sql = next(q["sql"] for q in queries.captured_queries if "payments_payout" in q["sql"])
    with connection.cursor() as c:
        c.execute("EXPLAIN ANALYZE " + page_sql)
        print("\nEXPLAIN ANALYZE of the page query:")
        print("\n".join(row[0] for row in c.fetchall()))
    print(f"queries per page: {len(queries.captured_queries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
