"""The webhooks' two hand-written SQL paths (PostgreSQL only; elsewhere the ORM does the same). Each runs on
every payout status change that raises an event, inside the change's transaction, so each saves statements
there; what they earn is measured in bench/README.md ("Session 10: the webhooks' two SQL paths") and they
are listed in docs/architecture.md ("Hand-written SQL").

- `payout_related_row`: a payout's requester, active approvals, editors and audit trail in ONE query (JSON
  aggregates) instead of the four a fresh `payout_detail()` costs (webhooks/representation.py).
- `event_with_deliveries_insert`: the event and a pending delivery to every enabled endpoint subscribed to its
  type in ONE statement (a data-modifying WITH) instead of an INSERT, a SELECT and a bulk INSERT
  (webhooks/services/events.py).
"""

from __future__ import annotations

import json
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from payments.models import AuditEvent, Payout, PayoutApproval, PayoutEditor
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


def payout_related_row(payout: Payout) -> tuple:
    """(requester's username, approvals, editors, events): the three lists as JSON (text or decoded)."""
    with connection.cursor() as cursor:
        cursor.execute(_related_sql(), [payout.pk, payout.pk, payout.pk, payout.requested_by_id])
        return cursor.fetchone()


@lru_cache(maxsize=1)
def _related_sql() -> str:
    q = connection.ops.quote_name
    users, approvals, editors, events = (
        q(m._meta.db_table) for m in (get_user_model(), PayoutApproval, PayoutEditor, AuditEvent)
    )
    # Ordered as payments/selectors/payouts.py orders them: approvals and events by (created_at, id), editors as
    # PayoutEditor.Meta orders them (first_edited_at, id).
    return f"""
        SELECT u.username,
          (SELECT COALESCE(json_agg(json_build_object('approver', au.username, 'created_at', a.created_at)
                                    ORDER BY a.created_at, a.id), '[]')
             FROM {approvals} a JOIN {users} au ON au.id = a.approver_id
            WHERE a.payout_id = %s AND a.voided_at IS NULL),
          (SELECT COALESCE(json_agg(json_build_object(
                    'user', du.username, 'fields', d.fields, 'changed_bound', d.changed_bound,
                    'first_edited_at', d.first_edited_at, 'last_edited_at', d.last_edited_at)
                    ORDER BY d.first_edited_at, d.id), '[]')
             FROM {editors} d JOIN {users} du ON du.id = d.user_id
            WHERE d.payout_id = %s),
          (SELECT COALESCE(json_agg(json_build_object(
                    'action', e.action, 'from_status', e.from_status, 'to_status', e.to_status,
                    'actor_id', e.actor_id, 'actor', eu.username, 'source', e.source, 'details', e.details,
                    'created_at', e.created_at) ORDER BY e.created_at, e.id), '[]')
             FROM {events} e LEFT JOIN {users} eu ON eu.id = e.actor_id
            WHERE e.payout_id = %s)
        FROM {users} u WHERE u.id = %s
    """


def event_with_deliveries_insert(event: WebhookEvent) -> list[int]:
    """The event and a pending delivery to every enabled endpoint subscribed to its type, in one statement
    (a data-modifying WITH): the delivery ids."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _insert_sql(),
            [event.event_id, event.type, event.object_key, event.payout_id, event.payment_id, event.body,
             event.created_at, event.object_key, now, now, now, json.dumps([event.type])],
        )
        return [row[0] for row in cursor.fetchall()]


@lru_cache(maxsize=1)
def _insert_sql() -> str:
    q = connection.ops.quote_name
    events, deliveries, endpoints = (q(m._meta.db_table) for m in (WebhookEvent, WebhookDelivery, WebhookEndpoint))
    return f"""
        WITH e AS (
            INSERT INTO {events} (event_id, type, object_key, payout_id, payment_id, body, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id
        )
        INSERT INTO {deliveries} (endpoint_id, event_id, object_key, status, attempts, next_attempt_at,
                                  claim_token, response_excerpt, last_error, created_at, updated_at)
        SELECT ep.id, e.id, %s, 'pending', 0, %s, '', '', '', %s, %s
          FROM e JOIN {endpoints} ep
            ON ep.enabled AND (ep.events @> '["*"]'::jsonb OR ep.events @> %s::jsonb)
         ORDER BY ep.id
        RETURNING id
    """
