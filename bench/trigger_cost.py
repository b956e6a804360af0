#!/usr/bin/env python
"""Issue 32: what each PostgreSQL trigger function costs per B2C result, read from pg_stat_user_functions.

    .venv/bin/python bench/trigger_cost.py [--payouts 2000]

Sets track_functions = 'pl' on the `bench_callbacks` database only (ALTER DATABASE ... SET, reset at the end),
seeds `submitted` payouts, starts the callbacks service (mpesa_payouts.callbacks_wsgi, 2 workers x 4 threads),
resets the database's statistics, posts --payouts first results and then the same results again (duplicates),
stops the server (its sessions flush their counters) and prints, per function: calls, calls per result, total
and self time per call and per result. Each phase is bounded in requests and seconds. Results go to
var/bench/trigger_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DB", "bench_callbacks")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DB, OUT, ROOT, SERVER_URL, ensure_database, free_port, manage, setup_django  # noqa: E402
from callback_intake import BROKER, bodies, seed  # noqa: E402
from loadgen import run_closed  # noqa: E402
from peer_side_by_side import our_command, our_env, start, stop  # noqa: E402

FUNCTIONS = """
    SELECT funcname, calls, total_time, self_time FROM pg_stat_user_functions ORDER BY self_time DESC
"""


def read_functions() -> dict[str, dict[str, float]]:
    import psycopg

    # The counters of the server's sessions are flushed when they end; give the stats system a moment.
    time.sleep(1.5)
    with psycopg.connect(f"{SERVER_URL}/{BENCH_DB}", autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute(FUNCTIONS).fetchall()
    return {name: {"calls": calls, "total_ms": total, "self_ms": own} for name, calls, total, own in rows}


def set_tracking(on: bool) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/{BENCH_DB}", autocommit=True) as conn:
        if on:
            conn.execute(f"ALTER DATABASE \"{BENCH_DB}\" SET track_functions = 'pl'")
        else:
            conn.execute(f'ALTER DATABASE "{BENCH_DB}" RESET track_functions')


def reset_stats() -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/{BENCH_DB}", autocommit=True) as conn:
        conn.execute("SELECT pg_stat_reset()")


def phase(name: str, requests: list, count: int) -> dict:
    """One server for one phase, so its sessions end (and flush) before the counters are read."""
    reset_stats()
    port = free_port()
    server = start(our_command("mpesa_payouts.callbacks_wsgi", port), our_env("ours"), ROOT, port)
    try:
        result = run_closed("127.0.0.1", port, requests, 16, max_seconds=120)
    finally:
        stop(server)
    functions = read_functions()
    print(f"{name}: {result.summary()['req_per_s']} req/s {result.summary()['statuses']}")
    table = {}
    for function, row in functions.items():
        table[function] = {
            "calls": row["calls"],
            "calls_per_result": round(row["calls"] / count, 2),
            "self_us_per_call": round(1000 * row["self_ms"] / row["calls"], 1) if row["calls"] else 0,
            "self_us_per_result": round(1000 * row["self_ms"] / count, 1),
            "total_us_per_result": round(1000 * row["total_ms"] / count, 1),
        }
        print(f"  {function:32} {table[function]}")
    return {"summary": result.summary(), "functions": table}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payouts", type=int, default=2000)
    args = parser.parse_args()
    ensure_database()
    manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
    setup_django()
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    first = bodies(seed(args.payouts))
    set_tracking(True)
    try:
        results = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "payouts": args.payouts,
            "first_results": phase("first results", first, args.payouts),
            "duplicates": phase("duplicates", first, args.payouts),
        }
    finally:
        set_tracking(False)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "trigger_cost.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
