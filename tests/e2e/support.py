"""Real processes for the end-to-end and fault tests: gunicorn, a private redis-server, a fake WhatsApp Cloud
API on loopback, and an admin session over HTTP. Every process runs in a process group of its own and is
stopped by the fixture that started it, whatever the test did.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tests.integration.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GUNICORN = BIN / "gunicorn"
REDIS_SERVER = "/usr/bin/redis-server"

# Redis databases on the machine's own Redis that these tests may use (and FLUSHDB): nothing else is touched.
E2E_BROKER_DB = int(os.environ.get("E2E_REDIS_BROKER_DB", "10"))
E2E_CACHE_DB = int(os.environ.get("E2E_REDIS_CACHE_DB", "11"))

WHATSAPP_TOKEN = "EAAG-e2e-test-token-0123456789"
WHATSAPP_PHONE_NUMBER_ID = "109876543210987"
ADMIN_NUMBERS = ("254700111222",)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def machine_wide_lock(name: str, timeout: float) -> Iterator[None]:
    """An exclusive lock shared by every test run on this machine (released by the kernel if the holder dies),
    so two runs never flush or consume each other's Redis databases."""
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


# --- Processes ---------------------------------------------------------------------------------------------


def signal_own_group(popen: subprocess.Popen, signum: int) -> None:
    """Signal the process group `popen` leads, but only while its leader is not reaped: afterwards the id may
    already belong to someone else's process group (pid_max can be as low as 32768 on a busy machine)."""
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signum)
    except ProcessLookupError:
        pass


class GroupProcess:
    """A subprocess in a session (process group) of its own, its output in a log file."""

    def __init__(self, popen: subprocess.Popen, log_path: Path, name: str) -> None:
        self.popen = popen
        self.log_path = log_path
        self.name = name

    @classmethod
    def start(cls, command: list[str], *, env: dict[str, str], log_path: Path, name: str) -> GroupProcess:
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return cls(popen, log_path, name)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _signal_group(self, signum: int) -> None:
        signal_own_group(self.popen, signum)

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after `timeout`."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


class WebServer(GroupProcess):
    """gunicorn with the deployment's own config (deploy/gunicorn.conf.py), bound to a loopback port."""

    url: str

    def wait_ready(self, timeout: float = 30.0) -> WebServer:
        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n{self.log()[-3000:]}")
            try:
                return requests.get(f"{self.url}/healthz/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout, interval=0.1, message=f"{self.name} to answer /healthz/")
        return self


def start_web_server(env: dict[str, str], *, port: int, log_path: Path, workers: int = 2, threads: int = 8):
    env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
    }
    command = [str(GUNICORN), "mpesa_payouts.wsgi:application", "--config", "deploy/gunicorn.conf.py"]
    server = WebServer.start(command, env=env, log_path=log_path, name=f"gunicorn:{port}")
    server.url = f"http://127.0.0.1:{port}"
    return server


class PrivateRedis(GroupProcess):
    """A redis-server of the test's own, on a port of its own, in memory only. Stopping it stops nothing else."""

    port: int
    command: list[str]
    env: dict[str, str]

    @classmethod
    def launch(cls, *, port: int, log_path: Path) -> PrivateRedis:
        command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--daemonize", "no", "--protected-mode", "yes"]  # fmt: skip
        server = cls.start(command, env=dict(os.environ), log_path=log_path, name=f"redis-server:{port}")
        server.port, server.command = port, command
        wait_until(lambda: port_open(port), 10, message=f"redis-server on port {port}")
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# --- A fake WhatsApp Cloud API -------------------------------------------------------------------------------


@dataclass
class ReceivedMessage:
    message_id: str
    phone_number_id: str
    authorization: str
    body: dict[str, Any]

    @property
    def to(self) -> str:
        return self.body.get("to", "")

    @property
    def text(self) -> str:
        return (self.body.get("text") or {}).get("body", "")


@dataclass
class FakeWhatsApp:
    """Answers POST /v23.0/<phone-number-id>/messages like the Graph API, recording every message."""

    server: ThreadingHTTPServer | None = None
    received: list[ReceivedMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v23.0"

    def messages(self) -> list[ReceivedMessage]:
        with self.lock:
            return list(self.received)

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def ids(self) -> Counter[str]:
        return Counter(message.message_id for message in self.messages())

    def environment(self) -> dict[str, str]:
        return {
            "NOTIFICATIONS_BACKEND": "whatsapp",
            "WHATSAPP_API_URL": self.url,
            "WHATSAPP_ACCESS_TOKEN": WHATSAPP_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": WHATSAPP_PHONE_NUMBER_ID,
            "WHATSAPP_CONNECT_TIMEOUT": "2",
            "WHATSAPP_READ_TIMEOUT": "5",
            "ADMIN_WHATSAPP_NUMBERS": ",".join(ADMIN_NUMBERS),
            "NOTIFY_CUSTOMERS": "false",
        }

    def _record(self, path: str, headers, raw: bytes) -> tuple[int, dict]:
        match = re.fullmatch(r"/v23\.0/([^/]+)/messages", path)
        if not match:
            return 404, {"error": {"message": "Unknown path", "code": 100}}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"error": {"message": "Invalid JSON", "code": 100}}
        with self.lock:
            message_id = f"wamid.E2E{next(self._ids):06d}"
            self.received.append(ReceivedMessage(message_id, match.group(1), headers.get("Authorization", ""), body))
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
            "messages": [{"id": message_id}],
        }

    def start(self) -> FakeWhatsApp:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake._record(self.path, self.headers, raw)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="fake-whatsapp", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def set_login_password(user, password: str) -> None:
    """Give `user` a password the server processes can check. The test settings hash with MD5 (fast), which
    the real settings do not accept; PBKDF2 with few iterations is accepted (and upgraded on login)."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.utils.crypto import get_random_string

    user.password = PBKDF2PasswordHasher().encode(password, get_random_string(16), iterations=1000)
    user.save(update_fields=["password"])


# --- The admin over HTTP ---------------------------------------------------------------------------------------


class AdminSession:
    """A browser-like session on the Django admin: logs in, and sends the CSRF token with every form."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def _csrf(self) -> str:
        return self.http.cookies.get("csrftoken", "")

    def login(self, username: str, password: str) -> AdminSession:
        self.http.get(f"{self.base_url}/admin/login/", timeout=10).raise_for_status()
        response = self.post("/admin/login/?next=/admin/", {"username": username, "password": password})
        assert "sessionid" in self.http.cookies, f"login as {username} failed: {response.status_code}"
        return self

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(f"{self.base_url}{path}", timeout=15, **kwargs)

    def post(self, path: str, data: dict | list, files: dict | None = None) -> requests.Response:
        if isinstance(data, dict):
            data = list(data.items())
        data = [*data, ("csrfmiddlewaretoken", self._csrf())]
        return self.http.post(
            f"{self.base_url}{path}",
            data=data,
            files=files,
            headers={"Referer": f"{self.base_url}{path}"},
            timeout=30,
        )


class ApiClient:
    """The REST API with token authentication."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(f"{self.base_url}{path}", timeout=15, **kwargs)

    def post(self, path: str, payload: dict | None = None, **kwargs) -> requests.Response:
        return self.http.post(f"{self.base_url}{path}", json=payload, timeout=30, **kwargs)
