"""The simulator over HTTP (standard library only), and SimulatorServer to run it in a thread."""

from __future__ import annotations

import functools
import json
import logging
import operator
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from daraja_simulator import payloads
from daraja_simulator.dispatcher import CallbackDispatcher
from daraja_simulator.engine import DarajaSimulator, Reply, SimulatorSettings
from daraja_simulator.keys import SimulatorKeys
from daraja_simulator.ledger import Ledger
from daraja_simulator.rails import B2B_SCENARIOS, RAIL_ROUTES
from daraja_simulator.scenarios import B2C_SCENARIOS, C2B_SCENARIOS, NAME_CHECK_SCENARIOS, STK_SCENARIOS

logger = logging.getLogger("daraja_simulator")
MAX_BODY = 1024 * 1024

_POST_ROUTES = {
    "/mpesa/b2c/v3/paymentrequest": "b2c_payment",
    "/mpesa/transactionstatus/v1/query": "transaction_status",
    "/mpesa/accountbalance/v1/query": "account_balance",
    "/mpesa/stkpush/v1/processrequest": "stk_push",
    "/mpesa/c2b/v2/registerurl": "c2b_register",
    "/mpesa/c2b/v1/simulate": "c2b_simulate",
    # Money in and name checks (daraja_simulator/money_in.py, name_check.py)
    "/mpesa/reversal/v1/request": "money_in.reversal",
    "/pulltransactions/v1/register": "money_in.pull_register",
    "/pulltransactions/v1/query": "money_in.pull_query",
    "/mpesa/stkpushquery/v1/query": "money_in.stk_query",
    "/simulator/c2b/unconfirmed": "money_in.unconfirmed_c2b",
    "/mpesa/b2c/hakikisha/v1/hakikisha": "name_check.hakikisha",
    "/sfcverify/v1/query/info": "name_check.org_info",
}
_GET_ROUTES = ("/oauth/v1/generate", "/simulator/ledger", "/simulator/scenarios", "/simulator/certificate")


class _Handler(BaseHTTPRequestHandler):
    server_version = "DarajaSimulator/1.0"
    # Keep-alive: a client's requests.Session reuses its connection (every answer carries Content-Length).
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall between them
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self)

    def finish(self) -> None:
        self.server.untrack(self)
        super().finish()

    def parse_request(self) -> bool:
        # Called once a request line has arrived: from here until the answer is sent, the connection is busy.
        self.server.mark(self, busy=True)
        return super().parse_request()

    def handle_one_request(self) -> None:
        super().handle_one_request()
        if self.server.mark(self, busy=False):
            self.close_connection = True  # the simulator is stopping: no further request on this connection

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        simulator = self.server.simulator
        if url.path == "/oauth/v1/generate":
            grant_type = (parse_qs(url.query).get("grant_type") or [""])[0]
            self._send(simulator.oauth(self.headers.get("Authorization"), grant_type))
        elif url.path == "/simulator/ledger":
            self._send(Reply(200, simulator.ledger.snapshot()))
        elif url.path == "/simulator/scenarios":
            self._send(Reply(200, _scenarios()))
        elif url.path == "/simulator/certificate":
            self._send_bytes(200, simulator.keys.certificate_pem, "application/x-pem-file")
        elif url.path in _POST_ROUTES or url.path in RAIL_ROUTES or url.path == "/simulator/reset":
            self._wrong_method()
        else:
            self._not_found()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        simulator = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            # The body is left unread, so the connection cannot carry another request.
            self._send(Reply(413, payloads.error_body("400.002.05", "Request payload too large")), close=True)
            return
        if length < 0 or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a body we do not read (as before: treated as empty) ends the connection
        raw = self.rfile.read(length) if length > 0 else b""
        method = _POST_ROUTES.get(url.path)
        if method:
            handler = operator.attrgetter(method)(simulator)  # "money_in.reversal": a desk's method
            self._send(self._guarded(handler, self.headers.get("Authorization"), raw))
        elif url.path in RAIL_ROUTES:  # paybill, till, top-up and Pochi (daraja_simulator/rails.py)
            handler = functools.partial(RAIL_ROUTES[url.path], simulator)
            self._send(self._guarded(handler, self.headers.get("Authorization"), raw))
        elif url.path in _GET_ROUTES:
            self._wrong_method()
        elif url.path == "/simulator/reset":
            simulator.ledger.reset()
            self._send(Reply(200, {"reset": True, "utility_balance": f"{simulator.ledger.utility_balance:.2f}"}))
        else:
            self._not_found()

    def _guarded(self, handler: Callable[[str | None, bytes], Reply], authorization: str | None, raw: bytes) -> Reply:
        try:
            return handler(authorization, raw)
        except Exception:
            # A simulator bug must look like Daraja's own internal error, not a dropped connection.
            logger.exception("Simulator error handling %s", urlsplit(self.path).path)
            return Reply(500, payloads.error_body("500.003.1001", "Internal Server Error"))

    def _wrong_method(self) -> None:
        # As the real API answers a known path called with the wrong method.
        self._send(Reply(405, payloads.error_body("405.001", "Method Not Allowed")))

    def _not_found(self) -> None:
        self._send(Reply(404, payloads.error_body("404.001.01", "Resource not found")))

    def _send(self, reply: Reply, *, close: bool = False) -> None:
        self._send_bytes(reply.status, json.dumps(reply.body).encode("utf-8"), "application/json", close=close)

    def _send_bytes(self, status: int, data: bytes, content_type: str, *, close: bool = False) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if close or self.close_connection and self.request_version == "HTTP/1.1":
                self.send_header("Connection", "close")  # also sets close_connection
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its read timeout in the slow-answer scenario): nothing to answer.
            self.close_connection = True
            logger.info("Client left before the answer to %s", urlsplit(self.path).path)

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines only (method, path, status): no headers, so no token or credential is ever logged.
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops connections in a burst: the client retries a second later
    simulator: DarajaSimulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: dict[_Handler, bool] = {}  # open connection -> busy with a request
        self._connections_lock = threading.Lock()
        self._closing = False

    def track(self, handler: _Handler) -> None:
        with self._connections_lock:
            self._connections[handler] = False

    def untrack(self, handler: _Handler) -> None:
        with self._connections_lock:
            self._connections.pop(handler, None)

    def mark(self, handler: _Handler, *, busy: bool) -> bool:
        """Note whether `handler` is answering a request; True once the server is closing."""
        with self._connections_lock:
            if handler in self._connections:
                self._connections[handler] = busy
            return self._closing

    def close_idle_connections(self) -> None:
        """End every kept-alive connection waiting for its next request; busy ones end after their answer.

        Without this a stopped simulator would go on answering on connections clients keep open."""
        with self._connections_lock:
            self._closing = True
            idle = [handler for handler, busy in self._connections.items() if not busy]
            for handler in idle:
                try:
                    handler.connection.shutdown(socket.SHUT_RDWR)  # its read sees the end: the thread ends
                except OSError:
                    pass


def _scenarios() -> dict[str, Any]:
    return {
        "b2c": [asdict(s) for s in B2C_SCENARIOS.values()],
        "stk": [asdict(s) for s in STK_SCENARIOS.values()],
        "c2b": [{"suffix": suffix, "summary": summary} for suffix, summary in C2B_SCENARIOS.items()],
        "b2b": [asdict(s) for s in B2B_SCENARIOS.values()],
        "name_checks": [{"where": where, "summary": summary} for where, summary in NAME_CHECK_SCENARIOS.items()],
    }


class SimulatorServer:
    """A Daraja simulator on host:port (port 0: a free one), run in a background thread.

    >>> with SimulatorServer(port=0, settings=SimulatorSettings(delay=0.05)) as sim:
    ...     sim.url  # e.g. http://127.0.0.1:41234
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8001,
        settings: SimulatorSettings | None = None,
        *,
        ledger_path: str | Path | None = None,
        key_dir: str | Path | None = None,
        keys: SimulatorKeys | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.settings = settings or SimulatorSettings()
        if keys is None:
            keys = SimulatorKeys.load_or_create(key_dir) if key_dir else SimulatorKeys.generate()
        self.keys = keys
        self.ledger = Ledger(
            ledger_path, float_balance=self.settings.float_balance, working_balance=self.settings.working_balance
        )
        self._stopping = threading.Event()
        self.dispatcher = CallbackDispatcher(timeout=self.settings.callback_timeout, record=self.ledger.note_callback)
        self.simulator = DarajaSimulator(
            settings=self.settings,
            keys=keys,
            ledger=self.ledger,
            dispatcher=self.dispatcher,
            stopping=self._stopping,
        )
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self.requested_port
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def certificate_pem(self) -> bytes:
        return self.keys.certificate_pem

    def start(self) -> SimulatorServer:
        if self._httpd is not None:
            return self
        httpd = _Server((self.host, self.requested_port), _Handler)
        httpd.simulator = self.simulator
        self._httpd = httpd
        # A short poll interval makes stop() quick (shutdown waits for the loop to notice).
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="daraja-simulator", daemon=True
        )
        self._thread.start()
        logger.info("Daraja simulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, cancel callbacks not yet posted, and end any slow answer still waiting."""
        self._stopping.set()
        self.dispatcher.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_idle_connections()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_for_callbacks(self, timeout: float = 5.0) -> bool:
        """Block until every scheduled callback has been posted (True), or `timeout` passes (False)."""
        return self.dispatcher.wait_idle(timeout)

    def revoke_tokens(self) -> None:
        self.simulator.revoke_tokens()

    def write_certificate(self, path: str | Path) -> Path:
        return self.keys.write_certificate(path)
