#!/usr/bin/env python
"""Callback intake under gunicorn on PostgreSQL, against the floor of a bare view in the same server.

    .venv/bin/python bench/callback_intake.py [--payouts 3000] [--concurrency 16] [--rate 200]

Seeds `submitted` payouts in the `bench_callbacks` database, starts gunicorn (--workers 2 x --threads 4, the
app's own settings, notifications queued to Redis db 12), and drives it from this process over loopback:
1. closed loop: the floor view (one INSERT), first B2C results (stored raw, payout settled, event written,
   notification queued), and the same results again (duplicates), taking turns in --rounds slices (4) so that
   the machine's drift during the run weighs on all three alike;
2. open loop at --rate requests/s for 10 s of fresh first results: latency percentiles.
Every phase is bounded in requests and seconds. Results go to var/bench/callback_intake.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DB", "bench_callbacks")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, ROOT, django_env, ensure_database, free_port, manage, setup_django  # noqa: E402
from cpu import CpuMeter  # noqa: E402
from loadgen import Result, run_closed, run_open  # noqa: E402

BROKER = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_BROKER_DB', '12')}"


def seed(count: int) -> list:
    from django.db import connection

    from payments.callbacks.tokens import payout_token
    from payments.models import Payout, new_originator_conversation_id
    from tests.factories import make_requester

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE payments_auditevent, payments_darajacallback, payments_floatbalance, payments_payoutapproval,"
            " payments_payout, notifications_notification CASCADE"
        )
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username="bench").first() or make_requester("bench")
    payouts = []
    for _ in range(count):
        ocid = new_originator_conversation_id()
        payouts.append(
            Payout(
                kind="disbursement",
                status="submitted",
                phone="254705912645",
                amount=10,
                remarks="Bench",
                requested_by=user,
                originator_conversation_id=ocid,
                callback_token=payout_token(ocid),
                conversation_id="AG_bench",
            )
        )
    return Payout.objects.bulk_create(payouts, batch_size=2000)


def bodies(payouts, start: int = 0) -> list[tuple[str, bytes]]:
    from tests.factories import sample

    template = sample("b2c_result_success")
    out = []
    for i, payout in enumerate(payouts):
        body = json.loads(json.dumps(template))
        body["Result"]["OriginatorConversationID"] = payout.originator_conversation_id
        receipt = f"BN{start + i:08d}"
        body["Result"]["TransactionID"] = receipt
        for item in body["Result"]["ResultParameters"]["ResultParameter"]:
            if item["Key"] == "TransactionReceipt":
                item["Value"] = receipt
        out.append((f"/callbacks/b2c/result/{payout.callback_token}/", json.dumps(body).encode()))
    return out


def slices(count: int, rounds: int) -> list[slice]:
    """`count` requests cut into `rounds` consecutive slices of (nearly) equal size."""
    rounds = max(1, min(rounds, count))
    edges = [count * n // rounds for n in range(rounds + 1)]
    return [slice(start, end) for start, end in zip(edges, edges[1:], strict=False)]


def start_gunicorn(port: int, workers: int = 2, threads: int = 4) -> subprocess.Popen:
    env = django_env()
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        CALLBACK_ALLOWED_IPS="127.0.0.1",
        CONN_MAX_AGE="600",
        CELERY_BROKER_URL=BROKER,
        NOTIFICATIONS_BACKEND="console",
        ADMIN_WHATSAPP_NUMBERS="254700111222",
        LOG_LEVEL="WARNING",
        DEBUG="false",
    )
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "mpesa_payouts.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-k",
            "gthread",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payouts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--open-seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=4, help="slices the closed-loop phases take turns in")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()

    ensure_database()
    manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
    setup_django()
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    open_count = int(args.rate * args.open_seconds)
    payouts = seed(args.payouts + open_count)
    first = bodies(payouts[: args.payouts])
    later = bodies(payouts[args.payouts :], start=args.payouts)
    floor = [("/bench/floor/", body) for _, body in first]

    port = free_port()
    server = start_gunicorn(port, args.workers, args.threads)
    results = {
        "machine": f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "payouts": args.payouts,
        "concurrency": args.concurrency,
        "gunicorn": f"{args.workers} workers x {args.threads} threads",
    }
    try:
        run_closed("127.0.0.1", port, floor[:500], args.concurrency)  # warm up connections and imports
        # The phases take turns in --rounds slices (floor, first results, the same results again, then the
        # next slice), so a drift of the shared machine falls on every phase alike instead of on one of them.
        phases = {"floor": floor, "first_results": first, "duplicates": first}
        merged = {name: Result() for name in phases}
        cpu: dict[str, dict[str, float]] = {name: {} for name in phases}
        for slice_ in slices(len(first), args.rounds):
            for name, requests in phases.items():
                meter = CpuMeter({"gunicorn": server.pid})
                meter.start()
                part = run_closed("127.0.0.1", port, requests[slice_], args.concurrency)
                meter.stop()
                merged[name].add(part)
                for where, seconds in meter.seconds().items():
                    cpu[name][where] = cpu[name].get(where, 0.0) + seconds
        for name, result in merged.items():
            results[name] = result.summary()
            # Where the time went: CPU milliseconds per request, by process.
            results[name]["cpu_ms_per_request"] = {
                part: round(1000 * seconds / result.count, 2) for part, seconds in sorted(cpu[name].items())
            }
            print(name, results[name], flush=True)
        results["open_loop"] = run_open(
            "127.0.0.1", port, later, rate=args.rate, max_seconds=args.open_seconds
        ).summary()
        results["open_loop"]["rate"] = args.rate
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    from payments.models import AuditEvent, Payout

    completed = Payout.objects.filter(status="completed").count()
    results["check"] = {
        "completed_payouts": completed,
        "expected": len(payouts),
        "events": AuditEvent.objects.count(),
    }
    from notifications.models import Notification

    results["check"]["notifications"] = Notification.objects.count()
    results["ratio_first_to_floor"] = round(results["first_results"]["req_per_s"] / results["floor"]["req_per_s"], 3)
    results["ratio_duplicates_to_floor"] = round(results["duplicates"]["req_per_s"] / results["floor"]["req_per_s"], 3)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "callback_intake.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
