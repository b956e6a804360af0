"""A small HTTP/1.1 load generator on asyncio: keep-alive connections to one loopback server, bounded in
requests and in time, so a benchmark cannot run away. Standard library only.

closed loop:  `run_closed(host, port, requests, concurrency)`   -> throughput the server can sustain
open loop:    `run_open(host, port, requests, rate, duration)`   -> latency at a fixed arrival rate

Each request is (path, body bytes); the answer's status and latency are recorded.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1"}
REQUEST_TIMEOUT = 10.0


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def add(self, other: Result) -> None:
        """Fold in another run of the same phase (its time adds to this one's)."""
        self.latencies.extend(other.latencies)
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.elapsed += other.elapsed

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    def summary(self) -> dict:
        return {
            "requests": self.count,
            "seconds": round(self.elapsed, 3),
            "req_per_s": round(self.throughput, 1),
            "p50_ms": round(self.percentile(50) * 1000, 2),
            "p95_ms": round(self.percentile(95) * 1000, 2),
            "p99_ms": round(self.percentile(99) * 1000, 2),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2) if self.latencies else 0,
            "statuses": dict(sorted(self.statuses.items())),
        }


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _check_host(host: str) -> None:
    if host not in ALLOWED_HOSTS:
        raise ValueError("Benchmarks only address this machine (loopback).")


async def _timed(conn: Connection, path: str, body: bytes, result: Result) -> None:
    started = time.perf_counter()
    try:
        status = await asyncio.wait_for(conn.request(path, body), timeout=REQUEST_TIMEOUT)
    except TimeoutError:
        conn.close()
        status = 598  # no answer within REQUEST_TIMEOUT
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        conn.close()
        status = 599
    result.latencies.append(time.perf_counter() - started)
    result.statuses[status] = result.statuses.get(status, 0) + 1


async def _closed(host, port, requests, concurrency, max_seconds) -> Result:
    result = Result()
    queue = list(reversed(requests))
    deadline = time.perf_counter() + max_seconds

    async def worker():
        conn = Connection(host, port)
        while queue and time.perf_counter() < deadline:
            path, body = queue.pop()
            await _timed(conn, path, body, result)
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


async def _open(host, port, requests, rate, max_seconds, pool_size) -> Result:
    result = Result()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(pool_size):
        idle.put_nowait(Connection(host, port))
    interval = 1.0 / rate
    tasks = []
    started = time.perf_counter()

    async def one(path, body):
        conn = await idle.get()
        try:
            await _timed(conn, path, body, result)
        finally:
            idle.put_nowait(conn)

    for i, (path, body) in enumerate(requests):
        due = started + i * interval
        if due - started > max_seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(path, body)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=max_seconds + 30)
    result.elapsed = time.perf_counter() - started
    while not idle.empty():
        idle.get_nowait().close()
    return result


def run_closed(host: str, port: int, requests, concurrency: int = 16, max_seconds: float = 120) -> Result:
    _check_host(host)
    return asyncio.run(_closed(host, port, list(requests), concurrency, max_seconds))


def run_open(host: str, port: int, requests, rate: float, max_seconds: float = 60, pool_size: int = 64) -> Result:
    """Requests are started at `rate` per second whatever the server does (latency includes queueing)."""
    _check_host(host)
    return asyncio.run(_open(host, port, list(requests), rate, max_seconds, pool_size))
