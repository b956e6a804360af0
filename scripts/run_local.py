#!/usr/bin/env python
"""`make run`: the whole system on one machine, wired together.

Migrates the database, creates demo users and payments, then starts the Daraja simulator, two Celery
workers (payouts; webhooks, notifications and finance jobs), Celery beat, the web server on
http://127.0.0.1:8000/ (the console, the API) and the callbacks service on http://127.0.0.1:8002/callbacks/
(gunicorn on mpesa_payouts/callbacks_wsgi.py: only Safaricom's callbacks, minimal middleware).
A process that exits is started again (after 1 s, doubling to at most 30 s while it keeps exiting at once),
as docker compose's restart policy does; the others keep running.
Ctrl-C stops every process it started.
With nothing configured it runs on SQLite and a broker on disk; DATABASE_URL, CELERY_BROKER_URL and
REDIS_URL from the environment (or .env) are used when set.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
VAR = ROOT / "var"
# The B2C float the simulator holds at its first start; seed_demo makes it the ledger's float too, so the
# first balance query agrees with the books.
DEMO_FLOAT = "1000000.00"

# What a laptop run needs; anything already in the environment (or .env) wins.
LOCAL_DEFAULTS = {
    "DEBUG": "true",
    "MPESA_ENVIRONMENT": "simulator",
    "MPESA_BASE_URL": "http://127.0.0.1:8001",
    "MPESA_CONSUMER_KEY": "local-consumer-key",
    "MPESA_CONSUMER_SECRET": "local-consumer-secret",
    "MPESA_SHORTCODE": "174379",
    "MPESA_PASSKEY": "local-passkey",
    "MPESA_B2C_SHORTCODE": "600992",
    "MPESA_INITIATOR_NAME": "localapi",
    "MPESA_INITIATOR_PASSWORD": "local-initiator-password",
    "MPESA_CERTIFICATE_PATH": str(VAR / "daraja-simulator" / "simulator-cert.pem"),
    # The simulator calls back the callbacks service; the links in messages open the console.
    "CALLBACK_BASE_URL": "http://127.0.0.1:8002",
    "ADMIN_BASE_URL": "http://127.0.0.1:8000",
    # The webhooks' SSRF guard is on everywhere; a receiver on this laptop is listed, nothing else inside is.
    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "NOTIFICATIONS_BACKEND": "console",
    "ADMIN_WHATSAPP_NUMBERS": "254700111222",
    "PAYOUT_SWEEP_INTERVAL_SECONDS": "15",
    "PAYOUT_RESULT_DEADLINE_MINUTES": "1",
    "PAYOUT_STATUS_QUERY_INTERVAL_MINUTES": "1",
    "BALANCE_QUERY_INTERVAL_SECONDS": "120",
    # Money in (docs/money-in.md): the simulator's shortcode is registered for Pull at start; beat pulls often.
    "MPESA_PULL_NOMINATED_NUMBER": "254708374149",
    "MPESA_PULL_INTERVAL_MINUTES": "5",
}


# Printed once everything listens: every demo login seed_demo creates (DEMO_USERS there).
BANNER = (
    "\n  Admin:     http://127.0.0.1:8000/admin/  (requester / approver / approver2 / admin, password demo-pass-123)"
    "\n  API docs:  http://127.0.0.1:8000/api/docs/"
    "\n  Simulator: http://127.0.0.1:8001/simulator/ledger"
    "\n  Callbacks: http://127.0.0.1:8002/callbacks/ (the callbacks service)"
    "\n  Ctrl-C stops everything.\n"
)


def _dotenv() -> dict[str, str]:
    """The settings in .env (Django reads them itself; this script needs a few to start processes)."""
    path = ROOT / ".env"
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip().strip("\"'")
    return found


def _environment(configured: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in LOCAL_DEFAULTS.items():
        if key not in env and key not in configured:
            env[key] = value
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


class Supervised:
    """One process of the run, started again whenever it exits (never while stopping)."""

    MAX_DELAY = 30.0
    STABLE_AFTER = 30.0  # seconds up after which an exit is a fresh failure again (delay back to 1 s)

    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name, self.command, self.env = name, command, env
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.delay = 1.0
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, env=self.env)
        self.started_at = time.monotonic()
        self.restart_at = None

    def poll(self, now: float) -> None:
        """Called every half second: notice an exit, and start the process again when its delay is over."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                print(f"{self.name}: starting again (restart {self.restarts}).", file=sys.stderr, flush=True)
                self.start()
            return
        if self.proc is None or self.proc.poll() is None:
            return
        if now - self.started_at >= self.STABLE_AFTER:
            self.delay = 1.0
        print(
            f"{self.name} exited with code {self.proc.returncode}; starting it again in {self.delay:g} s "
            "(the others keep running).",
            file=sys.stderr,
            flush=True,
        )
        self.restart_at = now + self.delay
        self.delay = min(self.delay * 2, self.MAX_DELAY)


def main() -> int:
    os.chdir(ROOT)
    VAR.mkdir(exist_ok=True)
    dotenv = _dotenv()
    env = _environment(dotenv)
    manage = [PYTHON, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], check=True, env=env)
    subprocess.run([*manage, "seed_demo", "--float", DEMO_FLOAT], check=True, env=env)
    # The demo's history was written as rows, not lived through: the ledger adopts it as a deployment would
    # (docs/ledger.md, "Adopting the ledger on an existing deployment"); a second run posts nothing.
    subprocess.run([*manage, "ledger_backfill"], check=True, env=env, stdout=subprocess.DEVNULL)
    callback_workers = env.get("CALLBACKS_GUNICORN_WORKERS") or dotenv.get("CALLBACKS_GUNICORN_WORKERS") or "2"
    threads = env.get("CELERY_WORKER_THREADS") or dotenv.get("CELERY_WORKER_THREADS") or "8"
    side_threads = env.get("CELERY_SIDE_WORKER_THREADS") or dotenv.get("CELERY_SIDE_WORKER_THREADS") or "4"

    commands = [
        ("simulator", [*manage, "daraja_simulator", "--port", "8001", "--key-dir", str(VAR / "daraja-simulator"),
                       "--ledger", str(VAR / "daraja-simulator" / "ledger.json"), "--float", DEMO_FLOAT]),
        # Threads: each send waits on Daraja (see docker-compose.yml). The first worker takes only the payout
        # queue; webhooks, WhatsApp and finance jobs have their own, so a slow receiver never delays a payout
        # (CELERY_TASK_ROUTES in mpesa_payouts/settings.py).
        ("worker", [str(BIN / "celery"), "-A", "mpesa_payouts", "worker", "-l", "info", "-P", "threads",
                    "--concurrency", threads, "-Q", "celery", "-n", "payouts@%h"]),
        ("worker-side", [str(BIN / "celery"), "-A", "mpesa_payouts", "worker", "-l", "info", "-P", "threads",
                         "--concurrency", side_threads, "-Q", "webhooks,notifications,finance", "-n", "side@%h"]),
        ("beat", [str(BIN / "celery"), "-A", "mpesa_payouts", "beat", "-l", "info",
                  "--schedule", str(VAR / "celerybeat-schedule")]),
        ("web", [*manage, "runserver", "127.0.0.1:8000", "--noreload"]),
        # Safaricom's callbacks apart from the console, as docker compose's `callbacks` service (bench/README.md,
        # "Issue 32"); the web server above still answers the same callback URLs.
        ("callbacks", [str(BIN / "gunicorn"), "mpesa_payouts.callbacks_wsgi:application", "--config",
                       "deploy/gunicorn.conf.py", "--bind", "127.0.0.1:8002", "--workers", callback_workers]),
    ]
    processes = [Supervised(name, command, env) for name, command in commands]

    def stop(*_args) -> None:
        for supervised in reversed(processes):
            supervised.restart_at = None
            if supervised.proc is not None and supervised.proc.poll() is None:
                supervised.proc.terminate()
        deadline = time.monotonic() + 10
        for supervised in processes:
            if supervised.proc is None:
                continue
            try:
                supervised.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                supervised.proc.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        for supervised in processes:
            supervised.start()
            if supervised.name == "simulator" and not _wait_for_port(8001):
                print("The Daraja simulator did not start on 127.0.0.1:8001", file=sys.stderr)
                stop()
                return 1
            if supervised.name == "simulator":
                # Both are harmless to repeat; the simulator forgets them when it restarts (run them again).
                for registration in ("register_c2b_urls", "pull_register"):
                    subprocess.run([*manage, registration], check=False, env=env)
        _wait_for_port(8000)
        _wait_for_port(8002)
        print(BANNER, flush=True)
        while True:
            now = time.monotonic()
            for supervised in processes:
                supervised.poll(now)
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
        return 0


if __name__ == "__main__":
    sys.exit(main())
