"""Intake: a callback request committed as received, before anything parses it. Processing reads the row
afterwards (processing.py), so a body we cannot parse is still kept."""

from __future__ import annotations

from functools import lru_cache

from django.db import connection
from django.utils import timezone

from core.field_widths import truncate_to
from core.sql_row_writes import insert_row, update_row
from daraja import callbacks as parse
from payments.callbacks.masking import mask_callback_tokens
from payments.models import CallbackOutcome, DarajaCallback, Payout

UNKNOWN_URL = "Unknown callback URL."


def callback_store(
    *,
    kind: str,
    raw_body: str,
    headers: dict,
    source_ip: str | None,
    path: str,
    payout_token: str | None = None,
    outcome: str = CallbackOutcome.RECEIVED,
    error: str = "",
    http_status: int | None = None,
) -> DarajaCallback:
    """Commit the request as received, before anything parses it (credentials already redacted).

    `payout_token`: a payout URL's token; the same INSERT looks up whose it is (`payout_id` is None on the
    returned row when the token is nobody's)."""
    callback = DarajaCallback(
        kind=kind,
        # PostgreSQL text cannot hold NUL; keep everything else byte for byte, but for the credentials and
        # callback tokens a timeout echo carries back (its ResultURL and QueueTimeOutURL).
        raw_body=mask_callback_tokens(parse.redact_secrets(raw_body)).replace("\x00", "\ufffd"),
        headers={name: mask_callback_tokens(value) for name, value in headers.items()},  # a Referer names a URL
        source_ip=source_ip,
        path=truncate_to(DarajaCallback, "path", mask_callback_tokens(path)),
        outcome=outcome,
        error=error,
        http_status=http_status,
        processed_at=timezone.now() if outcome != CallbackOutcome.RECEIVED else None,
    )
    if payout_token is None:
        return insert_row(callback)
    # The same INSERT looks the payout up by its token: one round trip for the store (core/sql_row_writes.py).
    return insert_row(callback, computed={"payout": (_payout_by_token_sql(), [payout_token])})


@lru_cache(maxsize=1)
def _payout_by_token_sql() -> str:
    quote = connection.ops.quote_name
    return "(SELECT {pk} FROM {table} WHERE {token} = %s)".format(
        pk=quote(Payout._meta.pk.column),
        table=quote(Payout._meta.db_table),
        token=quote(Payout._meta.get_field("callback_token").column),
    )


def payout_token_known(token: str) -> bool:
    """Whether a payout URL's token is anyone's (for a request refused before it is stored)."""
    return Payout.objects.filter(callback_token=token).exists()


def callback_reject_stored(callback: DarajaCallback, *, status: int, reason: str, headers: dict | None = None) -> None:
    """Mark a stored request as refused (an unknown URL found by the store itself); `headers`: what to keep
    of its headers instead (a refused request keeps only a few named ones)."""
    callback.outcome = CallbackOutcome.REJECTED
    callback.http_status = status
    callback.error = reason
    callback.processed_at = timezone.now()
    fields = ("outcome", "http_status", "error", "processed_at")
    if headers is not None:
        callback.headers = {name: mask_callback_tokens(value) for name, value in headers.items()}
        fields += ("headers",)
    update_row(callback, fields)
