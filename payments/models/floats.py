"""Readings of our M-Pesa accounts: the Utility Account (B2C float) from Account Balance queries and B2C
results, the Working Account from those and from B2B (paybill, till, top-up) results."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from core.money import SUM, kes
from payments.models.callbacks import DarajaCallback


class FloatSource(models.TextChoices):
    BALANCE_QUERY = "balance_query", "Account Balance query"
    B2C_RESULT = "b2c_result", "B2C result"
    # A paybill, till or top-up result: the paying Working account's balance (never the Utility account's).
    B2B_RESULT = "b2b_result", "B2B result (Working account)"


class FloatBalanceQuerySet(models.QuerySet):
    def of_utility(self):
        """Readings that report the Utility Account (the float B2C draws on): a shortcode's balance may
        answer with its Working Account only."""
        return self.filter(utility_available__isnull=False)

    def of_working(self):
        """Readings that report a Working Account (the one paybill, till and top-up payments leave)."""
        return self.filter(working_available__isnull=False)


class FloatBalance(models.Model):
    """A reading of the B2C accounts: the Utility Account (the float payouts are drawn from) and, when the
    answer names it, the Working Account. Either may be missing from an answer: what is there is stored."""

    utility_available = models.DecimalField(**SUM, null=True, blank=True)
    working_available = models.DecimalField(**SUM, null=True, blank=True)
    source = models.CharField(max_length=16, choices=FloatSource.choices)
    callback = models.ForeignKey(DarajaCallback, on_delete=models.SET_NULL, null=True, blank=True)
    observed_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = FloatBalanceQuerySet.as_manager()

    class Meta:
        ordering = ["-observed_at", "-id"]
        get_latest_by = "observed_at"

    def __str__(self) -> str:
        at = f"{timezone.localtime(self.observed_at):%-d %b %Y, %H:%M}"
        if self.utility_available is None:
            return f"Working Account {kes(self.working_available or 0)} at {at}"
        return f"{kes(self.utility_available)} at {at}"
