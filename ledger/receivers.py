"""The float drift check listens to every float reading (Account Balance results, B2C results' available
funds), in the reading's transaction, in a savepoint: a check that cannot be made never loses the reading."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from notifications.receivers import guarded
from payments.models import FloatBalance
from payments.signals import float_updated

logger = logging.getLogger("ledger")


@receiver(float_updated, sender=FloatBalance, dispatch_uid="ledger.float_updated")
@guarded
def on_float_updated(sender, balance, **kwargs):
    from ledger.services.checks import float_reading_check

    float_reading_check(reading=balance)
