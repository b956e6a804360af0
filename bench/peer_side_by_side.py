#!/usr/bin/env python
"""Issue 32: our callback intake against mainfinity-django-mpesa 0.1.1 (the peer), side by side, one sitting.

    .venv/bin/python bench/peer_side_by_side.py [--payouts 3000] [--rounds 4] [--rate 150] [--no-console]

From a clean clone (after `make migrate`'s virtualenv exists): installs the peer from PyPI into
var/bench/peer/venv (bench/peer_project.py; once), builds its documented project (USE_CELERY=False, its IP
middleware) on the `bench_peer` database, seeds PENDING transactions there and `submitted` payouts in
`bench_callbacks`, and starts three servers on 127.0.0.1:
  ours      mpesa_payouts.callbacks_wsgi (the callbacks service: minimal middleware), 2 workers x 4 threads
  console   mpesa_payouts.wsgi (the console's entry, every middleware), 2 workers x 4 threads  [--no-console]
  peer      peer.wsgi, 2 sync workers (as the issue measured it)
The same load generator (bench/loadgen.py) drives them in alternating rounds: per round and phase (floor:
one INSERT; first B2C results; the same results again) each server in turn, so the shared machine's drift
falls on all alike. Then an open loop at --rate first results/s for --open-seconds each. Every phase is bounded
in requests and seconds; the servers are stopped at the end. Figures and ratios are printed and written to
var/bench/peer_side_by_side.json.
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

os.environ.setdefault("BENCH_DB", "bench_callbacks")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_project  # noqa: E402
from _common import OUT, ROOT, django_env, ensure_database, free_port, manage, setup_django, wait_port  # noqa: E402
from callback_intake import BROKER, bodies, seed, slices  # noqa: E402
from cpu import CpuMeter  # noqa: E402
from loadgen import Result, run_closed, run_open  # noqa: E402

PEER_DB = "bench_peer"
PHASES = ("floor", "first_results", "duplicates")


def our_env(entry: str) -> dict[str, str]:
    env = django_env()
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        CALLBACKS_SETTINGS_MODULE="bench.settings_callbacks",
        CALLBACK_ALLOWED_IPS="127.0.0.1",
        CONN_MAX_AGE="600",
        CELERY_BROKER_URL=BROKER,
        NOTIFICATIONS_BACKEND="console",
        ADMIN_WHATSAPP_NUMBERS="254700111222",
        LOG_LEVEL="WARNING",
        DEBUG="false",
    )
    return env


def our_command(module: str, port: int, workers: int = 2, threads: int = 4) -> list[str]:
    return [str(Path(sys.executable).parent / "gunicorn"), f"{module}:application", "-b", f"127.0.0.1:{port}",
            "-w", str(workers), "--threads", str(threads), "-k", "gthread", "--log-level", "warning"]  # fmt: skip


def start(command: list[str], env: dict[str, str], cwd: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        wait_port(port)
    except Exception:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def peer_bodies(start_at: int, count: int) -> list[tuple[str, bytes]]:
    """The same documented B2C success result, matched by the peer on its ConversationID."""
    from tests.factories import sample

    out = []
    for i in range(start_at, start_at + count):
        body = sample("b2c_result_success")
        body["Result"]["ConversationID"] = f"AG_PEER_{i:08d}"
        body["Result"]["TransactionID"] = f"PR{i:08d}"
        for item in body["Result"]["ResultParameters"]["ResultParameter"]:
            if item["Key"] == "TransactionReceipt":
                item["Value"] = f"PR{i:08d}"
        out.append(("/mpesa/b2c/result/", json.dumps(body).encode()))
    return out


def workloads(args, open_count: int) -> dict[str, dict[str, list]]:
    """Per server: its requests for each closed-loop phase and for the open loop."""
    ours_names = ["ours", "console"] if args.console else ["ours"]
    per = args.payouts + open_count
    payouts = seed(per * len(ours_names))
    peer_project.seed(per)
    loads = {}
    for n, name in enumerate(ours_names):
        mine = payouts[n * per : (n + 1) * per]
        first = bodies(mine[: args.payouts], start=n * per)
        fresh = bodies(mine[args.payouts :], start=n * per + args.payouts)
        loads[name] = {"floor": [("/bench/floor/", b) for _, b in first], "first_results": first,
                       "duplicates": first, "open": fresh}  # fmt: skip
    first = peer_bodies(0, args.payouts)
    loads["peer"] = {"floor": [("/bench/floor/", b) for _, b in first], "first_results": first,
                     "duplicates": first, "open": peer_bodies(args.payouts, open_count)}  # fmt: skip
    return loads


def measure(args, servers: dict, loads: dict) -> dict:
    merged = {name: {phase: Result() for phase in PHASES} for name in servers}
    cpu = {name: {phase: {} for phase in PHASES} for name in servers}
    rounds: list[dict] = []
    order = list(servers)
    for round_no, part in enumerate(slices(args.payouts, args.rounds)):
        turn = order[round_no % len(order) :] + order[: round_no % len(order)]  # who goes first rotates
        rounds.append({})
        for phase in PHASES:
            for name in turn:
                meter = CpuMeter({"server": servers[name][0].pid})
                meter.start()
                result = run_closed("127.0.0.1", servers[name][1], loads[name][phase][part], 16)
                meter.stop()
                merged[name][phase].add(result)
                rounds[-1][f"{name} {phase}"] = round(result.throughput, 1)
                for where, seconds in meter.seconds().items():
                    cpu[name][phase][where] = cpu[name][phase].get(where, 0.0) + seconds
        print(f"round {round_no + 1} (req/s): " + ", ".join(f"{k} {v}" for k, v in rounds[-1].items()), flush=True)
    figures = {}
    for name in servers:
        figures[name] = {}
        for phase, result in merged[name].items():
            summary = result.summary()
            summary["cpu_ms_per_request"] = {w: round(1000 * s / result.count, 2) for w, s in cpu[name][phase].items()}
            figures[name][phase] = summary
    figures["rounds"] = rounds
    for name in reversed(order):  # the open loops in the other order
        try:
            result = run_open("127.0.0.1", servers[name][1], loads[name]["open"], rate=args.rate,
                              max_seconds=args.open_seconds)  # fmt: skip
        except TimeoutError:  # the backlog was not answered within open-seconds + 30 s: the server fell behind
            figures[name]["open_loop"] = {"rate": args.rate, "req_per_s": 0, "p50_ms": 0, "p99_ms": 0,
                                          "statuses": {"unanswered after 30 s": 1}}  # fmt: skip
            continue
        figures[name]["open_loop"] = {**result.summary(), "rate": args.rate}
    return figures


def ratios(figures: dict) -> dict:
    out = {}
    for name in figures:
        if name in ("peer", "rounds"):
            continue
        for phase in PHASES:
            theirs = figures["peer"][phase]["req_per_s"]
            out[f"{name}/peer {phase}"] = round(figures[name][phase]["req_per_s"] / theirs, 3) if theirs else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payouts", type=int, default=3000, help="requests per closed-loop phase and server")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds the closed-loop phases take")
    parser.add_argument("--rate", type=float, default=150, help="open loop: first results per second")
    parser.add_argument("--open-seconds", type=float, default=10)
    parser.add_argument("--no-console", dest="console", action="store_false", help="leave out the console entry")
    parser.add_argument("--workers", type=int, default=2, help="our servers' gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="our servers' threads per worker")
    args = parser.parse_args()

    peer_project.install()
    peer_project.build(PEER_DB)
    ensure_database()
    manage("migrate", "--noinput", stdout=subprocess.DEVNULL)
    setup_django()
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    loads = workloads(args, int(args.rate * args.open_seconds))
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for name, module in (("ours", "mpesa_payouts.callbacks_wsgi"), ("console", "mpesa_payouts.wsgi")):
            if name in loads:
                port = free_port()
                command = our_command(module, port, args.workers, args.threads)
                servers[name] = (start(command, our_env(name), ROOT, port), port)
        port = free_port()
        peer = start(peer_project.gunicorn_command(port, 2), peer_project._env(), peer_project.PROJECT, port)
        servers["peer"] = (peer, port)
        for name, (_, port) in servers.items():  # warm up: connections, imports, prepared statements
            run_closed("127.0.0.1", port, loads[name]["floor"][:300], 16)
        figures = measure(args, servers, loads)
    finally:
        for proc, _ in servers.values():
            stop(proc)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{os.cpu_count()} cores",
               "payouts": args.payouts, "rounds": args.rounds,
               "ours": f"{args.workers} workers x {args.threads} threads", "figures": figures,
               "ratios": ratios(figures)}  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "peer_side_by_side.json").write_text(json.dumps(results, indent=2))
    figures.pop("rounds")  # printed as they ended, kept in the JSON
    for name, phases in figures.items():
        for phase, summary in phases.items():
            print(f"{name:8} {phase:14} {summary['req_per_s']:8.1f} req/s  p50 {summary['p50_ms']:7.2f} ms  "
                  f"p99 {summary['p99_ms']:8.2f} ms  {summary['statuses']}  "
                  f"CPU ms/request {summary.get('cpu_ms_per_request', '')}")  # fmt: skip
    for label, value in results["ratios"].items():
        print(f"{label:32} {value}")


if __name__ == "__main__":
    main()
