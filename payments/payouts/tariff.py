"""The charge M-Pesa is expected to take for a payout, from the tariff table (payments.models.TariffBand):
shown when it is requested and approved, added to the amount in the float check at send (limits.py) and
compared with the charge its result reports (a discrepancy when they differ). docs/charges.md."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from payments.models import PayoutRail, TariffBand, TariffGroup

# The tariff group of each rail; a top-up moves money between the organisation's own accounts and a reversal's
# charge is Safaricom's to report: neither has an expected charge.
RAIL_GROUPS = {
    PayoutRail.MOBILE: TariffGroup.B2C,
    PayoutRail.POCHI: TariffGroup.B2C,
    PayoutRail.PAYBILL: TariffGroup.B2B,
    PayoutRail.TILL: TariffGroup.B2B,
}


def expected_charge(rail: str, amount: Decimal, *, at=None) -> Decimal | None:
    """The charge of the band `amount` falls in for `rail`'s group, the latest one valid at `at` (now); None
    when the rail has no tariff or no band covers the amount."""
    group = RAIL_GROUPS.get(rail)
    if group is None:
        return None
    band = (
        TariffBand.objects.filter(group=group, min_amount__lte=amount, max_amount__gte=amount,
                                  valid_from__lte=at or timezone.now())
        .order_by("-valid_from").values_list("charge", flat=True).first()
    )
    return band


def with_charge(amount: Decimal, charge: Decimal | None) -> Decimal:
    """What leaves the account: the amount and its expected charge (none known counts as nothing)."""
    return amount + (charge or Decimal("0"))


def charge_differs(*, expected: Decimal | None, actual: Decimal | None) -> bool:
    """Whether M-Pesa's reported charge disagrees with the tariff's (both known)."""
    return expected is not None and actual is not None and expected != actual
