"""Posts callbacks to the integrator's URLs, later (from timer threads) or at once.

Like Daraja, a callback that fails is not resent; the outcome is only noted in the ledger's callback log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

logger = logging.getLogger("payments.simulator")


def safe_url(url: str) -> str:
    """The URL with long path segments hidden: callback URLs carry unguessable tokens, which are secrets."""
    parts = urlsplit(url)
    segments = [s if len(s) < 16 else s[:4] + "..." for s in parts.path.split("/")]
    return f"{parts.scheme}://{parts.netloc}{'/'.join(segments)}"


class CallbackDispatcher:
    def __init__(self, *, timeout: float, record: Callable[[dict[str, Any]], None]) -> None:
        self._timeout = timeout
        self._record = record
        self._lock = threading.Condition()
        self._pending: set[threading.Timer] = set()
        self._in_flight = 0
        self._stopped = False

    def post_later(self, delay: float, url: str, body: dict[str, Any], *, kind: str, reference: str) -> None:
        """Post `body` to `url` after `delay` seconds, from a timer thread."""

        def fire() -> None:
            with self._lock:
                self._pending.discard(timer)
                if self._stopped:
                    self._lock.notify_all()
                    return
                self._in_flight += 1
            try:
                self.post_now(url, body, kind=kind, reference=reference)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._lock.notify_all()

        timer = threading.Timer(max(0.0, delay), fire)
        timer.daemon = True
        with self._lock:
            if self._stopped:
                return
            self._pending.add(timer)
        timer.start()

    def post_now(self, url: str, body: dict[str, Any], *, kind: str, reference: str) -> int | None:
        """Post in this thread; returns the HTTP status, or None when the URL could not be reached."""
        status: int | None = None
        error = ""
        try:
            response = requests.post(url, json=body, timeout=self._timeout)
            status = response.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        logger.info("Callback %s for %s to %s: %s", kind, reference, safe_url(url), status or error)
        self._record({"kind": kind, "reference": reference, "url": safe_url(url), "status": status, "error": error})
        return status

    def wait_idle(self, timeout: float) -> bool:
        """Block until no callback is scheduled or being posted; False if `timeout` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending and not self._in_flight, timeout)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for timer in self._pending:
                timer.cancel()
            self._pending.clear()
            self._lock.notify_all()
