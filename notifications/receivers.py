"""Signal receivers: the ledger's events become outbox rows in the same transaction.

Every receiver runs its work in a savepoint and swallows (and logs) any error: a notification that cannot be
recorded must never fail the callback or the payout that caused it.
"""

from __future__ import annotations

import logging
from functools import wraps

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from notifications import alerts
from payments.models import DarajaCallback, FloatBalance, Payment, Payout, PayoutKind
from payments.signals import (
    callback_failed,
    callback_rejected,
    float_updated,
    payment_received,
    payout_status_changed,
)

logger = logging.getLogger("notifications")


def guarded(func):
    """Run a receiver in a savepoint: on any error, roll back to it and log; the caller's work goes on.

    On success the savepoint is left for the caller's COMMIT to release (PostgreSQL releases every savepoint
    at commit): no RELEASE round trip for each alert of each B2C result. This reaches into Django's private
    `savepoint_ids` (as transaction.atomic() does) because it measured its keep: with transaction.atomic()
    instead, a first B2C result ran 14 statements instead of 12 and intake fell 10-25% (bench/README.md,
    session 6). Outside a transaction (autocommit)
    there is no savepoint and a failed statement takes only itself back."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        connection = transaction.get_connection()
        savepoint = transaction.savepoint()
        if savepoint:
            # As transaction.atomic() does: on_commit hooks added inside (the doorbell for new rows) are tagged
            # with this savepoint, so rolling back to it drops them with the rows.
            connection.savepoint_ids.append(savepoint)
        try:
            func(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the caller's work matters more than its notification
            if savepoint:
                transaction.savepoint_rollback(savepoint)
            logger.exception("could not record notifications in %s; the event itself is unaffected", func.__name__)
        finally:
            if savepoint:
                connection.savepoint_ids.remove(savepoint)

    return wrapper


@guarded
def _payout_admin_alerts(payout, event, old_status, new_status):
    alerts.payout_alerts_create(payout=payout, event=event, old_status=old_status, new_status=new_status)


@guarded
def _payout_customer_alerts(payout, new_status):
    alerts.customer_alerts_create(payout=payout, new_status=new_status)


@receiver(payout_status_changed, sender=Payout, dispatch_uid="notifications.payout_status_changed")
def on_payout_status_changed(sender, payout, event, old_status, new_status, **kwargs):
    # Two savepoints: the admins' alert and the customer's message stand or fall on their own. A change that
    # raises neither costs nothing (no savepoint round trip on a send's sending and submitted steps).
    if new_status in alerts.ADMIN_ALERT_STATUSES:
        _payout_admin_alerts(payout, event, old_status, new_status)
    if (
        new_status in alerts.CUSTOMER_ALERT_STATUSES
        and getattr(settings, "NOTIFY_CUSTOMERS", False)
        and payout.kind == PayoutKind.REFUND
    ):
        _payout_customer_alerts(payout, new_status)


@receiver(payment_received, sender=Payment, dispatch_uid="notifications.payment_received")
@guarded
def on_payment_received(sender, payment, event=None, **kwargs):
    alerts.payment_alerts_create(payment=payment)


@receiver(float_updated, sender=FloatBalance, dispatch_uid="notifications.float_updated")
@guarded
def on_float_updated(sender, balance, **kwargs):
    alerts.low_balance_alert_create(balance=balance)


@receiver(callback_rejected, sender=DarajaCallback, dispatch_uid="notifications.callback_rejected")
@guarded
def on_callback_rejected(sender, callback, **kwargs):
    alerts.rejected_callbacks_alert_create(callback=callback)


@receiver(callback_failed, sender=DarajaCallback, dispatch_uid="notifications.callback_failed")
@guarded
def on_callback_failed(sender, callback, **kwargs):
    alerts.callback_error_alert_create(callback=callback)
