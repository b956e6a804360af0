#!/usr/bin/env python
"""Where a `send_payout` task's time goes: `payout_send` called in-process for N approved payouts against the
Daraja simulator (started in this process), on its own database `bench_send`, with the app's settings and its
Redis cache (db 11, flushed first).

    .venv/bin/python bench/profile_send.py [--sends 300] [--history 20000] [--history-days 1] [--top 30]
                                           [--no-stored-credentials] [--dump FILE] [--cpu]

Prints the SQL statements and Redis commands of one send (after a warm-up send that fetches the OAuth token),
then CPU ms and wall ms per send over N sends without the profiler (this thread's CPU only: the simulator's
threads are not counted), then the cProfile of another N sends (`--cpu`: of this thread's CPU time, waits
on PostgreSQL and the simulator left out, instead of wall time).

`--history` payouts already sent (`completed`, to other phones), spread over `--history-days` days up to now,
are seeded first: the daily-limit sums run over today's share of them (all of them by default, as in the
middle of a big payroll). By default the B2C consumer key/secret and initiator
password are stored (Fernet-encrypted) in an active DarajaCredentialSet, as an operator would keep them in the
admin; `--no-stored-credentials` takes them from the environment only.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DB", "bench_send")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, ROOT, ensure_database, manage, seed_approved  # noqa: E402

sys.path.insert(0, str(ROOT))

REDIS_CACHE = "redis://127.0.0.1:6379/11"
SIM_DIR = OUT / "profile_send"
CONSUMER_KEY = "bench-b2c-key"
CONSUMER_SECRET = "bench-b2c-secret"
INITIATOR_PASSWORD = "Bench-Initiator-1!"


def seed(count: int, history: int, days: int = 1) -> list[int]:
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from payments.callbacks.tokens import payout_token
    from payments.models import Payout, new_originator_conversation_id
    from tests.factories import make_approver, make_requester

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE payments_auditevent, payments_darajacallback, payments_floatbalance, payments_payoutapproval,"
            " payments_payout, payments_darajacredentialset, notifications_notification CASCADE"
        )
    users = get_user_model().objects
    requester = users.filter(username="bench-req").first() or make_requester("bench-req")
    approver = users.filter(username="bench-appr").first() or make_approver("bench-appr")
    now = timezone.now()
    done = []
    for i in range(history):
        ocid = new_originator_conversation_id()
        sent_at = now - timedelta(days=i % days)  # spread evenly over `days` days, today included
        done.append(
            Payout(
                kind="disbursement",
                status="completed",
                phone=f"25472{i % 10_000_000:07d}",
                amount=100,
                remarks="Earlier today",
                requested_by=requester,
                originator_conversation_id=ocid,
                callback_token=payout_token(ocid),
                transaction_id=f"H{i:09d}",
                submitted_at=sent_at,
                completed_at=sent_at,
                created_at=sent_at,
            )
        )
    Payout.objects.bulk_create(done, batch_size=5000)
    created = seed_approved(count, phone=lambda i: f"25471{i:07d}", requester=requester, approver=approver)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE payments_payout")
        cursor.execute("ANALYZE payments_payoutapproval")
    return [p.pk for p in created]


class RedisCounter:
    """Counts commands sent through redis-py (Django's Redis cache uses it)."""

    def __init__(self) -> None:
        import redis

        self.count = 0
        self.names: list[str] = []
        original = redis.Redis.execute_command
        counter = self

        def counted(client, *args, **options):
            counter.count += 1
            counter.names.append(str(args[0]))
            return original(client, *args, **options)

        redis.Redis.execute_command = counted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--history", type=int, default=20000, help="payouts already sent (completed)")
    parser.add_argument("--history-days", type=int, default=1, help="spread over this many days, today included")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-stored-credentials", action="store_true")
    parser.add_argument("--dump", help="also write the raw profile to this file (pstats format)")
    parser.add_argument("--cpu", action="store_true", help="profile this thread's CPU time, not wall time")
    args = parser.parse_args()

    from cryptography.fernet import Fernet

    from daraja_simulator import SimulatorKeys, SimulatorServer, SimulatorSettings

    SIM_DIR.mkdir(parents=True, exist_ok=True)
    keys = SimulatorKeys.generate()
    # Callbacks are held back for an hour and cancelled at the end: only the send side is measured.
    sim_settings = SimulatorSettings(
        delay=3600,
        credentials=((CONSUMER_KEY, CONSUMER_SECRET),),
        initiator_password=INITIATOR_PASSWORD,
        callback_timeout=1.0,
    )
    with SimulatorServer(port=0, settings=sim_settings, keys=keys) as simulator:
        certificate = simulator.write_certificate(SIM_DIR / "simulator-cert.pem")
        stored = not args.no_stored_credentials
        os.environ.update(
            DEBUG="false",
            LOG_LEVEL="WARNING",
            CONN_MAX_AGE="600",
            REDIS_URL=REDIS_CACHE,
            CELERY_BROKER_URL="memory://",
            NOTIFICATIONS_BACKEND="console",
            CALLBACK_BASE_URL="http://127.0.0.1:9",
            FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
            MPESA_ENVIRONMENT="simulator",
            MPESA_BASE_URL=simulator.url,
            MPESA_B2C_CONSUMER_KEY="" if stored else CONSUMER_KEY,
            MPESA_B2C_CONSUMER_SECRET="" if stored else CONSUMER_SECRET,
            MPESA_CONSUMER_KEY="bench-stk-key",
            MPESA_CONSUMER_SECRET="bench-stk-secret",
            MPESA_B2C_SHORTCODE="600992",
            MPESA_INITIATOR_NAME="bench",
            MPESA_INITIATOR_PASSWORD="" if stored else INITIATOR_PASSWORD,
            MPESA_CERTIFICATE_PATH=str(certificate),
            PAYOUT_DAILY_LIMIT="100000000",
            PAYOUT_RECIPIENT_DAILY_LIMIT="100000000",
        )
        ensure_database()
        manage("migrate", "--noinput", stdout=open(os.devnull, "w"))  # noqa: SIM115
        from _common import setup_django

        setup_django()
        import redis
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from payments.field_encryption import encrypt_value
        from payments.models import DarajaCredentialSet, Payout, PayoutStatus
        from payments.payouts.dispatch import payout_send

        redis.Redis.from_url(REDIS_CACHE).flushdb()
        ids = seed(2 * args.sends + 2, args.history, args.history_days)
        if stored:
            DarajaCredentialSet.objects.create(
                name="bench",
                active=True,
                b2c_consumer_key_encrypted=encrypt_value(CONSUMER_KEY),
                b2c_consumer_secret_encrypted=encrypt_value(CONSUMER_SECRET),
                initiator_password_encrypted=encrypt_value(INITIATOR_PASSWORD),
            )
        counter = RedisCounter()

        def send(payout_id: int) -> None:
            outcome = payout_send(payout_id=payout_id).outcome
            assert outcome == "submitted", outcome

        send(ids[0])  # warm-up: connections, the OAuth token, the SecurityCredential
        counter.count, counter.names = 0, []
        with CaptureQueriesContext(connection) as queries:
            send(ids[1])
        print(f"one send: {len(queries)} SQL statements, {counter.count} Redis commands {counter.names}")
        for query in queries.captured_queries:
            print(f"   [{float(query['time']) * 1000:5.2f} ms] {query['sql'][:160]}")

        timed, profiled = ids[2 : 2 + args.sends], ids[2 + args.sends :]
        counter.count = 0
        cpu, wall = time.thread_time(), time.perf_counter()
        for payout_id in timed:
            send(payout_id)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        print(
            f"\n{len(timed)} sends ({args.history} payouts sent over {args.history_days} day(s) before, credentials "
            f"{'stored in the admin' if stored else 'from the environment'}): "
            f"CPU {cpu / len(timed) * 1000:.2f} ms/send (this thread), wall {wall / len(timed) * 1000:.2f} ms/send, "
            f"Redis commands {counter.count / len(timed):.2f}/send\n"
        )
        profiler = cProfile.Profile(time.thread_time) if args.cpu else cProfile.Profile()
        profiler.enable()
        for payout_id in profiled:
            send(payout_id)
        profiler.disable()
        sent = Payout.objects.filter(status=PayoutStatus.SUBMITTED).count()
        assert sent == len(ids), f"{sent} of {len(ids)} submitted"
        with simulator.ledger.lock:
            taken = len(simulator.ledger.payments)
        assert taken == len(ids), f"the simulator took in {taken} requests for {len(ids)} payouts"
        if args.dump:
            profiler.dump_stats(args.dump)
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        connection.close()
    shutil.rmtree(SIM_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
