#!/usr/bin/env python
"""What each part of a first B2C result costs, by taking it away: first results posted in-process (Django's test
client, the callbacks service's settings, its own database `bench_callbacks_split`), in alternating rounds of
variants, each variant with one part switched off by a patch; CPU per result of this process and of its
PostgreSQL backend (read from /proc). A measuring tool only: a variant is never a configuration.

    .venv/bin/python bench/callback_cost_split.py [--results 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

os.environ.setdefault("BENCH_DB", "bench_callbacks_split")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, django_env, ensure_database, manage  # noqa: E402

BROKER = "redis://127.0.0.1:6379/12"


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def variants() -> dict:
    from django.db import connection

    def no_triggers():
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")  # row triggers and FK checks off

    def triggers_back():
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = origin")

    return {
        "whole": [],
        "no webhook event": [mock.patch("payments.payouts.lifecycle.payout_status_webhook", lambda **kw: None)],
        "no admin alert": [mock.patch("notifications.alerts.admin_targets", lambda *a, **kw: [])],
        "no ledger posting": [mock.patch("payments.payouts.lifecycle.payout_status_posted", lambda **kw: None)],
        "no log line": [mock.patch("payments.callbacks.processing.callback_log_line", lambda cb: None)],
        "no triggers": [(no_triggers, triggers_back)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(CALLBACK_ALLOWED_IPS="127.0.0.1", NOTIFICATIONS_BACKEND="console",
                      ADMIN_WHATSAPP_NUMBERS="254700111222", LOG_LEVEL="WARNING", DEBUG="false")  # fmt: skip
    ensure_database()
    manage("migrate", "--noinput", stdout=open(os.devnull, "w"))  # noqa: SIM115
    sys.path.insert(0, str(ROOT))
    os.environ.update(django_env(), DJANGO_SETTINGS_MODULE="mpesa_payouts.settings_callbacks",
                      CELERY_BROKER_URL=BROKER, CONN_MAX_AGE="600")  # fmt: skip
    import django

    django.setup()

    import redis
    from callback_intake import bodies, seed
    from django.db import connection
    from django.test import Client

    redis.Redis.from_url(BROKER).flushdb()
    table = variants()
    per = args.results
    payouts = seed(per * len(table) * args.rounds + 50)
    posts = bodies(payouts)
    client = Client(REMOTE_ADDR="127.0.0.1")

    def post(path, body):
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 200, response.content

    for path, body in posts[:50]:  # warm up
        post(path, body)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    totals = {name: [0.0, 0.0, 0] for name in table}
    at = 50
    for _ in range(args.rounds):
        for name, patches in table.items():
            batch = posts[at : at + per]
            at += per
            with ExitStack() as stack:
                for patch in patches:
                    if isinstance(patch, tuple):
                        patch[0]()
                        stack.callback(patch[1])
                    else:
                        stack.enter_context(patch)
                app, pg = time.process_time(), _backend_cpu(backend)
                for path, body in batch:
                    post(path, body)
                totals[name][0] += time.process_time() - app
                totals[name][1] += _backend_cpu(backend) - pg
                totals[name][2] += len(batch)
    whole_app, whole_pg = (1000 * totals["whole"][i] / totals["whole"][2] for i in (0, 1))
    for name, (app, pg, n) in totals.items():
        app, pg = 1000 * app / n, 1000 * pg / n
        print(f"{name:20} app {app:5.2f} ms  PostgreSQL {pg:5.2f} ms  "
              f"(the part: app {whole_app - app:+.2f}, PostgreSQL {whole_pg - pg:+.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
