"""One POST to a receiver: to the checked address (webhooks/addresses.py), no redirects followed, connect and
read timeouts, and only the first bytes of the answer read."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings

from webhooks.addresses import resolve_checked

EXCERPT_BYTES = 500


@dataclass(frozen=True)
class Answer:
    status: int
    latency_ms: int
    excerpt: str


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """Raises addresses.RefusedURL (the URL or its address may not be used), urllib3's HTTPError (timeouts,
    refused connections, TLS errors) or OSError."""
    scheme, host, port, address = resolve_checked(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = urllib3.Timeout(
        connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, read=settings.WEBHOOK_READ_TIMEOUT_SECONDS
    )
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address, port, timeout=timeout, retries=False, server_hostname=host, assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    default_port = 443 if scheme == "https" else 80
    request_headers = {
        **headers,
        "Host": host if port == default_port else f"{host}:{port}",
        "Content-Length": str(len(body)),
    }
    started = time.monotonic()
    try:
        response = pool.urlopen(
            "POST", path, body=body, headers=request_headers, redirect=False, retries=False,
            preload_content=False, assert_same_host=False,
        )
        try:
            excerpt = response.read(EXCERPT_BYTES)
        finally:
            response.release_conn()
    finally:
        pool.close()
    latency = int((time.monotonic() - started) * 1000)
    return Answer(status=response.status, latency_ms=latency, excerpt=excerpt.decode("utf-8", "replace"))
