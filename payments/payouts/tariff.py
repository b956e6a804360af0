"""The charge M-Pesa is expected to take for a payout, from the tariff table (payments.models.TariffBand):
shown when it is requested and approved, added to the amount in the float check at send (limits.py) and
compared with the charge its result reports (a discrepancy when they differ). docs/charges.md."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from payments.audit_events import event_record
from payments.models import AuditAction, PayoutRail, TariffBand, TariffGroup

BAND_FIELDS = ("group", "min_amount", "max_amount", "charge", "valid_from", "source")

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


def charge_lookup(*, at=None):
    """expected_charge for many payouts (a CSV preview) from one read of the table: a function of (rail,
    amount)."""
    bands = list(TariffBand.objects.filter(valid_from__lte=at or timezone.now()).order_by("-valid_from")
                 .values_list("group", "min_amount", "max_amount", "charge"))

    def lookup(rail: str, amount: Decimal) -> Decimal | None:
        group = RAIL_GROUPS.get(rail)
        return next((c for g, lo, hi, c in bands if g == group and lo <= amount <= hi), None)

    return lookup


def with_charge(amount: Decimal, charge: Decimal | None) -> Decimal:
    """What leaves the account: the amount and its expected charge (none known counts as nothing)."""
    return amount + (charge or Decimal("0"))


def charge_differs(*, expected: Decimal | None, actual: Decimal | None) -> bool:
    """Whether M-Pesa's reported charge disagrees with the tariff's (both known)."""
    return expected is not None and actual is not None and expected != actual


def _values(band: TariffBand | None) -> dict | None:
    return None if band is None else {name: str(getattr(band, name)) for name in BAND_FIELDS}


def tariff_band_save(*, band: TariffBand, changed_by, source: str, before: TariffBand | None = None) -> TariffBand:
    """Save a band (the console's superuser edit) with its old and new values in the audit trail. A payout
    already requested keeps the expected charge it was given."""
    for name in ("min_amount", "max_amount", "charge"):
        setattr(band, name, Decimal(getattr(band, name)).quantize(Decimal("0.01")))
    with transaction.atomic():
        band.save()
        event_record(action=AuditAction.TARIFF_CHANGED, source=source, actor=changed_by,
                     details={"band": band.pk, "old": _values(before), "new": _values(band)})
    return band


def tariff_band_delete(*, band: TariffBand, changed_by, source: str) -> None:
    with transaction.atomic():
        old = _values(band)
        band_id = band.pk
        band.delete()
        event_record(action=AuditAction.TARIFF_CHANGED, source=source, actor=changed_by,
                     details={"band": band_id, "old": old, "new": None})
