#!/usr/bin/env python
"""Where a first B2C result's time goes: cProfile of N results posted in-process (Django's test client, the
app's settings, the `bench_callbacks` database), plus the SQL statements one result runs.

    .venv/bin/python bench/profile_callbacks.py [--results 300] [--top 40]

Notifications are queued to Redis db 12 (flushed first) and one admin number is set, as in
callback_intake.py. Prints the statements of one result, then the profile sorted by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
from pathlib import Path

os.environ.setdefault("BENCH_DB", "bench_callbacks")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_database, manage  # noqa: E402

BROKER = "redis://127.0.0.1:6379/12"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=300)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--duplicates", action="store_true", help="profile the same results posted again")
    args = parser.parse_args()
    os.environ.update(
        CALLBACK_ALLOWED_IPS="127.0.0.1",
        CELERY_BROKER_URL=BROKER,
        NOTIFICATIONS_BACKEND="console",
        ADMIN_WHATSAPP_NUMBERS="254700111222",
        LOG_LEVEL="WARNING",
        DEBUG="false",
        CONN_MAX_AGE="600",
    )
    ensure_database()
    manage("migrate", "--noinput", stdout=open(os.devnull, "w"))  # noqa: SIM115
    from _common import setup_django

    setup_django()
    os.environ["CELERY_BROKER_URL"] = BROKER
    import redis
    from callback_intake import bodies, seed
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    redis.Redis.from_url(BROKER).flushdb()
    payouts = seed(args.results + 1)
    posts = bodies(payouts)
    client = Client(REMOTE_ADDR="127.0.0.1")

    def post(path: str, body: bytes) -> None:
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 200, response.content

    with CaptureQueriesContext(connection) as queries:
        post(*posts[0])
    print(f"one first result: {len(queries)} statements")
    for query in queries.captured_queries:
        print("  ", query["sql"][:150])
    rest = posts[1:]
    if args.duplicates:
        for path, body in rest:
            post(path, body)
    profiler = cProfile.Profile()
    profiler.enable()
    for path, body in rest:
        post(path, body)
    profiler.disable()
    stats = pstats.Stats(profiler)
    out = Path(__file__).resolve().parent.parent / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    stats.dump_stats(str(out / "callbacks.prof"))
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
