"""The one log line each callback leaves: ids, outcome and a masked phone, never a body or a token."""

from __future__ import annotations

import logging

from core.phone import mask_msisdn
from payments.models import DarajaCallback

logger = logging.getLogger("payments.callbacks")


def callback_log_line(callback: DarajaCallback) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    # Only what processing already loaded: a log line is not worth a query.
    payout = callback.payout if DarajaCallback.payout.is_cached(callback) else None
    payment = callback.payment if DarajaCallback.payment.is_cached(callback) else None
    phone = payout.phone if payout else (payment.phone if payment else "")
    logger.info(
        "callback kind=%s outcome=%s http=%s id=%s payout=%s payment=%s ocid=%s conversation=%s receipt=%s "
        "result=%s phone=%s ip=%s",
        callback.kind,
        callback.outcome,
        callback.http_status,
        callback.pk,
        callback.payout_id or "-",
        callback.payment_id or "-",
        callback.originator_conversation_id or "-",
        callback.conversation_id or "-",
        callback.transaction_id or "-",
        callback.result_code or "-",
        mask_msisdn(phone) or "-",
        callback.source_ip or "-",
    )
