"""Real sockets, no mocks: the client must read requests' and urllib3's real exceptions correctly, since the
difference between "not sent" and "maybe sent" decides whether money can be paid twice."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from daraja.client import DarajaClient
from daraja.errors import DarajaConnectError, DarajaOutcomeUnknown
from tests.daraja.helpers import FakeCache, FakeClock, make_config, pay


class _Misbehaving(BaseHTTPRequestHandler):
    """Hands out tokens, then mishandles every POST the way the server's `mode` says."""

    def do_GET(self) -> None:
        body = json.dumps({"access_token": "tok", "expires_in": "3599"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts += 1  # type: ignore[attr-defined]
        if self.server.mode == "hang":  # type: ignore[attr-defined]
            time.sleep(1.5)
        # "drop" (and "hang", afterwards): close without a byte of answer.
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def misbehaving() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    server.daemon_threads = True
    server.posts = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client(port: int, read_timeout: float = 5.0) -> DarajaClient:
    clock = FakeClock()
    config = make_config(base_url=f"http://127.0.0.1:{port}", connect_timeout=1.0, read_timeout=read_timeout)
    return DarajaClient(config, FakeCache(clock), clock=clock)


def test_connection_refused_is_not_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens once the probe closes
    with pytest.raises(DarajaConnectError) as caught:
        pay(_client(port))
    assert caught.value.retryable is True


def test_connection_closed_after_the_request_was_sent_is_unknown(misbehaving):
    misbehaving.mode = "drop"
    with pytest.raises(DarajaOutcomeUnknown) as caught:
        pay(_client(misbehaving.server_address[1]))
    assert caught.value.code == "connection_lost"
    assert misbehaving.posts == 1  # the server did receive the payment request


def test_read_timeout_is_unknown(misbehaving):
    misbehaving.mode = "hang"
    started = time.monotonic()
    with pytest.raises(DarajaOutcomeUnknown) as caught:
        pay(_client(misbehaving.server_address[1], read_timeout=0.3))
    assert caught.value.code == "read_timeout"
    assert time.monotonic() - started < 1.4  # the read timeout, not the server, ended the wait
    assert misbehaving.posts == 1
