"""The endpoints Safaricom posts to. They store the raw request, process it, and answer in milliseconds;
nothing here makes an outbound call."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.callbacks.network import client_ip, ip_allowed
from payments.callbacks.tokens import TOKEN_SCOPE, static_token_matches
from payments.models import CallbackOutcome, DarajaCallback
from payments.services.callbacks import (
    callback_log_rejection,
    callback_process,
    callback_reject_stored,
    callback_store,
    payout_token_known,
)
from payments.signals import callback_rejected

UNKNOWN_URL = "Unknown callback URL."

# Headers worth keeping for forensics; credentials and cookies are never stored.
_DROPPED_HEADERS = {"HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_PROXY_AUTHORIZATION"}


def _headers(request: HttpRequest) -> dict[str, str]:
    kept = {
        key[5:].replace("_", "-").title(): value
        for key, value in request.META.items()
        if key.startswith("HTTP_") and key not in _DROPPED_HEADERS
    }
    if request.META.get("CONTENT_TYPE"):
        kept["Content-Type"] = request.META["CONTENT_TYPE"]
    return kept


def _answer(status: int, message: str) -> HttpResponse:
    code = 0 if status == 200 else 1
    return HttpResponse(
        json.dumps({"ResultCode": code, "ResultDesc": message}), status=status, content_type="application/json"
    )


def _reject(request, *, kind: str, status: int, reason: str, ip: str | None, body: str = "") -> HttpResponse:
    callback = callback_store(
        kind=kind,
        raw_body=body,
        headers=_headers(request),
        source_ip=ip,
        path=request.path,
        outcome=CallbackOutcome.REJECTED,
        error=reason,
        http_status=status,
    )
    return _rejected(callback)


def _rejected(callback: DarajaCallback) -> HttpResponse:
    callback_log_rejection(callback)
    callback_rejected.send(sender=type(callback), callback=callback)
    return _answer(callback.http_status, callback.error)


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The body, or None when it is over the limit (judged on what arrives, not on Content-Length alone)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def make_callback_view(name: str, kind: str):
    scope = TOKEN_SCOPE[name]

    @csrf_exempt
    @require_POST
    @transaction.non_atomic_requests
    def view(request: HttpRequest, token: str) -> HttpResponse:
        ip = client_ip(request)
        if not ip_allowed(ip):
            return _reject(request, kind=kind, status=403, reason="Source address not allowed.", ip=ip)
        if scope != "payout" and not static_token_matches(scope, token):
            return _reject(request, kind=kind, status=404, reason=UNKNOWN_URL, ip=ip)
        limit = settings.CALLBACK_MAX_BODY_BYTES
        body = _read_body(request, limit)
        if body is None:
            if scope == "payout" and not payout_token_known(token):
                return _reject(request, kind=kind, status=404, reason=UNKNOWN_URL, ip=ip)
            return _reject(request, kind=kind, status=413, reason=f"Body over {limit // 1024} KB.", ip=ip)
        callback = callback_store(
            kind=kind,
            raw_body=body.decode("utf-8", errors="replace"),
            headers=_headers(request),
            source_ip=ip,
            path=request.path,
            # A payout URL's token is looked up by the INSERT that stores the request: one round trip.
            payout_token=token if scope == "payout" else None,
        )
        if scope == "payout" and callback.payout_id is None:
            callback_reject_stored(callback, status=404, reason=UNKNOWN_URL)
            return _rejected(callback)
        handled = callback_process(callback=callback)
        return _answer(handled.http_status, handled.message)

    view.__name__ = f"callback_{kind}"
    return view
