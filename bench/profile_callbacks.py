#!/usr/bin/env python
"""Where a first B2C result's time goes: cProfile of N results posted in-process (Django's test client, the
app's settings, the `bench_callbacks` database), plus the SQL statements one result runs.

    .venv/bin/python bench/profile_callbacks.py [--results 300] [--top 40] [--cpu]

Notifications are queued to Redis db 12 (flushed first) and one admin number is set, as in
callback_intake.py; the callbacks service's settings. Prints the statements of one result, then the profile
sorted by cumulative time; with `--cpu`, no profile but the CPU time per result of this process and of its
PostgreSQL backend. `BENCH_DB=<name>` runs it on another database (each run truncates the one it uses).
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
    parser.add_argument(
        "--cpu", action="store_true", help="no profiler: CPU per result of this process and of its PostgreSQL backend"
    )
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
    from _common import ROOT, django_env

    sys.path.insert(0, str(ROOT))
    # The callbacks service's settings (mpesa_payouts/callbacks_wsgi.py: its minimal middleware), as served.
    os.environ.update(django_env(), DJANGO_SETTINGS_MODULE="mpesa_payouts.settings_callbacks", CELERY_BROKER_URL=BROKER)
    import django

    django.setup()
    import redis
    from callback_intake import bodies, seed
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    redis.Redis.from_url(BROKER).flushdb()
    payouts = seed(args.results + 2)
    posts = bodies(payouts)
    client = Client(REMOTE_ADDR="127.0.0.1")

    def post(path: str, body: bytes) -> None:
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 200, response.content

    # The first result of a run also records a float reading (throttled afterwards); the second is the usual one.
    for label, (path, body) in (("first result of the run", posts[0]), ("a later first result", posts[1])):
        with CaptureQueriesContext(connection) as queries:
            post(path, body)
        print(f"{label}: {len(queries)} statements (BEGIN, COMMIT, SAVEPOINT and RELEASE included)")
        for query in queries.captured_queries:
            print("  ", " ".join(query["sql"].split())[:150])
    rest = posts[2:]
    if args.duplicates:
        for path, body in rest:
            post(path, body)
    if args.cpu:
        cpu_per_result(rest, post)
        return
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


def _backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_result(posts: list, post) -> None:
    """CPU time per result: this process (Django, the app, the driver) and its PostgreSQL backend, read from
    /proc. Steadier than wall time on a shared machine, though the backend's clock ticks are coarse (10 ms):
    use a few hundred results."""
    import time

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    app, pg, wall = time.process_time(), _backend_cpu_seconds(backend), time.perf_counter()
    for path, body in posts:
        post(path, body)
    app, pg, wall = time.process_time() - app, _backend_cpu_seconds(backend) - pg, time.perf_counter() - wall
    n = len(posts)
    print(f"{n} first results: app {1000 * app / n:.2f} ms CPU, PostgreSQL backend {1000 * pg / n:.2f} ms CPU, "
          f"wall {1000 * wall / n:.2f} ms per result")  # fmt: skip


if __name__ == "__main__":
    main()
