"""Shared by the bench scripts: a separate PostgreSQL database, Django pointed at it, small timers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DB", "bench_payouts")
SERVER_URL = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
BENCH_URL = f"{SERVER_URL}/{BENCH_DB}"
OUT = ROOT / "var" / "bench"


def ensure_database() -> None:
    """Create the bench database when missing (never touches any other database)."""
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def django_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=BENCH_URL,
        DJANGO_SETTINGS_MODULE="mpesa_payouts.settings",
        CELERY_BROKER_URL="memory://",
        CONN_MAX_AGE="0",
    )
    return env


def setup_django() -> None:
    os.environ.update(django_env())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def manage(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=django_env(), check=True, **kwargs)


@contextmanager
def timed(label: str, results: dict | None = None):
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    if results is not None:
        results[label] = elapsed
    print(f"{label}: {elapsed:.2f} s", flush=True)


def run_measured(args: list[str], *, timeout: float, stdout=None) -> tuple[float, float, int]:
    """Run a manage.py command as its own process: (wall seconds, peak RSS in MB, exit code). Killed after
    `timeout` seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=django_env(), stdout=stdout, stderr=subprocess.DEVNULL
    )
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > timeout:
            process.kill()
            process.wait()
            raise SystemExit(f"{args[0]} took over {timeout} s: stopped")
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, process.returncode  # ru_maxrss is in KB on Linux


def free_port() -> int:
    """A free TCP port on loopback (benchmarks address only this machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    """Until something listens on loopback `port`; RuntimeError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port}")


def seed_approved(count: int, *, phone, requester, approver) -> list:
    """`count` approved KES 100 disbursements, each with one approval bound to it; the created payouts.
    `phone(i)` gives each number; one ending in 000-099 (the simulator's scenario table) ends in 555 instead,
    a plain success. Call after setup_django()."""
    from payments.callbacks.tokens import payout_token
    from payments.models import Payout, PayoutApproval, new_originator_conversation_id

    payouts = []
    for i in range(count):
        ocid = new_originator_conversation_id()
        number = phone(i)
        if number[-3:] < "100":
            number = number[:-3] + "555"
        payouts.append(
            Payout(
                kind="disbursement",
                status="approved",
                phone=number,
                amount=100,
                remarks="Bench",
                requested_by=requester,
                originator_conversation_id=ocid,
                callback_token=payout_token(ocid),
            )
        )
    created = Payout.objects.bulk_create(payouts, batch_size=2000)
    PayoutApproval.objects.bulk_create(
        [
            PayoutApproval(
                payout=p,
                approver=approver,
                requested_by=requester,
                amount=p.amount,
                phone=p.phone,
                command_id=p.command_id,
            )
            for p in created
        ],
        batch_size=2000,
    )
    return created
