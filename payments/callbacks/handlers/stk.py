"""STK push callbacks: the customer's answer to a payment prompt we sent, parsed here and applied to its
payment by the payment lifecycle (payments/incoming/stk.py)."""

from __future__ import annotations

from core.field_widths import truncate_to
from daraja import callbacks as parse
from payments.callbacks.handlers.common import Handled, link
from payments.incoming.stk import stk_answer_record
from payments.models import DarajaCallback


def stk_result(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    result = parse.parse_stk_callback(data)
    link(
        callback,
        transaction_id=truncate_to(DarajaCallback, "transaction_id", result.receipt),
        result_code=truncate_to(DarajaCallback, "result_code", result.result_code),
    )
    settled = stk_answer_record(callback=callback, result=result)
    return Handled(settled.outcome, message=settled.message, mismatch=settled.mismatch)
