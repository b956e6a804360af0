"""An event's `data`: the REST API's own detail representation of the object (payments/api/serializers.py),
built at the moment of the event, inside its transaction.

This runs on every payout status change, so it is kept cheap: the payout's fields come from the row the
caller already holds (it has its new status), and on PostgreSQL its requester, active approvals, editors and
audit trail come in ONE query (`webhooks/event_sql.py`) instead of the four a fresh `payout_detail()` costs; the
serializer is then given them as `payout_detail()` would (`active_approvals`, `editor_list`, `event_list`).
Elsewhere the selector is used as it is.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.db import connection

from payments.models import Payment, Payout
from webhooks.event_sql import payout_related_row


@lru_cache(maxsize=4)
def _serializer(name: str):
    """One instance per serializer class and process: a ModelSerializer builds its fields on first use (for the
    payout's, that costs more than its query); `to_representation` only reads them, so one instance serves every
    event."""
    from payments.api import serializers

    return getattr(serializers, name)()


def payment_data(payment: Payment) -> dict:
    return dict(_serializer("PaymentSerializer").to_representation(payment))


def payout_data(payout: Payout) -> dict:
    from payments import selectors

    if connection.vendor != "postgresql" or _has_expressions(payout):
        fresh = selectors.payout_detail().get(pk=payout.pk)
        return dict(_serializer("PayoutDetailSerializer").to_representation(fresh))
    username, approvals, editors, events = payout_related_row(payout)
    view = copy.copy(payout)  # a copy with its own state: the caller's instance is left as it is
    user = get_user_model()(pk=payout.requested_by_id, username=username)
    view.requested_by = user
    view.active_approvals = [
        SimpleNamespace(approver=SimpleNamespace(username=a["approver"]), created_at=_when(a["created_at"]))
        for a in _json(approvals)
    ]
    view.editor_list = [
        SimpleNamespace(
            user=SimpleNamespace(username=e["user"]), fields=e["fields"], changed_bound=e["changed_bound"],
            first_edited_at=_when(e["first_edited_at"]), last_edited_at=_when(e["last_edited_at"]),
        )
        for e in _json(editors)
    ]
    view.event_list = [
        SimpleNamespace(
            action=e["action"], from_status=e["from_status"], to_status=e["to_status"], source=e["source"],
            details=e["details"], created_at=_when(e["created_at"]), actor_id=e["actor_id"],
            actor=SimpleNamespace(username=e["actor"]) if e["actor_id"] else None,
        )
        for e in _json(events)
    ]
    return dict(_serializer("PayoutDetailSerializer").to_representation(view))


def _has_expressions(instance) -> bool:
    """A field the caller set to an expression (F() + 1): its value is only in the database."""
    fields = instance._meta.concrete_fields
    return any(hasattr(getattr(instance, f.attname, None), "resolve_expression") for f in fields)


def _json(value):
    return json.loads(value) if isinstance(value, str) else (value or [])


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)
