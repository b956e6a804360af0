"""The ledger checked against M-Pesa's own numbers: each float reading against `mpesa_utility`."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from ledger import accounts, selectors
from ledger.models import FloatCheck, JournalTransaction
from payments.models import FloatBalance


def likely_cause(drift: Decimal) -> str:
    if drift > 0:
        return (
            "M-Pesa holds more than the ledger: most likely a top-up or transfer in that was never recorded "
            "(enter it, or the opening balance, under four eyes), or a payout recorded as sent that M-Pesa never paid."
        )
    return (
        "M-Pesa holds less than the ledger: most likely charges not yet posted (reconcile the statement), "
        "or a payout the ledger does not know (paid outside this system)."
    )


NOT_FUNDED = (
    "The ledger has no opening balance or top-up of mpesa_utility yet: enter the float's opening balance "
    "(four eyes) so readings can be compared."
)


def float_reading_check(*, reading: FloatBalance) -> FloatCheck:
    """Compare a float reading with the ledger at that moment. M-Pesa may not yet have taken the payouts in
    flight, so any reading between the ledger's float and the ledger's float plus what is in flight agrees;
    outside that range by more than FLOAT_DRIFT_ALERT_KES is a drift: listed while it is the latest reading,
    and alerted once per drift (when the reading before agreed). Until the ledger's float has been funded
    (an opening balance or a top-up) the drift is listed, saying so, but not alerted."""
    balances = selectors.account_balances([accounts.MPESA_UTILITY, accounts.PAYOUTS_IN_FLIGHT])
    ledger_float = balances.get(accounts.MPESA_UTILITY, Decimal("0"))
    in_flight = max(balances.get(accounts.PAYOUTS_IN_FLIGHT, Decimal("0")), Decimal("0"))
    reported = reading.utility_available
    if reported < ledger_float:
        drift = reported - ledger_float
    elif reported > ledger_float + in_flight:
        drift = reported - (ledger_float + in_flight)
    else:
        drift = Decimal("0.00")
    flagged = abs(drift) > settings.FLOAT_DRIFT_ALERT_KES
    funded = flagged and JournalTransaction.objects.filter(kind="funding").exists()
    previous = FloatCheck.objects.order_by("-observed_at", "-id").values_list("flagged", flat=True).first()
    cause = (likely_cause(drift) if funded else NOT_FUNDED) if flagged else ""
    check = FloatCheck.objects.create(
        reading=reading, observed_at=reading.observed_at, reported=reported, ledger_balance=ledger_float,
        in_flight=in_flight, drift=drift, flagged=flagged, likely_cause=cause,
    )
    if funded and not previous:
        from notifications.alerts import float_drift_alert_create

        float_drift_alert_create(check=check)
    return check
