#!/usr/bin/env python
"""CPU cost of the Daraja simulator per B2C payment (the request and its result callback).

    .venv/bin/python bench/simulator_cost.py [--payments 2000] [--threads 4] [--timeout 120]

Starts `manage.py daraja_simulator --delay 0.05` as its own process (own process group, loopback only) and a
minimal callback receiver in this process, fetches an OAuth token, then posts N valid B2C payment requests
over keep-alive `requests.Session`s from a few threads and waits (bounded) until every result callback has
arrived. Prints the simulator's CPU milliseconds per payment (utime + stime of its process group, from /proc)
and payments per second. No database is used; every process started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import requests  # noqa: E402
from _common import ROOT, django_env, free_port, wait_port  # noqa: E402
from cpu import CpuMeter  # noqa: E402

from daraja.security import encrypt_initiator_password  # noqa: E402

KEY_DIR = ROOT / "var" / "bench" / "simulator-cost"
PASSWORD = "bench-initiator"
HOST = "127.0.0.1"


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # like gunicorn's backlog, not socketserver's 5: no connection dropped in a burst


class Receiver:
    """Counts callbacks posted to it and answers 200 JSON, like the app's callback views."""

    def __init__(self) -> None:
        self.count = 0
        self.arrived: dict[str, float] = {}  # path -> when it arrived (monotonic)
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # let the simulator keep its connections
            disable_nagle_algorithm = True  # as gunicorn does: no delayed-ACK stall between headers and body

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.monotonic()
                body = b'{"ResultCode": 0, "ResultDesc": "Accepted"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with receiver.condition:
                    receiver.arrived[self.path] = arrived
                    receiver.count += 1
                    receiver.condition.notify_all()

            def log_message(self, *args: object) -> None:
                pass

        self.server = _ReceiverServer((HOST, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def wait_for(self, count: int, timeout: float) -> int:
        with self.condition:
            self.condition.wait_for(lambda: self.count >= count, timeout)
            return self.count


def phone(i: int) -> str:
    # 2547 numbers whose last three digits are >= 100: no scenario row, so a plain success.
    return f"2547{i % 100000:05d}{100 + i % 900:03d}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=120, help="bound on the whole measured phase, seconds")
    args = parser.parse_args()

    sim_port = free_port()
    KEY_DIR.mkdir(parents=True, exist_ok=True)
    env = django_env()
    env.update(
        LOG_LEVEL="WARNING",
        MPESA_ENVIRONMENT="simulator",
        MPESA_B2C_CONSUMER_KEY="bench",
        MPESA_B2C_CONSUMER_SECRET="bench",
        MPESA_CONSUMER_KEY="bench",
        MPESA_CONSUMER_SECRET="bench",
        MPESA_INITIATOR_PASSWORD=PASSWORD,
    )
    receiver = Receiver()
    receiver.thread.start()
    log = open(KEY_DIR / "simulator.log", "w")  # noqa: SIM115 - closed in finally
    sim = subprocess.Popen(
        [sys.executable, "manage.py", "daraja_simulator", "--host", HOST, "--port", str(sim_port), "--delay", "0.05",
         "--key-dir", str(KEY_DIR)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://{HOST}:{sim_port}"
    results: dict = {"date": time.strftime("%Y-%m-%d"), "payments": args.payments, "threads": args.threads}
    try:
        wait_port(sim_port)
        certificate = requests.get(f"{base}/simulator/certificate", timeout=5).content
        credential = encrypt_initiator_password(PASSWORD, certificate)
        token = requests.get(
            f"{base}/oauth/v1/generate", params={"grant_type": "client_credentials"}, auth=("bench", "bench"), timeout=5
        ).json()["access_token"]
        callback = f"http://{HOST}:{receiver.port}/callbacks/b2c"
        run = f"{int(time.time())}-{os.getpid()}"
        errors: list[str] = []
        answered: dict[str, float] = {}  # result path -> when the simulator's answer arrived (monotonic)
        next_index = iter(range(args.payments))
        index_lock = threading.Lock()
        deadline = time.monotonic() + args.timeout

        def sender() -> None:
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {token}"
                while time.monotonic() < deadline:
                    with index_lock:
                        i = next(next_index, None)
                    if i is None:
                        return
                    body = {
                        "OriginatorConversationID": f"bench-{run}-{i}",
                        "InitiatorName": "bench",
                        "SecurityCredential": credential,
                        "CommandID": "BusinessPayment",
                        "Amount": "100",
                        "PartyA": "600992",
                        "PartyB": phone(i),
                        "Remarks": "Bench",
                        "QueueTimeOutURL": f"{callback}/timeout/{i}",
                        "ResultURL": f"{callback}/result/{i}",
                        "Occassion": "",
                    }
                    try:
                        answer = session.post(f"{base}/mpesa/b2c/v3/paymentrequest", json=body, timeout=10)
                        answered[f"/callbacks/b2c/result/{i}"] = time.monotonic()
                        if answer.status_code != 200:
                            errors.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
                    except requests.RequestException as exc:
                        errors.append(type(exc).__name__)

        meter = CpuMeter({"simulator": sim.pid})
        meter.start()
        started = time.perf_counter()
        threads = [threading.Thread(target=sender, daemon=True) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 1)
        expected = args.payments - len(errors)
        received = receiver.wait_for(expected, max(0.0, deadline - time.monotonic()))
        elapsed = time.perf_counter() - started
        meter.stop()
        cpu = meter.seconds().get("simulator", 0.0)
        # How long after the answer each Result came, beyond --delay 0.05 (the answer's own trip back included).
        late = sorted(1000 * (receiver.arrived[p] - t - 0.05) for p, t in answered.items() if p in receiver.arrived)
        results.update(
            accepted=expected,
            errors=len(errors),
            first_errors=errors[:3],
            callbacks=received,
            seconds=round(elapsed, 2),
            payments_per_s=round(received / elapsed, 1),
            simulator_cpu_s=cpu,
            simulator_cpu_ms_per_payment=round(1000 * cpu / max(received, 1), 2),
            callback_lateness_ms={
                q: round(late[min(len(late) - 1, int(len(late) * f))], 1) if late else None
                for q, f in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))
            },
        )
        if received < expected:
            results["warning"] = f"only {received} of {expected} callbacks arrived within {args.timeout} s"
    finally:
        try:
            os.killpg(sim.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            sim.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(sim.pid, signal.SIGKILL)
            sim.wait()
        log.close()
        receiver.server.shutdown()
        receiver.server.server_close()
    if results.get("errors") == 0 and "warning" not in results:
        (KEY_DIR / "simulator.log").unlink(missing_ok=True)  # kept only when something went wrong
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
