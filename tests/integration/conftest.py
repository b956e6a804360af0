"""Fixtures for tests that run the system for real: the Daraja simulator over HTTP, the live Django server
receiving its callbacks, Redis as the Celery broker and real `celery worker` processes.

Reusable pieces (end-to-end tests are meant to build on them):

- `wait_until(predicate, timeout)`: poll until something is true; every wait in these tests is bounded.
- `simulator`: a running in-process `SimulatorServer` (fresh ledger per test, strict about the consumer key,
  secret and initiator password), wrapped in `RunningSimulator`, which also knows the settings (Django) and
  environment (subprocesses) that point the app at it. Override the `simulator_settings` fixture in a module
  to change its behaviour (delay, slow_seconds, ...).
- `callback_base_url`: pytest-django's `live_server` (a real HTTP server thread on the test database) as a
  CALLBACK_BASE_URL the simulator can post to. Using it makes the test transactional.
- `live_daraja`: this process's settings pointed at the simulator, with callbacks going to the live server and
  127.0.0.1 allowed to post them. Call services (`payout_send`, `payout_query_status`) directly after it.
- `approved_payout(...)`: an approved payout with an approval bound to it, ready for `payout_send`.
- `redis_broker_url`: redis://127.0.0.1:6379/<INTEGRATION_REDIS_DB, default 13>, flushed (that DB only)
  before and after the test, held under a machine-wide file lock so concurrent test runs take turns. Never
  touch the machine's other Redis databases.
- `subprocess_database_url()`: the test database as a DATABASE_URL for a subprocess (PostgreSQL only).
- `publish_tasks(broker_url, name, argsets)`: publish tasks to that broker from the test, as the app would.
- `worker_environment(...)`: the environment a `celery -A mpesa_payouts worker` needs to work on the test
  database, the Redis broker, the simulator and the live server.
- `celery_worker_process`: a factory that starts workers in their own process groups and kills every one
  of them when the test ends, whatever happened.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings

from daraja_simulator import SimulatorKeys, SimulatorServer, SimulatorSettings
from payments.models import Payout, PayoutStatus
from tests.factories import make_approver, make_payout, make_requester

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION_REDIS_DB = int(os.environ.get("INTEGRATION_REDIS_DB", "13"))

# What the simulator insists on, so a wrong wiring fails here the way it would at Safaricom.
SIM_CONSUMER_KEY = "integration-consumer-key"
SIM_CONSUMER_SECRET = "integration-consumer-secret"
SIM_INITIATOR_PASSWORD = "Integration-Initiator-Pass1!"
SIM_B2C_SHORTCODE = "600992"
SIM_INITIATOR_NAME = "integration"

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, *, interval: float = 0.05, message: str = "") -> T:
    """Call `predicate` until it returns something truthy and return that; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {message or predicate.__name__}")
        time.sleep(interval)


# --- The simulator -------------------------------------------------------------------------------------------


@dataclass
class RunningSimulator:
    """A started SimulatorServer and how to point the app (this process or a subprocess) at it."""

    server: SimulatorServer
    certificate_path: Path

    @property
    def url(self) -> str:
        return self.server.url

    def django_settings(self) -> dict[str, Any]:
        """The MPESA_* settings that make `payments.daraja_client.daraja_client()` talk to this simulator.
        The SecurityCredential is computed by the app itself from the certificate and password."""
        return {
            "MPESA_ENVIRONMENT": "simulator",
            "MPESA_BASE_URL": self.server.url,
            "MPESA_CONSUMER_KEY": SIM_CONSUMER_KEY,
            "MPESA_CONSUMER_SECRET": SIM_CONSUMER_SECRET,
            "MPESA_B2C_CONSUMER_KEY": SIM_CONSUMER_KEY,
            "MPESA_B2C_CONSUMER_SECRET": SIM_CONSUMER_SECRET,
            "MPESA_SHORTCODE": "174379",
            "MPESA_PASSKEY": "integration-passkey",
            "MPESA_B2C_SHORTCODE": SIM_B2C_SHORTCODE,
            "MPESA_INITIATOR_NAME": SIM_INITIATOR_NAME,
            "MPESA_INITIATOR_PASSWORD": SIM_INITIATOR_PASSWORD,
            "MPESA_CERTIFICATE_PATH": str(self.certificate_path),
            "MPESA_SECURITY_CREDENTIAL": "",
            "MPESA_CONNECT_TIMEOUT": 2.0,
            "MPESA_READ_TIMEOUT": 10.0,
        }

    def environment(self) -> dict[str, str]:
        """The same, as environment variables for a subprocess."""
        return {name: str(value) for name, value in self.django_settings().items()}

    # The ledger: what "M-Pesa" received and paid, the truth every assertion is checked against.

    def ledger(self) -> dict[str, Any]:
        return self.server.ledger.snapshot()

    def payment_count(self) -> int:
        """How many B2C requests the simulator took in (cheap enough to poll)."""
        with self.server.ledger.lock:
            return len(self.server.ledger.payments)

    def payments_for(self, originator_conversation_id: str) -> list[dict[str, Any]]:
        return [p for p in self.ledger()["payments"] if p["originator_conversation_id"] == originator_conversation_id]

    def assert_nothing_paid_twice(self) -> dict[str, Any]:
        """No OriginatorConversationID was taken in (let alone paid) twice. Returns the ledger."""
        ledger = self.ledger()
        assert ledger["paid_more_than_once"] == []
        repeated = [
            ocid for ocid, n in Counter(p["originator_conversation_id"] for p in ledger["payments"]).items() if n > 1
        ]
        assert repeated == [], f"OriginatorConversationIDs in the ledger more than once: {repeated}"
        return ledger


@pytest.fixture(scope="session")
def simulator_keys() -> SimulatorKeys:
    return SimulatorKeys.generate()  # RSA key generation is the slow part: once per session


@pytest.fixture
def simulator_settings() -> SimulatorSettings:
    """Fast callbacks, a strict consumer key/secret and initiator password, and a short slow answer (040).
    Override this fixture in a test module to change any of it."""
    return SimulatorSettings(
        delay=0.05,
        credentials=((SIM_CONSUMER_KEY, SIM_CONSUMER_SECRET),),
        initiator_password=SIM_INITIATOR_PASSWORD,
        slow_seconds=1.5,
        callback_timeout=10.0,
    )


@pytest.fixture
def simulator(
    simulator_keys: SimulatorKeys, simulator_settings: SimulatorSettings, tmp_path: Path
) -> Iterator[RunningSimulator]:
    """A Daraja simulator on a free port, with an empty ledger; stopped (pending callbacks cancelled) after."""
    with SimulatorServer(port=0, settings=simulator_settings, keys=simulator_keys) as server:
        certificate = server.write_certificate(tmp_path / "simulator-cert.pem")
        yield RunningSimulator(server=server, certificate_path=certificate)


@pytest.fixture
def callback_base_url(live_server) -> str:
    """The live server's URL, by IP: callbacks come from 127.0.0.1, as the allow-list will expect."""
    return live_server.url.replace("://localhost", "://127.0.0.1")


@pytest.fixture
def live_daraja(settings, simulator: RunningSimulator, callback_base_url: str) -> RunningSimulator:
    """This process's settings pointed at `simulator`, whose callbacks reach the live server (and are let in)."""
    for name, value in simulator.django_settings().items():
        setattr(settings, name, value)
    settings.CALLBACK_BASE_URL = callback_base_url
    settings.CALLBACK_ALLOWED_IPS = ["127.0.0.1", "::1"]
    settings.CALLBACK_TRUSTED_PROXY_COUNT = 0
    settings.PAYOUTS_PAUSED = False
    return simulator


def approved_payout(
    *, phone: str, amount: Decimal = Decimal("100.00"), requested_by=None, approver=None, **fields: Any
) -> Payout:
    """An `approved` payout with one active approval bound to its amount, phone and CommandID."""
    payout = make_payout(
        status=PayoutStatus.APPROVED,
        phone=phone,
        amount=amount,
        requested_by=requested_by or make_requester(),
        **fields,
    )
    payout.approvals.create(
        approver=approver or make_approver(),
        requested_by=payout.requested_by,
        amount=payout.amount,
        phone=payout.phone,
        command_id=payout.command_id,
    )
    return payout


# --- Redis, the database, and worker processes ----------------------------------------------------------------


@contextmanager
def _machine_wide_lock(name: str, timeout: float) -> Iterator[None]:
    """An exclusive lock shared by every test run on this machine (released if the holder dies)."""
    path = Path(tempfile.gettempdir()) / f"mpesa_payouts-{name}.lock"
    with path.open("a") as handle:

        def acquired() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        wait_until(acquired, timeout, interval=0.5, message=f"{path} (held by another test run)")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def redis_broker_url() -> Iterator[str]:
    """A Redis database of its own for the broker (and the workers' cache), emptied before and after.

    Several test runs can share this machine (and this test suite): they take turns on the database through a
    file lock, so one run's flush or worker never eats another run's messages.
    """
    import redis

    url = f"redis://127.0.0.1:6379/{INTEGRATION_REDIS_DB}"
    with _machine_wide_lock(f"redis-db{INTEGRATION_REDIS_DB}", timeout=300):
        client = redis.Redis.from_url(url)
        client.flushdb()  # this database only: other databases on the machine's Redis are not ours
        try:
            yield url
        finally:
            client.flushdb()
            client.close()


def subprocess_database_url() -> str:
    """The test database (created by pytest-django) as a DATABASE_URL a worker subprocess can use."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("worker subprocesses need the test database on PostgreSQL")
    s = connection.settings_dict
    credentials = quote(s["USER"] or "postgres")
    if s.get("PASSWORD"):
        credentials += ":" + quote(s["PASSWORD"])
    return f"postgres://{credentials}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def worker_environment(
    *,
    simulator: RunningSimulator,
    broker_url: str,
    callback_base_url: str,
    visibility_timeout: int = 5,
    **extra: str,
) -> dict[str, str]:
    """What a worker needs to send payouts from the test database to the simulator.

    A small CELERY_VISIBILITY_TIMEOUT makes the tasks a killed worker had taken visible again soon: a worker
    started that many seconds after the kill puts them back on the queue as it starts.
    """
    env = dict(os.environ)
    env.update(simulator.environment())
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mpesa_payouts.settings",
            "DATABASE_URL": subprocess_database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            # The OAuth token is shared through the cache; keep it in the broker's database, not in var/.
            "REDIS_URL": broker_url,
            "CALLBACK_BASE_URL": callback_base_url,
            "CALLBACK_ALLOWED_IPS": "127.0.0.1",
            # The SSRF guard is on everywhere: the tests' webhook receivers listen on loopback.
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECRET_KEY": django_settings.SECRET_KEY,
            "CALLBACK_TOKEN_SECRET": django_settings.CALLBACK_TOKEN_SECRET,
            "NOTIFICATIONS_BACKEND": "console",
            "PAYOUTS_PAUSED": "false",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def publish_tasks(broker_url: str, name: str, argsets: Iterable[tuple[Any, ...]]) -> int:
    """Publish task `name` once per argument tuple to `broker_url`, as the app would; returns the count.

    A Celery app of its own, given the URL explicitly: Celery lets the CELERY_BROKER_URL environment variable
    (memory:// in the test settings) win over a `broker=` argument, so `Celery(broker=url)` alone would
    publish into this process's memory.
    """
    from celery import Celery

    publisher = Celery("integration-publisher", broker=broker_url, set_as_current=False)
    count = 0
    try:
        with publisher.connection_for_write(url=broker_url) as connection:
            for args in argsets:
                publisher.send_task(name, args=list(args), connection=connection)
                count += 1
    finally:
        publisher.close()
    return count


class WorkerProcess:
    """A `celery worker` in a process group of its own (the pool's children included)."""

    def __init__(self, popen: subprocess.Popen, log_path: Path, name: str) -> None:
        self.popen = popen
        self.log_path = log_path
        self.name = name

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> WorkerProcess:
        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"worker {self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
            return " ready." in self.log()

        wait_until(ready, timeout, interval=0.1, message=f"worker {self.name} to be ready")
        return self

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.popen.pid, signum)  # start_new_session: the group id is the worker's pid
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: no warm shutdown, no acknowledgement."""
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._signal_group(signal.SIGKILL)  # a pool child may still be exiting

    def stop(self, timeout: float = 10.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL whatever is left after `timeout`."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def payout_queue() -> str:
    return django_settings.CELERY_TASK_DEFAULT_QUEUE


def side_queues() -> str:
    """The queues CELERY_TASK_ROUTES sends tasks to (webhooks, notifications, finance): `worker-side`'s."""
    return ",".join(sorted({route["queue"] for route in django_settings.CELERY_TASK_ROUTES.values()}))


def all_queues() -> str:
    """Every queue: one worker that stands for both of a deployment's (tests that are not about the split)."""
    return f"{payout_queue()},{side_queues()}"


@pytest.fixture
def celery_worker_process(tmp_path: Path, redis_broker_url: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `celery -A mpesa_payouts worker` processes; every one is stopped when the test ends, before the
    broker database is flushed and its lock released (hence the dependency on `redis_broker_url`).

    `start(env, pool="prefork", concurrency=2, wait_ready=True, queues=all_queues())` returns a WorkerProcess
    whose output goes to a log file under tmp_path (`worker.log()`).
    """
    started: list[WorkerProcess] = []

    def start(
        env: Mapping[str, str],
        *,
        pool: str = "prefork",
        concurrency: int = 2,
        wait_ready: bool = True,
        ready_timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
        queues: str | None = None,
    ) -> WorkerProcess:
        name = f"integration{len(started) + 1}"
        log_path = tmp_path / f"{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "mpesa_payouts", "worker",
            "-P", pool, "-c", str(concurrency), "-n", f"{name}@%h", "-l", "INFO", "-Q", queues or all_queues(),
            "--without-heartbeat", "--without-gossip", "--without-mingle",
            *extra_args,
        ]  # fmt: skip
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                command, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        worker = WorkerProcess(popen, log_path, name)
        started.append(worker)
        if wait_ready:
            worker.wait_ready(ready_timeout)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop(timeout=5)
