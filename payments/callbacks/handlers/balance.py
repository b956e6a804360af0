"""Account Balance results and timeouts: the float reading of record."""

from __future__ import annotations

from core.field_widths import truncate_to
from daraja import callbacks as parse
from daraja.result_codes import Namespace, classify
from payments.callbacks.handlers.common import Handled, link
from payments.models import CallbackOutcome, DarajaCallback, FloatSource
from payments.payouts.settlement import float_record


def balance_timeout(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    notice = parse.parse_balance_timeout(data)
    link(callback, result_code=truncate_to(DarajaCallback, "result_code", notice.result_code))
    return Handled(CallbackOutcome.PROCESSED, message="Account Balance query timed out; no reading recorded")


def balance_result(callback: DarajaCallback, payout_id: int | None, data: dict) -> Handled:
    balance = parse.parse_balance_result(data)
    link(callback, result_code=truncate_to(DarajaCallback, "result_code", balance.result_code))
    if not classify(Namespace.B2C, balance.result_code).is_success:
        return Handled(CallbackOutcome.PROCESSED, message="Balance query failed; no reading recorded")
    if balance.utility_available is None and balance.working_available is None:
        return Handled(
            CallbackOutcome.PROCESSED,
            message="Balance read: neither a Utility nor a Working Account in the answer; no reading recorded",
        )
    # What is there is stored: a Working Account alone is still a reading (its Utility stays unknown).
    float_record(
        utility_available=balance.utility_available,
        working_available=balance.working_available,
        source=FloatSource.BALANCE_QUERY,
        callback=callback,
    )
    return Handled(CallbackOutcome.PROCESSED)
