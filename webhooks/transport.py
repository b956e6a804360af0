"""One POST to a receiver: to the checked address (webhooks/addresses.py), no redirects followed, and only the
first bytes of the answer read, all within WEBHOOK_DELIVERY_DEADLINE_SECONDS.

Per-read timeouts alone do not bound an attempt: a receiver that answers one byte every few seconds never
trips a 10 s read timeout and held a worker thread for minutes. So the attempt has one deadline for connect,
send, status line, headers and body: when it passes, the socket is shut down under whatever read is waiting."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection

from webhooks.addresses import resolve_checked

EXCERPT_BYTES = 500


class DeadlinePassed(urllib3.exceptions.TimeoutError):
    """No status line and headers within the delivery's deadline."""


@dataclass(frozen=True)
class Answer:
    status: int
    latency_ms: int
    excerpt: str


def _cut(sock: socket.socket | None) -> None:
    # The plain socket's shutdown, also under TLS: SSLSocket.shutdown would drop its SSL object while another
    # thread reads through it. A shut-down socket ends the blocked read at once (EOF or an OSError).
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the receiver


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """Raises addresses.RefusedURL (the URL or its address may not be used), DeadlinePassed, urllib3's
    HTTPError (timeouts, refused connections, TLS errors) or OSError. A 2xx status whose body is still
    arriving at the deadline is the answer: the receiver said it took the event."""
    started = time.monotonic()
    deadline = started + settings.WEBHOOK_DELIVERY_DEADLINE_SECONDS
    scheme, host, port, address = resolve_checked(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connect_timeout = min(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, max(0.01, deadline - time.monotonic()))
    if scheme == "https":
        connection = HTTPSConnection(
            address,
            port,
            timeout=connect_timeout,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        connection = HTTPConnection(address, port, timeout=connect_timeout)
    default_port = 443 if scheme == "https" else 80
    request_headers = {
        **headers,
        "Host": host if port == default_port else f"{host}:{port}",
        "Content-Length": str(len(body)),
    }
    watchdog: threading.Timer | None = None
    try:
        connection.connect()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlinePassed(f"no answer within {settings.WEBHOOK_DELIVERY_DEADLINE_SECONDS:g} s")
        connection.timeout = min(settings.WEBHOOK_READ_TIMEOUT_SECONDS, remaining)  # each read's own bound
        watchdog = threading.Timer(remaining, _cut, args=(connection.sock,))
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request("POST", path, body=body, headers=request_headers, preload_content=False)
            response = connection.getresponse()
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            if time.monotonic() >= deadline:
                raise DeadlinePassed(f"no answer within {settings.WEBHOOK_DELIVERY_DEADLINE_SECONDS:g} s") from exc
            if isinstance(exc, http.client.HTTPException) and not isinstance(exc, OSError):
                # An answer that is not HTTP: a network error, as urllib3's pool reported it before.
                raise urllib3.exceptions.ProtocolError(type(exc).__name__) from exc
            raise
        excerpt = b""
        while len(excerpt) < EXCERPT_BYTES and time.monotonic() < deadline:
            try:
                chunk = response.read1(EXCERPT_BYTES - len(excerpt))
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
                break  # the status is the answer; a body cut short (or cut at the deadline) is only an excerpt
            if not chunk:
                break
            excerpt += chunk
    finally:
        if watchdog is not None:
            watchdog.cancel()
        connection.close()
    latency = int((time.monotonic() - started) * 1000)
    return Answer(status=response.status, latency_ms=latency, excerpt=excerpt.decode("utf-8", "replace"))
