#!/usr/bin/env python
"""Instructions the app's Python process executes per first B2C result, counted by valgrind's callgrind: a
figure that the machine's speed and load do not move. (On the shared 2-core machines these benchmarks run
on, the CPU milliseconds of callback_intake.py vary by a fifth from one minute to the next for the same code,
which hides any change smaller than that.) PostgreSQL's own work is not counted: it runs in its processes.

    .venv/bin/python bench/callback_instructions.py [--results 100] [--warmup 30]

Seeds `submitted` payouts in `bench_callbacks` (as callback_intake.py), then runs one process twice under
`valgrind --tool=callgrind`, posting first results in-process through Django's test client (the app's
settings, notifications queued to Redis db 12): once `--warmup` results, once `--warmup` + `--results`
results (other payouts). The difference over `--results` is the cost of one result with start-up, imports and
warm-up taken out. Also counts the floor view (`bench/urls.py`: one INSERT) the same way. Bounded: each
process has a timeout. Results go to var/bench/callback_instructions.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_DB", "bench_callbacks")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, ROOT, django_env, ensure_database, manage, setup_django  # noqa: E402

BROKER = "redis://127.0.0.1:6379/12"
APP_ENV = {
    # The callbacks service's settings (its minimal middleware) and the floor view.
    "DJANGO_SETTINGS_MODULE": "bench.settings_callbacks",
    "CALLBACK_ALLOWED_IPS": "127.0.0.1",
    "CELERY_BROKER_URL": BROKER,
    "NOTIFICATIONS_BACKEND": "console",
    "ADMIN_WHATSAPP_NUMBERS": "254700111222",
    "LOG_LEVEL": "WARNING",
    "DEBUG": "false",
    "CONN_MAX_AGE": "600",
}
CHILD_TIMEOUT = 1800


def post_all(requests: list[list[str]]) -> None:
    """The child: post each (path, body) and insist on a 200."""
    # django_env() names the console's settings and another broker: APP_ENV wins over it.
    os.environ.update({**django_env(), **APP_ENV})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test import Client

    client = Client(REMOTE_ADDR="127.0.0.1")
    for path, body in requests:
        response = client.post(path, body.encode(), content_type="application/json")
        assert response.status_code == 200, response.content


def counted(requests: list[tuple[str, bytes]], label: str) -> int:
    """Instructions (callgrind's Ir) of one process posting `requests`."""
    OUT.mkdir(parents=True, exist_ok=True)
    todo = OUT / f"instructions-{label}.json"
    todo.write_text(json.dumps([[path, body.decode()] for path, body in requests]))
    out = OUT / f"callgrind-{label}.out"
    env = {**django_env(), **APP_ENV}
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__, "--child", str(todo)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=CHILD_TIMEOUT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    total = int(re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE).group(1))
    out.unlink()
    todo.unlink()
    return total


def per_request(name: str, warm: list, measured: list, other_warm: list | None = None) -> float:
    """One run posts `warm`, the other `other_warm` (as many requests; `warm` again by default) then
    `measured`: the difference per measured request."""
    base = counted(warm, f"{name}-warmup")
    both = counted((other_warm or warm) + measured, f"{name}-all")
    return (both - base) / len(measured)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="count first results only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        post_all(json.loads(Path(args.child).read_text()))
        return

    ensure_database()
    manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
    setup_django()
    import redis
    from callback_intake import bodies, seed

    redis.Redis.from_url(BROKER).flushdb()
    # Each run settles payouts of its own: a result for a settled payout would be a duplicate.
    payouts = seed(2 * args.warmup + args.results)
    warm_a = bodies(payouts[: args.warmup])
    warm_b = bodies(payouts[args.warmup : 2 * args.warmup], start=args.warmup)
    measured = bodies(payouts[2 * args.warmup :], start=2 * args.warmup)
    started = time.monotonic()
    # Each run warms on payouts of its own: the same amount of warming in both.
    first = per_request("first", warm_a, measured, other_warm=warm_b)
    print(f"instructions per first result: {first:,.0f}", flush=True)
    floor = (
        per_request(
            "floor", [("/bench/floor/", body) for _, body in warm_a], [("/bench/floor/", body) for _, body in measured]
        )
        if args.floor
        else 0
    )
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "results": args.results,
        "warmup": args.warmup,
        "instructions_per_first_result": round(first),
        "instructions_per_floor_request": round(floor),
        "seconds": round(time.monotonic() - started, 1),
    }
    results["floor_to_first"] = round(floor / first, 3)
    (OUT / "callback_instructions.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
