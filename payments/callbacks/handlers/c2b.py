"""C2B confirmations and validations: money a customer sent to our paybill or till on their own, parsed here
and recorded by the payment lifecycle (payments/incoming/c2b.py)."""

from __future__ import annotations

from daraja import callbacks as parse
from payments.callbacks.handlers.common import Handled, link
from payments.incoming.c2b import c2b_confirmation_record
from payments.models import CallbackOutcome, DarajaCallback


def c2b_confirmation(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    confirmation = parse.parse_c2b(data)
    link(callback, transaction_id=confirmation.transaction_id)
    settled = c2b_confirmation_record(callback=callback, confirmation=confirmation)
    return Handled(settled.outcome, message=settled.message, mismatch=settled.mismatch)


def c2b_validation(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    return Handled(CallbackOutcome.PROCESSED)
