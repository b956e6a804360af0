"""Alerts raised from the ledger, through the notifications app (each deduplicated there)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from ledger import selectors


def in_flight_alerts_create(*, now: datetime | None = None) -> int:
    """One alert per `sent` posting older than PAYOUT_IN_FLIGHT_ALERT_HOURS still in flight; the alert's
    key makes a second run alert nothing new. Returns how many were raised."""
    from notifications.alerts import payout_in_flight_alert_create

    raised = 0
    with transaction.atomic():
        for sent in selectors.in_flight_stale(now=now).iterator():
            if sent.payout_id is None:
                continue
            if payout_in_flight_alert_create(payout=sent.payout, sent_transaction_id=sent.pk, since=sent.posted_at):
                raised += 1
    return raised
