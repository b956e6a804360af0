"""Callback dispatch (sender threads, timing, stop, wait_idle) and HTTP/1.1 keep-alive, as users see them."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from daraja_simulator import SimulatorServer, phone_for
from daraja_simulator.dispatcher import KEEP_SENDERS, CallbackDispatcher
from daraja_simulator.server import MAX_BODY
from tests.daraja_simulator.conftest import FAST
from tests.daraja_simulator.helpers import RESULT_PATH, make_client, send_payout


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # many connections at once: none dropped (and retried a second later)


class Receiver:
    """A callback receiver speaking HTTP/1.1 (keeps connections), with a configurable delay and status.
    Notes every post: its path, when it arrived and from which client port (one port: one connection)."""

    def __init__(self, *, pause: float = 0.0, status: int = 200) -> None:
        self.posts: list[tuple[str, float, int]] = []
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as gunicorn does

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.condition:
                    receiver.posts.append((self.path, time.monotonic(), self.client_address[1]))
                    receiver.condition.notify_all()
                time.sleep(pause)
                body = b'{"ResultCode": 0, "ResultDesc": "Accepted"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _ReceiverServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str = "/cb") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, float, int]]:
        with self.condition:
            self.condition.wait_for(lambda: len(self.posts) >= count, timeout)
            return list(self.posts)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def records() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def dispatcher(records: list[dict[str, Any]]):
    dispatcher = CallbackDispatcher(timeout=2.0, record=records.append)
    yield dispatcher
    dispatcher.stop()


def _post(dispatcher: CallbackDispatcher, receiver: Receiver, delay: float, reference: str = "ref") -> float:
    scheduled = time.monotonic()
    dispatcher.post_later(delay, receiver.url(f"/cb/{reference}"), {"n": reference}, kind="test", reference=reference)
    return scheduled


def test_a_callback_is_posted_after_its_delay_not_before(dispatcher, records):
    receiver = Receiver()
    try:
        scheduled = _post(dispatcher, receiver, 0.3)
        assert dispatcher.wait_idle(5)
        ((path, arrived, _),) = receiver.posts
        assert path == "/cb/ref"
        assert 0.3 <= arrived - scheduled < 1.5
        assert records == [
            {"kind": "test", "reference": "ref", "url": receiver.url("/cb/ref"), "status": 200, "error": ""}
        ]
    finally:
        receiver.stop()


def test_callbacks_go_out_in_due_order(dispatcher):
    receiver = Receiver()
    try:
        for delay, reference in ((0.4, "third"), (0.1, "first"), (0.25, "second")):
            _post(dispatcher, receiver, delay, reference)
        assert dispatcher.wait_idle(5)
        assert [path for path, _, _ in receiver.posts] == ["/cb/first", "/cb/second", "/cb/third"]
    finally:
        receiver.stop()


def test_stop_cancels_pending_callbacks_and_later_ones(dispatcher, records):
    receiver = Receiver()
    try:
        for i in range(5):
            _post(dispatcher, receiver, 0.3, f"pending{i}")
        dispatcher.stop()
        assert dispatcher.wait_idle(0.1)  # nothing scheduled any more
        _post(dispatcher, receiver, 0.0, "after-stop")
        time.sleep(0.6)
        assert receiver.posts == []
        assert records == []
    finally:
        receiver.stop()


def test_wait_idle_waits_for_scheduled_and_in_flight_posts(dispatcher, records):
    receiver = Receiver(pause=0.4)
    try:
        _post(dispatcher, receiver, 0.05)
        assert not dispatcher.wait_idle(0.2)  # posted by now, but the receiver has not answered
        assert receiver.posts and not records
        assert dispatcher.wait_idle(5)
        assert [r["status"] for r in records] == [200]
    finally:
        receiver.stop()


def test_stop_lets_a_post_in_flight_finish(dispatcher, records):
    receiver = Receiver(pause=0.3)
    try:
        _post(dispatcher, receiver, 0.0)
        receiver.wait_for(1)
        dispatcher.stop()
        assert dispatcher.wait_idle(5)
        assert [r["status"] for r in records] == [200]
    finally:
        receiver.stop()


def test_callbacks_due_together_go_out_together_even_to_a_slow_receiver(dispatcher, records):
    # More simultaneous callbacks than the threads kept idle: none waits for another's slow answer.
    count = KEEP_SENDERS * 2 + 1
    receiver = Receiver(pause=0.5)
    try:
        for i in range(count):
            _post(dispatcher, receiver, 0.05, f"c{i}")
        arrivals = sorted(arrived for _, arrived, _ in receiver.wait_for(count, timeout=5))
        assert len(arrivals) == count
        assert arrivals[-1] - arrivals[0] < 0.4  # all posted before the first answer came back
        assert dispatcher.wait_idle(5)
        assert len(records) == count
    finally:
        receiver.stop()


def test_a_failed_callback_is_recorded_and_not_resent(dispatcher, records):
    refusing = Receiver(status=500)
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    try:
        _post(dispatcher, refusing, 0.0, "refused")
        dispatcher.post_later(0.0, f"http://127.0.0.1:{closed_port}/cb", {}, kind="test", reference="unreachable")
        assert dispatcher.wait_idle(5)
        time.sleep(0.3)
        assert len(refusing.posts) == 1
        by_reference = {r["reference"]: r for r in records}
        assert by_reference["refused"]["status"] == 500
        assert by_reference["unreachable"]["status"] is None
        assert by_reference["unreachable"]["error"] == "ConnectionError"
        assert len(records) == 2
    finally:
        refusing.stop()


def test_callbacks_reuse_a_kept_alive_connection(dispatcher):
    receiver = Receiver()
    try:
        for i in range(10):
            _post(dispatcher, receiver, 0.0, f"k{i}")
            receiver.wait_for(i + 1)
            time.sleep(0.02)
        assert dispatcher.wait_idle(5)
        connections = {port for _, _, port in receiver.posts}
        assert len(receiver.posts) == 10
        # A connection per sender thread at most (before: a fresh connection per callback).
        assert len(connections) <= KEEP_SENDERS
    finally:
        receiver.stop()


def test_a_connection_idle_too_long_is_not_reused(dispatcher, monkeypatch):
    monkeypatch.setattr("daraja_simulator.dispatcher.REUSE_IDLE", 0.1)
    receiver = Receiver()
    try:
        _post(dispatcher, receiver, 0.0, "a")
        receiver.wait_for(1)
        time.sleep(0.3)
        _post(dispatcher, receiver, 0.0, "b")
        assert dispatcher.wait_idle(5)
        assert len({port for _, _, port in receiver.posts}) == 2
    finally:
        receiver.stop()


# --- The simulator's server: keep-alive -------------------------------------------------------------------


def _connection(simulator: SimulatorServer) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", simulator.port, timeout=5)
    connection.connect()
    connection.auto_open = 0  # a closed connection must fail, not silently reconnect
    return connection


def test_one_connection_carries_many_requests_including_errors(simulator):
    connection = _connection(simulator)
    try:
        local = connection.sock.getsockname()
        for method, path, status in (
            ("GET", "/simulator/scenarios", 200),
            ("GET", "/nowhere", 404),
            ("POST", "/nowhere", 404),
            ("POST", "/mpesa/b2c/v3/paymentrequest", 404),
            ("GET", "/mpesa/b2c/v3/paymentrequest", 405),
            ("GET", "/simulator/certificate", 200),
            ("GET", "/simulator/ledger", 200),
        ):
            connection.request(method, path, body=b"{}" if method == "POST" else None)
            answer = connection.getresponse()
            body = answer.read()
            assert answer.status == status
            assert int(answer.headers["Content-Length"]) == len(body)
            assert not answer.will_close
            assert connection.sock.getsockname() == local  # still the same connection
    finally:
        connection.close()


def test_too_large_a_body_is_refused_and_the_connection_closed(simulator):
    connection = _connection(simulator)
    try:
        connection.putrequest("POST", "/mpesa/b2c/v3/paymentrequest")
        connection.putheader("Content-Length", str(MAX_BODY + 1))
        connection.endheaders()  # the body never follows: the simulator must not wait for it
        answer = connection.getresponse()
        assert answer.status == 413
        assert json.loads(answer.read())["errorCode"] == "400.002.05"
        assert answer.headers["Connection"] == "close"
        assert answer.will_close
    finally:
        connection.close()


def test_http_1_0_clients_get_their_connection_closed(simulator):
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as raw:
        raw.sendall(b"GET /simulator/scenarios HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200")
    head, _, body = data.partition(b"\r\n\r\n")
    assert json.loads(body)["b2c"]


def test_a_client_that_closes_mid_keep_alive_leaves_the_server_working(simulator, client, receiver):
    for _ in range(3):
        connection = _connection(simulator)
        connection.request("GET", "/simulator/scenarios")
        connection.getresponse().read()
        connection.close()
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as raw:
        raw.sendall(b"GET /simulator/led")  # half a request, then gone
    send_payout(client, receiver, ocid="after-closes", phone=phone_for("645"))
    receiver.wait_for(RESULT_PATH)


def test_a_session_reuses_its_connection_for_payments(simulator, receiver, monkeypatch):
    import urllib3.connection

    opened: list[object] = []
    original = urllib3.connection.HTTPConnection._new_conn

    def counting_new_conn(self):
        # Only the client's connections to Daraja: the simulator's own callbacks to the receiver (due 0.05 s
        # after each payment) also open urllib3 connections, within the loop on a slow machine.
        if self.port == simulator.port:
            opened.append(self)
        return original(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "_new_conn", counting_new_conn)
    client = make_client(simulator)
    for i in range(5):
        send_payout(client, receiver, ocid=f"keep-{i}", phone=phone_for("645"))
    assert len(opened) == 1  # OAuth and five payments over one connection (six before keep-alive)
    assert simulator.ledger.snapshot()["paid_count"] == 5


def test_stop_closes_kept_alive_connections(simulator_keys):
    simulator = SimulatorServer(port=0, settings=FAST, keys=simulator_keys).start()
    connection = _connection(simulator)
    try:
        connection.request("GET", "/simulator/scenarios")
        assert connection.getresponse().read()
        simulator.stop()
        connection.sock.settimeout(5)
        assert connection.sock.recv(1) == b""  # the simulator ended the idle connection
    finally:
        connection.close()
        simulator.stop()
    session = requests.Session()
    with pytest.raises(requests.ConnectionError):
        session.get(f"{simulator.url}/simulator/scenarios", timeout=2)


def test_same_credential_is_accepted_every_time_and_a_foreign_one_never(simulator, receiver, simulator_keys):
    from daraja.security import make_test_keypair

    good = make_client(simulator)
    _, foreign_certificate = make_test_keypair("Not the simulator")
    foreign = make_client(simulator, certificate=foreign_certificate)
    for i in range(3):
        send_payout(good, receiver, ocid=f"good-{i}", phone=phone_for("645"))
        send_payout(foreign, receiver, ocid=f"foreign-{i}", phone=phone_for("645"))
    assert simulator.wait_for_callbacks(5)
    outcomes = {p["originator_conversation_id"]: p["result_code"] for p in simulator.ledger.snapshot()["payments"]}
    assert outcomes == {**{f"good-{i}": "0" for i in range(3)}, **{f"foreign-{i}": "2001" for i in range(3)}}
