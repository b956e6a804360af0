"""What M-Pesa is expected to charge for a payout: Safaricom's published bands, per rail group (B2C for phones
and Pochi, B2B for paybills and tills), each valid from a date. Editable in the console by a
superuser; the defaults (migration 0033) and their source are in docs/charges.md."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from core.money import MONEY, kes


class TariffGroup(models.TextChoices):
    B2C = "b2c", "B2C (phones, Pochi)"
    B2B = "b2b", "B2B (paybills, tills)"


class TariffBand(models.Model):
    """Amounts from `min_amount` to `max_amount` (both included) cost `charge`, from `valid_from` on. For one
    amount the band with the latest `valid_from` not in the future counts."""

    group = models.CharField(max_length=8, choices=TariffGroup.choices)
    min_amount = models.DecimalField(**MONEY)
    max_amount = models.DecimalField(**MONEY)
    charge = models.DecimalField(**MONEY)
    valid_from = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=200, blank=True, help_text="Where these figures come from.")

    class Meta:
        ordering = ["group", "-valid_from", "min_amount"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_amount__gt=0) & Q(max_amount__gte=F("min_amount")) & Q(charge__gte=0),
                name="tariff_band_amounts_valid",
            ),
            models.UniqueConstraint(fields=["group", "valid_from", "min_amount"], name="one_tariff_band_per_start"),
        ]

    def __str__(self) -> str:
        return f"{self.group} {kes(self.min_amount)}–{kes(self.max_amount)}: {kes(self.charge)}"
