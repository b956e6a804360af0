"""Fixtures for the end-to-end, fault and browser tests.

The simulator, the live server, the worker process class and the environment builder come from
tests/integration/conftest.py; this module adds what a whole running system needs on top: gunicorn, Redis
databases of our own (10 and 11 on the machine's Redis, behind a machine-wide lock, or a private redis-server),
a worker factory on them, and a fake WhatsApp Cloud API that counts what it was sent.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.browser import browser_page, keep_screenshots
from tests.e2e.support import (
    E2E_BROKER_DB,
    E2E_CACHE_DB,
    REDIS_SERVER,
    ROOT,
    FakeWhatsApp,
    PrivateRedis,
    WebServer,
    free_port,
    machine_wide_lock,
    signal_own_group,
    start_web_server,
)

# Reused as they are (importing a fixture into a conftest makes it available to the tests below it).
from tests.integration.conftest import (  # noqa: F401
    RunningSimulator,
    WorkerProcess,
    all_queues,
    callback_base_url,
    live_daraja,
    payout_queue,
    side_queues,
    simulator,
    simulator_keys,
    simulator_settings,
    worker_environment,
)


def _flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()  # this database only
    finally:
        client.close()


@pytest.fixture
def e2e_redis() -> Iterator[tuple[str, str]]:
    """(broker URL, cache URL): two databases of the machine's Redis that are ours, emptied before and after.
    Test runs sharing the machine take turns on them (a file lock)."""
    urls = (f"redis://127.0.0.1:6379/{E2E_BROKER_DB}", f"redis://127.0.0.1:6379/{E2E_CACHE_DB}")
    with machine_wide_lock(f"redis-db{E2E_BROKER_DB}-{E2E_CACHE_DB}", timeout=600):
        for url in urls:
            _flush(url)
        try:
            yield urls
        finally:
            for url in urls:
                _flush(url)


class E2EWorker(WorkerProcess):
    """tests/integration's WorkerProcess, signalling its group only while the worker is not reaped."""

    def _signal_group(self, signum: int) -> None:
        signal_own_group(self.popen, signum)


@pytest.fixture
def e2e_worker(tmp_path: Path, e2e_redis) -> Iterator[Callable[..., E2EWorker]]:
    """Start `celery -A mpesa_payouts worker` processes (tests/integration's WorkerProcess: a process group of
    their own); every one is stopped when the test ends, before our Redis databases are flushed.

    `start(env, pool="prefork", concurrency=2, extra_args=(), wait_ready=True, queues=all_queues())`.
    """
    started: list[E2EWorker] = []

    def start(
        env: Mapping[str, str],
        *,
        pool: str = "prefork",
        concurrency: int = 2,
        extra_args: tuple[str, ...] = (),
        wait_ready: bool = True,
        queues: str | None = None,
    ) -> E2EWorker:
        name = f"e2e{len(started) + 1}"
        log_path = tmp_path / f"worker-{name}.log"
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
        worker = E2EWorker(popen, log_path, name)
        started.append(worker)
        if wait_ready:
            worker.wait_ready(45)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop(timeout=5)


@pytest.fixture
def whatsapp() -> Iterator[FakeWhatsApp]:
    fake = FakeWhatsApp().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[Callable[..., WebServer]]:
    """A factory: `start(env, port=None, workers=2, threads=8)` runs gunicorn on the test database and waits
    until it answers; every server started is stopped when the test ends."""
    started: list[WebServer] = []

    def start(env: dict[str, str], *, port: int | None = None, workers: int = 2, threads: int = 8) -> WebServer:
        port = port or free_port()
        server = start_web_server(
            env, port=port, log_path=tmp_path / f"gunicorn-{len(started) + 1}.log", workers=workers, threads=threads
        )
        started.append(server)
        return server.wait_ready()

    try:
        yield start
    finally:
        for server in started:
            server.stop(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], PrivateRedis]]:
    """A factory for the test's own redis-server (never the machine's); every one started is killed after."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"{REDIS_SERVER} is not installed (Debian package redis-server)")
    started: list[PrivateRedis] = []
    port = free_port()

    def start() -> PrivateRedis:
        server = PrivateRedis.launch(port=port, log_path=tmp_path / "private-redis.log")
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop(timeout=5)


@dataclass
class RunningSystem:
    """The whole system as `make run` starts it, on the test database: gunicorn, the payout worker with beat
    embedded, the side worker (webhooks, notifications, finance jobs), the Daraja simulator and (standing in
    for Meta) the fake WhatsApp API."""

    web: WebServer
    worker: WorkerProcess
    side_worker: WorkerProcess
    simulator: RunningSimulator
    whatsapp: FakeWhatsApp
    broker_url: str
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.web.url


@pytest.fixture
def running_system(
    simulator,  # noqa: F811 - the fixture imported above
    e2e_redis,
    whatsapp,
    web_server,
    e2e_worker,
    tmp_path,
) -> RunningSystem:
    broker_url, cache_url = e2e_redis
    port = free_port()
    env = worker_environment(
        simulator=simulator,
        broker_url=broker_url,
        callback_base_url=f"http://127.0.0.1:{port}",
        **whatsapp.environment(),
        REDIS_URL=cache_url,
        DEBUG="true",  # whitenoise serves the admin's static files from the apps (no collectstatic)
        PAYOUT_SWEEP_INTERVAL_SECONDS="2",
        NOTIFICATIONS_PICKUP_AFTER_SECONDS="5",
    )
    web = web_server(env, port=port)
    # The pools, sizes and queues docker-compose and `make run` start (sends wait on Daraja: threads, not
    # processes; webhooks, WhatsApp and finance jobs on a worker of their own).
    worker = e2e_worker(
        env, pool="threads", concurrency=8, queues=payout_queue(),
        extra_args=("--beat", "--schedule", str(tmp_path / "beat-schedule")),
    )  # fmt: skip
    side_worker = e2e_worker(env, pool="threads", concurrency=4, queues=side_queues())
    return RunningSystem(web, worker, side_worker, simulator, whatsapp, broker_url, env)


@pytest.fixture
def browse(live_server, tmp_path, request):
    """`with browse("rita", width, height, scripts=True) as page:` a Chromium page on Django's live server,
    logged in as that person (no name: logged out; `page.login(name)` later). tests/e2e/browser.py says what the
    page carries. With UPDATE_SCREENSHOTS=1 the test module's DOC_SHOTS (all its screenshots when it names
    none) are copied to docs/screenshots/ after the test."""
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def session(username: str | None = None, width: int = 1366, height: int = 768, *, scripts: bool = True):
        return browser_page(live_server.url, shots, username=username, width=width, height=height, scripts=scripts)

    yield session
    keep_screenshots(shots, getattr(request.module, "DOC_SHOTS", None))
