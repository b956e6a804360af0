#!/usr/bin/env python
"""Payout throughput end to end: approved payouts sent to the Daraja simulator by real Celery workers on
Redis, settled by the simulator's result callbacks through gunicorn, on PostgreSQL.

    .venv/bin/python bench/payout_pipeline.py [--payouts 10000] [--timeout 900] [--threads 4] [--group N]

Floor, measured in the same run with the same workers: a task that only updates one row.
Reports payouts/s end to end, the ratio to the floor, and new database connections per 1,000 tasks
(pg_stat_database.sessions of the bench database). Every wait is bounded; every process is stopped.
Results go to var/bench/payout_pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DB", "bench_pipeline")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BENCH_DB,
    OUT,
    ROOT,
    SERVER_URL,
    django_env,
    ensure_database,
    free_port,
    manage,
    seed_approved,
    setup_django,
    wait_port,
)
from cpu import CpuMeter  # noqa: E402

# Redis databases (override to keep out of another run's way on a shared machine).
BROKER_DB = int(os.environ.get("BENCH_REDIS_BROKER_DB", "9"))
CACHE_DB = int(os.environ.get("BENCH_REDIS_CACHE_DB", "8"))
BROKER = f"redis://127.0.0.1:6379/{BROKER_DB}"
VENV_BIN = Path(sys.executable).parent
SIM_DIR = ROOT / "var" / "bench" / "simulator"


def _server_rows(sql: str, params: list) -> list[tuple]:
    """A query about the bench database, asked from the server's `postgres` database (not counted in it)."""
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def sessions() -> int:
    return _server_rows("SELECT sessions FROM pg_stat_database WHERE datname = %s", [BENCH_DB])[0][0]


def opened_since(moment) -> dict[str, int]:
    """Connections to the bench database opened after `moment` and still open, by application_name."""
    return dict(
        _server_rows(
            "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = %s AND backend_start >= %s"
            " GROUP BY application_name ORDER BY application_name",
            [BENCH_DB, moment],
        )
    )


def seed(count: int) -> list[int]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from tests.factories import make_approver, make_requester

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE payments_auditevent, payments_darajacallback, payments_floatbalance, payments_payoutapproval,"
            " payments_payout, notifications_notification CASCADE"
        )
    users = get_user_model().objects
    requester = users.filter(username="bench-req").first() or make_requester("bench-req")
    approver = users.filter(username="bench-appr").first() or make_approver("bench-appr")
    # 2547 numbers spread over the range.
    created = seed_approved(
        count,
        phone=lambda i: f"2547{(10000000 + i * 7) % 90000000 + 10000000:08d}"[:12],
        requester=requester,
        approver=approver,
    )
    return [p.pk for p in created]


def publish(name: str, argsets: list) -> None:
    from celery import Celery

    os.environ["CELERY_BROKER_URL"] = BROKER  # Celery lets this variable win over the constructor
    app = Celery(broker=BROKER)
    for args in argsets:
        app.send_task(name, args=list(args))


def publish_sends(ids: list[int], group: int) -> None:
    """As the app queues them: one `send_payout` per payout (a lone approval, --group 1), or `send_payouts` of
    `group` ids (an approval of many in the admin, payouts.queue_sends)."""
    from payments.payouts.services import send_groups

    if group <= 1:
        publish("payments.tasks.send_payout", [(payout_id,) for payout_id in ids])
    else:
        publish("payments.tasks.send_payouts", [(group_ids,) for group_ids in send_groups(ids, group)])


def worker_command(pool: list[str]) -> list[str]:
    return [
        str(VENV_BIN / "celery"),
        "-A",
        "mpesa_payouts",
        "worker",
        *pool,
        # Every queue, as one worker of a small deployment would: the payouts' alerts and webhooks are part
        # of a payout's cost, and since they have queues of their own a worker without -Q would leave them.
        "-Q",
        "celery,webhooks,notifications,finance",
        "-I",
        "bench.tasks",
        "-l",
        "info",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]


def app_env(sim_port: int, web_port: int) -> dict[str, str]:
    env = django_env()
    env.update(
        CELERY_BROKER_URL=BROKER,
        CONN_MAX_AGE="600",
        CALLBACK_ALLOWED_IPS="127.0.0.1",
        CALLBACK_BASE_URL=f"http://127.0.0.1:{web_port}",
        MPESA_ENVIRONMENT="simulator",
        MPESA_BASE_URL=f"http://127.0.0.1:{sim_port}",
        MPESA_B2C_CONSUMER_KEY="bench",
        MPESA_B2C_CONSUMER_SECRET="bench",
        MPESA_CONSUMER_KEY="bench",
        MPESA_CONSUMER_SECRET="bench",
        MPESA_B2C_SHORTCODE="600992",
        MPESA_INITIATOR_NAME="bench",
        MPESA_INITIATOR_PASSWORD="bench-initiator",
        MPESA_CERTIFICATE_PATH=str(SIM_DIR / "simulator-cert.pem"),
        NOTIFICATIONS_BACKEND="console",
        LOG_LEVEL="WARNING",
        PAYOUT_DAILY_LIMIT="100000000",
        PAYOUT_RECIPIENT_DAILY_LIMIT="100000000",
        REDIS_URL=f"redis://127.0.0.1:6379/{CACHE_DB}",
    )
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payouts", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="each worker process runs this many threads (Celery's threads pool); 0: prefork, one task per process",
    )
    parser.add_argument(
        "--group",
        type=int,
        help="payout ids per send message (default: payouts.SENDS_PER_MESSAGE, as an approval of many queues them);"
        " 1: one send_payout message per payout",
    )
    args = parser.parse_args()

    ensure_database()
    manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
    setup_django()
    if args.group is None:
        from payments.payouts.services import SENDS_PER_MESSAGE

        args.group = SENDS_PER_MESSAGE
    import redis

    for db in (CACHE_DB, BROKER_DB):
        redis.Redis.from_url(f"redis://127.0.0.1:6379/{db}").flushdb()
    ids = seed(args.payouts)
    from django.db.models import Count

    from payments.models import Payout

    sim_port, web_port = free_port(), free_port()
    env = app_env(sim_port, web_port)
    SIM_DIR.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []

    def spawn(command: list[str], role: str) -> subprocess.Popen:
        log = open(OUT / f"pipeline-{len(procs)}.log", "w")  # noqa: SIM115 - closed with the process
        # Each role's connections carry its name, so new connections can be told apart (web vs workers).
        role_env = {**env, "DATABASE_URL": f"{env['DATABASE_URL']}?application_name=bench-{role}"}
        proc = subprocess.Popen(
            command, cwd=ROOT, env=role_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        procs.append(proc)
        return proc

    results: dict = {
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "payouts": args.payouts,
        "worker_processes": args.concurrency,
        "threads_per_worker": args.threads or 1,
        "payouts_per_send_message": max(args.group, 1),
    }
    try:
        spawn(
            [
                sys.executable,
                "manage.py",
                "daraja_simulator",
                "--port",
                str(sim_port),
                "--delay",
                "0.05",
                "--key-dir",
                str(SIM_DIR),
            ],
            "simulator",
        )
        wait_port(sim_port)
        spawn(
            [
                str(VENV_BIN / "gunicorn"),
                "mpesa_payouts.wsgi:application",
                "-b",
                f"127.0.0.1:{web_port}",
                "-w",
                "2",
                "--threads",
                "8",
                "-k",
                "gthread",
                "--log-level",
                "warning",
            ],
            "web",
        )
        wait_port(web_port)
        worker_groups = []
        if args.threads:
            # Sending is waiting on Daraja: each process keeps several sends in flight on threads.
            for n in range(args.concurrency):
                pool = ["-P", "threads", "-c", str(args.threads), "-n", f"bench{n}@%h"]
                worker_groups.append(spawn(worker_command(pool), "worker").pid)
        else:
            worker_groups.append(spawn(worker_command(["-P", "prefork", "-c", str(args.concurrency)]), "worker").pid)
        time.sleep(4)

        # Floor: the same workers, a task that only updates one row.
        floor_ids = ids[: min(len(ids), 5000)]
        before = sessions()
        marker = time.time()
        started = time.perf_counter()
        publish("bench.tasks.touch_payout", [(payout_id,) for payout_id in floor_ids])
        from datetime import UTC, datetime

        since = datetime.fromtimestamp(marker, tz=UTC)
        deadline = time.monotonic() + args.timeout
        while Payout.objects.filter(pk__in=floor_ids, updated_at__gte=since).count() < len(floor_ids):
            if time.monotonic() > deadline:
                raise RuntimeError("floor tasks did not finish in time")
            time.sleep(0.25)
        floor_seconds = time.perf_counter() - started
        results["floor"] = {
            "tasks": len(floor_ids),
            "seconds": round(floor_seconds, 2),
            "tasks_per_s": round(len(floor_ids) / floor_seconds, 1),
        }
        print("floor", results["floor"], flush=True)

        before = sessions()
        meter = CpuMeter(
            {"simulator": procs[0].pid, "gunicorn": procs[1].pid}
            | {f"worker {n}": pid for n, pid in enumerate(worker_groups)}
        )
        meter.start()
        phase_start = datetime.now(tz=UTC)
        started = time.perf_counter()
        publish_sends(ids, args.group)
        deadline = time.monotonic() + args.timeout
        done = 0
        while done < len(ids):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
            done = Payout.objects.filter(status__in=["completed", "failed", "needs_review"]).count()
        elapsed = time.perf_counter() - started
        meter.stop()
        new_sessions = sessions() - before
        opened = opened_since(phase_start)
        counts = dict(Payout.objects.values_list("status").annotate(n=Count("id")))
        results["pipeline"] = {
            "settled": done,
            "seconds": round(elapsed, 2),
            "payouts_per_s": round(done / elapsed, 1),
            "statuses": counts,
            "new_db_connections": new_sessions,
            "new_connections_per_1000_tasks": round(new_sessions / (2 * len(ids) / 1000), 2),
            # Opened during the run and still open at its end, by who opened them (gunicorn's are one per
            # thread); "closed again" were opened and closed during the run, by anyone (Celery closes a worker
            # thread's connection every 2 x CELERY_DB_REUSE_MAX tasks of its process).
            "opened_during_run_by_role": {**opened, "closed again": new_sessions - sum(opened.values())},
            # The target's figure, counting every connection not held by gunicorn against the sends.
            "non_web_connections_per_1000_sends": round(
                (new_sessions - opened.get("bench-web", 0)) / (len(ids) / 1000), 2
            ),
            # Where the time went: CPU milliseconds per settled payout, by process.
            "cpu_ms_per_payout": {
                part: round(1000 * seconds / max(done, 1), 2) for part, seconds in meter.seconds().items()
            },
        }
        results["ratio_to_floor"] = round(results["pipeline"]["payouts_per_s"] / results["floor"]["tasks_per_s"], 3)
    finally:
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "payout_pipeline.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
