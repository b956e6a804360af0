"""Posts callbacks to the integrator's URLs, later (from a small pool of sender threads) or at once.

Like Daraja, a callback that fails is not resent; the outcome is only noted in the ledger's callback log.

Scheduled callbacks wait in one time-ordered queue (a heap). A scheduler thread sleeps until the earliest is
due and hands due callbacks to sender threads: KEEP_SENDERS of them, started as needed and kept, post at once,
so callbacks due at the same moment go out together (the `result_thrice` race). When every sender is busy (a
slow receiver) and a due callback has waited OVERDUE seconds, more senders start (at most half as many again
every OVERDUE seconds while that lasts); senders beyond KEEP_SENDERS end after IDLE_EXIT seconds without work.
Each sender posts through its own `requests.Session`, so connections to a receiver that keeps them alive are
reused (not one left idle for over REUSE_IDLE seconds: the receiver may be closing it, and a post lost that
way would look like a failed callback).
"""

from __future__ import annotations

import collections
import heapq
import http.cookiejar
import itertools
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests

logger = logging.getLogger("daraja_simulator")

KEEP_SENDERS = 4  # sender threads kept for the next callbacks
MAX_SENDERS = 256  # a bound for pathological cases (every receiver hanging); far above any test or benchmark
OVERDUE = 0.05  # seconds a due callback may wait for a busy sender before another sender starts
IDLE_EXIT = 5.0  # seconds a sender beyond KEEP_SENDERS waits for work before it ends
REUSE_IDLE = 1.0  # seconds a kept-alive connection may sit idle and still be reused


def safe_url(url: str) -> str:
    """The URL with long path segments hidden: callback URLs carry unguessable tokens, which are secrets."""
    parts = urlsplit(url)
    segments = [s if len(s) < 16 else s[:4] + "..." for s in parts.path.split("/")]
    return f"{parts.scheme}://{parts.netloc}{'/'.join(segments)}"


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Callbacks carry no state from one to the next, as when each was posted with a fresh requests.post."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def _environment_matters() -> bool:
    """Whether requests' `trust_env` changes anything here: proxy variables, a CA bundle variable or a netrc
    file. Looking them up costs more than the rest of a post on loopback, so a sender skips it when none is
    there (checked when its thread starts)."""
    if urllib.request.getproxies():  # what requests reads for proxies
        return True
    if os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"):
        return True
    netrc = os.environ.get("NETRC")
    locations = (netrc,) if netrc is not None else ("~/.netrc", "~/_netrc")
    return any(os.path.exists(os.path.expanduser(location)) for location in locations)


class _Sender:
    """One sender thread's requests.Session, dropped when its connections may have gone stale."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.session.cookies.set_policy(_NoCookies())
        self.session.trust_env = _environment_matters()
        self._last_used: dict[str, float] = {}

    def post(self, url: str, body: dict[str, Any], timeout: float) -> requests.Response:
        origin = "/".join(url.split("/", 3)[:3])  # scheme://host:port
        now = time.monotonic()
        last = self._last_used.get(origin)
        if last is not None and now - last > REUSE_IDLE:
            self.session.close()  # closes the pooled connections; the session stays usable
            self._last_used.clear()
        try:
            return self.session.post(url, json=body, timeout=timeout)
        finally:
            self._last_used[origin] = time.monotonic()

    def close(self) -> None:
        self.session.close()


_Job = tuple[float, int, tuple[str, dict[str, Any], str, str]]  # (due, sequence, (url, body, kind, reference))


class CallbackDispatcher:
    def __init__(self, *, timeout: float, record: Callable[[dict[str, Any]], None]) -> None:
        self._timeout = timeout
        self._record = record
        self._lock = threading.Condition()  # signals wait_idle()
        self._scheduler_wake = threading.Condition(self._lock)
        self._sender_wake = threading.Condition(self._lock)
        self._scheduled: list[_Job] = []  # a heap, earliest due first
        self._due: collections.deque[_Job] = collections.deque()  # due, waiting for a sender
        self._sequence = itertools.count()
        self._scheduler: threading.Thread | None = None
        self._senders = 0  # sender threads alive or starting
        self._idle_senders = 0  # waiting for work (or woken for it and not yet running)
        self._last_extra_start = -OVERDUE  # when the last sender beyond KEEP_SENDERS was started (monotonic)
        self._in_flight = 0
        self._stopped = False

    def post_later(self, delay: float, url: str, body: dict[str, Any], *, kind: str, reference: str) -> None:
        """Post `body` to `url` after `delay` seconds, from a sender thread."""
        due = time.monotonic() + max(0.0, delay)
        start_scheduler = False
        with self._lock:
            if self._stopped:
                return
            sequence = next(self._sequence)
            heapq.heappush(self._scheduled, (due, sequence, (url, body, kind, reference)))
            if self._scheduler is None:
                self._scheduler = threading.Thread(
                    target=self._schedule, name="daraja-simulator-scheduler", daemon=True
                )
                start_scheduler = True
            elif self._scheduled[0][1] == sequence:  # due before what the scheduler sleeps for
                self._scheduler_wake.notify()
        if start_scheduler:
            self._scheduler.start()

    def post_now(self, url: str, body: dict[str, Any], *, kind: str, reference: str) -> int | None:
        """Post in this thread; returns the HTTP status, or None when the URL could not be reached."""
        return self._post(None, url, body, kind=kind, reference=reference)

    def _post(self, sender: _Sender | None, url: str, body: dict[str, Any], *, kind: str, reference: str) -> int | None:
        status: int | None = None
        error = ""
        try:
            if sender is None:
                response = requests.post(url, json=body, timeout=self._timeout)
            else:
                response = sender.post(url, body, self._timeout)
            status = response.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        shown = safe_url(url)
        if logger.isEnabledFor(logging.INFO):
            logger.info("Callback %s for %s to %s: %s", kind, reference, shown, status or error)
        self._record({"kind": kind, "reference": reference, "url": shown, "status": status, "error": error})
        return status

    def wait_idle(self, timeout: float) -> bool:
        """Block until no callback is scheduled or being posted; False if `timeout` passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._scheduled and not self._due and not self._in_flight, timeout)

    def stop(self) -> None:
        """Cancel every callback not yet posted; the ones being posted finish. The threads end."""
        with self._lock:
            self._stopped = True
            self._scheduled.clear()
            self._due.clear()
            self._lock.notify_all()
            self._scheduler_wake.notify_all()
            self._sender_wake.notify_all()

    # --- Threads -------------------------------------------------------------------------------------

    def _schedule(self) -> None:
        """The scheduler thread: moves callbacks to `_due` when their time comes and sees that senders run."""
        while True:
            with self._lock:
                while True:
                    if self._stopped:
                        return
                    now = time.monotonic()
                    while self._scheduled and self._scheduled[0][0] <= now:
                        self._due.append(heapq.heappop(self._scheduled))
                    wait = self._scheduled[0][0] - now if self._scheduled else None
                    waiting = len(self._due) - self._idle_senders  # due callbacks no sender is free for
                    start = 0
                    if waiting > 0:
                        self._sender_wake.notify(self._idle_senders)
                        if self._senders < KEEP_SENDERS:
                            start = min(waiting, KEEP_SENDERS - self._senders)
                        elif self._senders < MAX_SENDERS:
                            # Half as many senders again per OVERDUE seconds while a callback waits that
                            # long: a slow receiver does not hold the others back, a burst does not start dozens.
                            next_start = max(self._due[self._idle_senders][0], self._last_extra_start) + OVERDUE
                            if next_start <= now:
                                start = min(waiting, max(1, self._senders // 2), MAX_SENDERS - self._senders)
                                self._last_extra_start = now
                            else:
                                wait = next_start - now if wait is None else min(wait, next_start - now)
                    elif self._due:
                        self._sender_wake.notify(len(self._due))
                    if start:
                        self._senders += start
                        self._idle_senders += start  # counted as free from now: they take work as they start
                        break
                    self._scheduler_wake.wait(wait)
            for _ in range(start):
                self._start_sender()

    def _start_sender(self) -> None:
        try:
            threading.Thread(target=self._send, name="daraja-simulator-callbacks", daemon=True).start()
        except RuntimeError:  # no thread can start (interpreter shutting down): the callbacks stay due
            with self._lock:
                self._senders -= 1
                self._idle_senders -= 1
            logger.warning("Could not start a callback sender thread")

    def _send(self) -> None:
        """A sender thread: posts due callbacks, one at a time, through its own session."""
        sender = _Sender()
        try:
            while True:
                with self._lock:
                    # Counted idle while it waits (and from its start): the scheduler counts on it.
                    while not self._due:
                        if self._stopped:
                            self._senders -= 1
                            self._idle_senders -= 1
                            return
                        if not self._sender_wake.wait(IDLE_EXIT) and not self._due and self._senders > KEEP_SENDERS:
                            self._senders -= 1
                            self._idle_senders -= 1
                            return
                    _, _, (url, body, kind, reference) = self._due.popleft()
                    self._idle_senders -= 1
                    self._in_flight += 1
                try:
                    self._post(sender, url, body, kind=kind, reference=reference)
                except Exception:  # e.g. the ledger could not record it: the thread goes on
                    logger.exception("Callback %s for %s failed unexpectedly", kind, reference)
                finally:
                    with self._lock:
                        self._in_flight -= 1
                        self._idle_senders += 1
                        self._lock.notify_all()
        finally:
            sender.close()
