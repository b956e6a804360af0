"""A receiver on 127.0.0.1 that verifies X-Payouts-Signature as docs/webhooks.md tells a receiver to, and
records what it got. `answer` (an HTTP status, or a callable path -> status) says how it replies."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 300


def verify(header: str, raw_body: bytes, secret: str, *, now: float | None = None) -> bool:
    """The receiver-side check (docs/webhooks.md): any v1 matches, and t is within 5 minutes."""
    items = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in items if key == "t"]
    signatures = [value for key, value in items if key == "v1"]
    if len(timestamps) != 1 or not signatures or not timestamps[0].isdigit():
        return False
    if abs((now or time.time()) - int(timestamps[0])) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), timestamps[0].encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes
    valid_with: list[str]
    status: int = 0

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def v1_count(self) -> int:
        return self.headers.get("X-Payouts-Signature", "").count("v1=")


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    answer: Any = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    port: int = 0

    def url(self, path: str = "/hooks/payouts") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def got(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def valid(self) -> list[Received]:
        return [r for r in self.got() if r.valid_with]

    def accepted(self) -> list[Received]:
        """Validly signed and answered 2xx: what the receiver's system acted on."""
        return [r for r in self.valid() if 200 <= r.status < 300]

    def start(self, port: int = 0) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                header = self.headers.get("X-Payouts-Signature", "")
                with receiver.lock:
                    valid = [s for s in receiver.secrets if verify(header, raw, s)]
                    answer = receiver.answer
                    status = answer(self.path) if callable(answer) else answer
                    receiver.received.append(Received(self.path, dict(self.headers), raw, valid, status))
                if receiver.delay:
                    time.sleep(receiver.delay)
                data = b'{"received": true}' if status < 300 else b"not now"
                try:
                    self.send_response(status)
                    if 300 <= status < 400:
                        self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class SlowReceiver:
    """A receiver that takes each request and then answers one byte every `interval` seconds: from the status
    line on, or (`head_at_once`) after a `200 OK` sent at once. Each answer stops by itself after
    `max_seconds` (the connection is closed), so a test against code without a deadline still ends."""

    interval: float = 1.0
    head_at_once: bool = False
    max_seconds: float = 20.0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    port: int = 0

    def url(self, path: str = "/hooks/slow") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self) -> int:
        with self.lock:
            return self.requests

    def start(self) -> SlowReceiver:
        receiver = self
        body = b'{"received": true}' + b" " * 200
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests += 1
                dripped = body if receiver.head_at_once else head + body
                stop_at = time.monotonic() + receiver.max_seconds
                try:
                    if receiver.head_at_once:
                        self.wfile.write(head)
                        self.wfile.flush()
                    for byte in dripped:
                        if time.monotonic() > stop_at:
                            break
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(receiver.interval)
                except OSError:
                    pass  # the sender gave up (its deadline)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # stop() does not wait for an answer still dripping
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="slow-webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
