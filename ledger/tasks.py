"""Periodic ledger work (Celery beat, hourly): alert payouts whose money has been in flight too long."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="ledger.tasks.check_in_flight")
def check_in_flight() -> int:
    from ledger.services.alerts import in_flight_alerts_create

    return in_flight_alerts_create()
