"""Rate limits that survive the cache going away.

DRF's throttles keep their counts in the default cache (Redis in deployment). With Redis down, reading the
count raises and every throttled request (a payout, a refund, an STK push) answered 500. Here each read and
write falls back to a count kept in this process: the limit then holds per process rather than across all of
them (N web processes let N times the rate through), which still bounds a flood, and requests are answered.
The log says `cache unavailable` at most once a minute per process.

Rates are scoped (`throttle_scope` on the view, `DEFAULT_THROTTLE_RATES` in settings) and read at each request,
so a setting changed in a test or by a reload applies at once.
"""

from __future__ import annotations

import logging
import math
import time

from django.core.cache import cache as shared_cache
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)

_local = LocMemCache("throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
_WARN_EVERY_SECONDS = 60.0
_warned_at = float("-inf")


def _warn() -> None:
    global _warned_at
    now = time.monotonic()
    if now - _warned_at >= _WARN_EVERY_SECONDS:
        _warned_at = now
        logger.warning("cache unavailable; rate limits counted in this process only")


class _SharedOrLocal:
    """The cache interface DRF's throttle uses (get, set), on the shared cache while it answers."""

    def get(self, key, default=None):
        try:
            return shared_cache.get(key, default)
        except Exception:  # noqa: BLE001 - Redis down: a rate limit must never turn a request into a 500
            _warn()
            return _local.get(key, default)

    def set(self, key, value, timeout=None):
        try:
            shared_cache.set(key, value, timeout)
        except Exception:  # noqa: BLE001 - as above
            _warn()
            _local.set(key, value, timeout)


shared_or_local = _SharedOrLocal()


class TolerantScopedRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle, per user (or address when anonymous), counting in this process when Redis is down."""

    cache = shared_or_local

    @property
    def THROTTLE_RATES(self):  # noqa: N802 - DRF's name; read at each request, not once at import
        return api_settings.DEFAULT_THROTTLE_RATES


class _Scope:
    """What DRF's scoped throttle asks of a view: its scope."""

    def __init__(self, scope: str) -> None:
        self.throttle_scope = scope


def throttle_wait(request, *, scope: str) -> int | None:
    """For a page outside DRF (the admin's console): None when the request may go on, else the seconds to wait.
    Counts against the same scoped rate as an API view with `throttle_scope = scope`."""
    throttle = TolerantScopedRateThrottle()
    if throttle.allow_request(request, _Scope(scope)):
        return None
    return math.ceil(throttle.wait() or 1)


def forget_local_counts() -> None:
    """Tests: start from no fallback counts, and warn again."""
    global _warned_at
    _warned_at = float("-inf")
    _local.clear()
