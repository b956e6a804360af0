"""The endpoints Safaricom posts to. They store the raw request, process it, and answer in milliseconds;
nothing here makes an outbound call."""

from __future__ import annotations

import json
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.callbacks.intake import UNKNOWN_URL, callback_reject_stored, callback_store, payout_token_known
from payments.callbacks.log_line import callback_log_line
from payments.callbacks.network import client_ip, ip_allowed
from payments.callbacks.processing import callback_process
from payments.callbacks.tokens import TOKEN_SCOPE, static_token_matches
from payments.models import CallbackOutcome, DarajaCallback
from payments.signals import callback_rejected

logger = logging.getLogger("payments.callbacks")

UNAVAILABLE = "Temporarily unable to store the callback; please send it again."

# Headers worth keeping for forensics; credentials and cookies are never stored.
_DROPPED_HEADERS = {"HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_PROXY_AUTHORIZATION"}
# A refused request keeps only these, each cut short: a few KB at most, whatever it was sent with.
_REJECTED_HEADERS = (
    "HTTP_HOST", "HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED", "HTTP_REFERER",
    "HTTP_ACCEPT", "HTTP_CONTENT_ENCODING", "HTTP_TRANSFER_ENCODING", "CONTENT_LENGTH",
)  # fmt: skip
_REJECTED_HEADER_CHARS = 256


def _name(key: str) -> str:
    return key.removeprefix("HTTP_").replace("_", "-").title()


def _headers(request: HttpRequest) -> dict[str, str]:
    kept = {
        _name(key): value
        for key, value in request.META.items()
        if key.startswith("HTTP_") and key not in _DROPPED_HEADERS
    }
    if request.META.get("CONTENT_TYPE"):
        kept["Content-Type"] = request.META["CONTENT_TYPE"]
    return kept


def _rejected_headers(request: HttpRequest) -> dict[str, str]:
    """At most ~3 KB: the named headers that say who sent it and how, each cut to 256 characters."""
    kept = {
        _name(key): str(request.META[key])[:_REJECTED_HEADER_CHARS]
        for key in _REJECTED_HEADERS
        if request.META.get(key)
    }
    if request.META.get("CONTENT_TYPE"):
        kept["Content-Type"] = request.META["CONTENT_TYPE"][:_REJECTED_HEADER_CHARS]
    return kept


def _answer(status: int, message: str) -> HttpResponse:
    code = 0 if status == 200 else 1
    return HttpResponse(
        json.dumps({"ResultCode": code, "ResultDesc": message}), status=status, content_type="application/json"
    )


def _with_one_reconnect(operation):
    """Run a write; if the database connection dropped under it, once more on a fresh connection. A second
    failure propagates (the view answers 503: Safaricom sends it again)."""
    try:
        return operation()
    except (OperationalError, InterfaceError) as exc:
        logger.warning("database connection lost storing a callback (%s); retrying once", exc.__class__.__name__)
        if not connection.in_atomic_block:
            connection.close()
        return operation()


# --- Refused requests: stored up to a rate per address, then only counted ----------------------------------

_local_counts: dict[tuple[str, int], int] = {}
_local_lock = threading.Lock()


def _count_locally(key: tuple[str, int]) -> int:
    with _local_lock:
        if len(_local_counts) > 10_000:
            _local_counts.clear()
        _local_counts[key] = _local_counts.get(key, 0) + 1
        return _local_counts[key]


def _rejections_this_minute(ip: str | None) -> int:
    """How many requests from `ip` were refused this minute, this one included. Shared through the cache; when
    the cache is down, counted per process (logged), so the endpoint still answers."""
    minute = int(time.time() // 60)
    key = f"payments:callbacks-refused:{ip or '-'}:{minute}"
    try:
        cache.add(key, 0, timeout=120)
        return cache.incr(key)
    except Exception as exc:  # noqa: BLE001 - a throttle must never turn a refusal into a 500
        count = _count_locally((ip or "-", minute))
        if count == 1:
            logger.warning("cache unavailable (%s); counting refused callbacks per process", exc.__class__.__name__)
        return count


def _over_rate(ip: str | None) -> bool:
    limit = settings.CALLBACK_REJECTED_STORE_PER_MINUTE
    count = _rejections_this_minute(ip)
    if count <= limit:
        return False
    if count == limit + 1 or count % 1000 == 0:
        logger.warning(
            "callback requests refused from ip=%s: %d this minute; beyond %d a minute they are counted, not stored",
            ip or "-",
            count,
            limit,
        )
    return True


def _reject(request, *, kind: str, status: int, reason: str, ip: str | None) -> HttpResponse:
    if _over_rate(ip):
        return _answer(status, reason)
    try:
        callback = _with_one_reconnect(
            lambda: callback_store(
                kind=kind,
                raw_body="",
                headers=_rejected_headers(request),
                source_ip=ip,
                path=request.path,
                outcome=CallbackOutcome.REJECTED,
                error=reason,
                http_status=status,
            )
        )
    except DatabaseError as exc:
        # Refused either way; not being able to keep a record of it changes nothing for the caller.
        logger.error("could not store a refused callback request (%s)", exc.__class__.__name__)
        return _answer(status, reason)
    return _rejected(callback)


def _rejected(callback: DarajaCallback) -> HttpResponse:
    callback_log_line(callback)
    callback_rejected.send(sender=type(callback), callback=callback)
    return _answer(callback.http_status, callback.error)


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The body, or None when it is over the limit (judged on what arrives, not on Content-Length alone).

    A chunked body has no Content-Length, and Django reads nothing of a request without one: it is read
    from the server's input stream (gunicorn decodes the chunks) up to the limit."""
    length = request.META.get("CONTENT_LENGTH")
    try:
        declared = int(length or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return _read_chunked(request.META["wsgi.input"], limit)
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def _read_chunked(stream, limit: int) -> bytes | None:
    parts, size = [], 0
    while size <= limit:
        part = stream.read(limit + 1 - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return None if size > limit else b"".join(parts)


def make_callback_view(name: str, kind: str):
    scope = TOKEN_SCOPE[name]

    def handle(request: HttpRequest, token: str) -> HttpResponse:
        ip = client_ip(request)
        if not ip_allowed(ip):
            return _reject(request, kind=kind, status=403, reason="Source address not allowed.", ip=ip)
        if scope != "payout" and not static_token_matches(scope, token):
            return _reject(request, kind=kind, status=404, reason=UNKNOWN_URL, ip=ip)
        limit = settings.CALLBACK_MAX_BODY_BYTES
        body = _read_body(request, limit)
        if body is None:
            if scope == "payout" and not _with_one_reconnect(lambda: payout_token_known(token)):
                return _reject(request, kind=kind, status=404, reason=UNKNOWN_URL, ip=ip)
            return _reject(request, kind=kind, status=413, reason=f"Body over {limit // 1024} KB.", ip=ip)
        # A 200 promises the request is stored: the row is committed (autocommit) before anything parses it.
        callback = _with_one_reconnect(
            lambda: callback_store(
                kind=kind,
                raw_body=body.decode("utf-8", errors="replace"),
                headers=_headers(request),
                source_ip=ip,
                path=request.path,
                # A payout URL's token is looked up by the INSERT that stores the request: one round trip.
                payout_token=token if scope == "payout" else None,
            )
        )
        if scope == "payout" and callback.payout_id is None:
            # Nobody's token: found by the INSERT itself, so the row exists; it keeps only the named headers,
            # and beyond the rate it is taken back (counted, not stored).
            if _over_rate(ip):
                DarajaCallback.objects.filter(pk=callback.pk).delete()
                return _answer(404, UNKNOWN_URL)
            callback_reject_stored(callback, status=404, reason=UNKNOWN_URL, headers=_rejected_headers(request))
            return _rejected(callback)
        handled = callback_process(callback=callback)
        return _answer(handled.http_status, handled.message)

    @csrf_exempt
    @require_POST
    @transaction.non_atomic_requests
    def view(request: HttpRequest, token: str) -> HttpResponse:
        try:
            return handle(request, token)
        except DatabaseError as exc:
            # Not stored (even on a fresh connection): no 200, so Safaricom delivers it again.
            logger.error(
                "callback kind=%s not stored: database unavailable (%s); answered 503", kind, exc.__class__.__name__
            )
            return _answer(503, UNAVAILABLE)

    view.__name__ = f"callback_{kind}"
    return view
