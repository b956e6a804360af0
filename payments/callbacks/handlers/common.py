"""What every callback handler shares: the answer it gives (`Handled`) and how it ties the stored row to the
payout its URL names."""

from __future__ import annotations

from dataclasses import dataclass

from payments.models import DarajaCallback, EventSource, Payout
from payments.payouts.lifecycle import payout_lock

SOURCE = EventSource.CALLBACK


@dataclass
class Handled:
    outcome: str
    http_status: int = 200
    message: str = "Accepted"
    mismatch: bool = False


def link(callback: DarajaCallback, **fields) -> None:
    for name, value in fields.items():
        setattr(callback, name, value)


def lock_payout(callback: DarajaCallback, payout_id: int, *, receipt: str = "") -> Payout:
    """The callback URL's payout, locked for the rest of the processing transaction."""
    payout = payout_lock(payout_id=payout_id, receipt=receipt)
    callback.payout = payout
    return payout
