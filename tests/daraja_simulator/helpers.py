"""A tiny callback receiver and client wiring for the simulator tests."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from daraja.client import DarajaClient
from daraja.config import DarajaConfig, DarajaCredentials
from daraja.security import encrypt_initiator_password
from daraja_simulator import SimulatorServer

WAIT = 5.0  # seconds any single wait may take: keeps a broken scenario from hanging the suite
RESULT_PATH = "/callbacks/b2c/result/tok"
TIMEOUT_PATH = "/callbacks/b2c/timeout/tok"
STATUS_PATH = "/callbacks/status/result/tok"
STATUS_TIMEOUT_PATH = "/callbacks/status/timeout/tok"
BALANCE_PATH = "/callbacks/balance/result/tok"
STK_PATH = "/callbacks/stk/tok"


class CallbackReceiver:
    """Collects JSON posted to it, by path, and acknowledges like the real callback views."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any], float]] = []
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._condition:
                    receiver.received.append((self.path, json.loads(raw), time.monotonic()))
                    receiver._condition.notify_all()
                body = b'{"ResultCode": 0, "ResultDesc": "Accepted"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._condition:
            return [body for p, body, _ in self.received if p == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = WAIT) -> list[dict[str, Any]]:
        with self._condition:
            self._condition.wait_for(lambda: len([p for p, _, _ in self.received if p == path]) >= count, timeout)
        bodies = self.bodies(path)
        assert len(bodies) >= count, f"expected {count} callback(s) at {path}, got {len(bodies)}"
        return bodies


def make_client(
    simulator: SimulatorServer,
    *,
    password: str = "Safaricom999!*!",
    certificate: bytes | None = None,
    read_timeout: float = 5.0,
    consumer: tuple[str, str] = ("sim-key", "sim-secret"),
) -> DarajaClient:
    credential = encrypt_initiator_password(password, certificate or simulator.certificate_pem)
    config = DarajaConfig(
        base_url=simulator.url,
        b2c_credentials=DarajaCredentials(*consumer),
        stk_credentials=DarajaCredentials(*consumer),
        b2c_shortcode="600992",
        initiator_name="testapi",
        security_credential=credential,
        stk_shortcode="174379",
        stk_passkey="passkey",
        connect_timeout=2.0,
        read_timeout=read_timeout,
    )
    return DarajaClient(config, DictCache())


class DictCache(dict):
    def set(self, key: str, value: Any, timeout: int | None) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def result_parameters(body: dict[str, Any]) -> dict[str, Any]:
    return {p["Key"]: p["Value"] for p in body["Result"]["ResultParameters"]["ResultParameter"]}


def send_payout(client: DarajaClient, receiver: CallbackReceiver, *, ocid: str, phone: str, amount: int = 100):
    return client.b2c_payment(
        originator_conversation_id=ocid,
        command_id="BusinessPayment",
        amount=Decimal(amount),
        phone=phone,
        remarks="Refund for order 42",
        occasion="Order42",
        result_url=receiver.url(RESULT_PATH),
        timeout_url=receiver.url(TIMEOUT_PATH),
    )


def ask_status(client: DarajaClient, receiver: CallbackReceiver, ocid: str, count: int = 1) -> dict[str, Any]:
    accepted = client.transaction_status(
        original_conversation_id=ocid,
        result_url=receiver.url(STATUS_PATH),
        timeout_url=receiver.url(STATUS_TIMEOUT_PATH),
    )
    result = receiver.wait_for(STATUS_PATH, count)[-1]["Result"]
    assert result["ConversationID"] == accepted.conversation_id  # the envelope carries the query's own ids
    assert result["OriginatorConversationID"] == accepted.originator_conversation_id
    return result
