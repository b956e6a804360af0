"""Running totals of payouts kept by PostgreSQL triggers on the payout table, so the limits at send and the
console read a few rows instead of summing every payout. Nothing in Python writes them."""

from __future__ import annotations

from django.db import models

from core.money import RUNNING_TOTAL, SUM
from payments.models.payouts import PayoutKind, PayoutStatus


class SentHour(models.Model):
    """What has left for M-Pesa, per UTC hour of `submitted_at`: the sum of the amounts of payouts submitted,
    verifying, completed or in review (SUBMITTED_STATUSES in payments/models/payouts.py).

    Kept by a PostgreSQL trigger on the payout table (migration 0007), whatever writes the row, so the
    daily limit at send reads at most 24 of these rows instead of summing every payout sent today (a
    payroll of 10,000 made that sum most of PostgreSQL's work per send). Not kept on SQLite, where the
    limit sums the payouts themselves.

    Each database connection adds to its own `shard` of an hour (its backend pid modulo 16, migration 0015),
    and readers sum the shards, as PayoutDay's do: one row per hour made every send of the hour wait for the
    previous one's COMMIT."""

    hour = models.DateTimeField()
    shard = models.PositiveSmallIntegerField(default=0)
    amount = models.DecimalField(**SUM, default=0)

    class Meta:
        verbose_name = "amount sent per hour"
        constraints = [models.UniqueConstraint(fields=["hour", "shard"], name="sent_hour_shard_unique")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} UTC: KES {self.amount}"


class PayoutDay(models.Model):
    """Payouts that ended (completed or failed) per Nairobi day of their last status change, kind and status:
    how many and how much. Kept by a PostgreSQL trigger on the payout table (migration 0011), whatever writes
    the row, so the console's "today" and "this week" read at most 28 of these rows instead of every payout
    that ended this week. Not kept on SQLite, where the overview sums the payouts themselves.

    Each database connection adds to its own `shard` of a day's totals (its backend pid modulo 16, migration
    0015), and readers sum the shards. With one row per day, every settlement of the day waited for the one
    before it to commit: the row's lock is taken at the status UPDATE and held to the COMMIT, and under
    load that queue was most of a result's time (the figure: bench/README.md, session 7)."""

    day = models.DateField()
    kind = models.CharField(max_length=16, choices=PayoutKind.choices)
    status = models.CharField(max_length=20, choices=PayoutStatus.choices)
    shard = models.PositiveSmallIntegerField(default=0)
    count = models.IntegerField(default=0)
    amount = models.DecimalField(**RUNNING_TOTAL, default=0)

    class Meta:
        verbose_name = "payouts ended per day"
        constraints = [
            models.UniqueConstraint(fields=["day", "kind", "status", "shard"], name="payout_day_shard_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.status} #{self.shard}: {self.count}, KES {self.amount}"


class PayoutReportDay(models.Model):
    """Payouts per Nairobi day of their request (`created_at`), rail, status and, for a failed one, result code:
    how many, how much, what M-Pesa charged, and the sums behind the reports' average times (microseconds from
    request to approval over the approved ones; from approval to completion over the completed ones). What the
    Reports page and `GET /api/reports/` read (payments/reports/figures.py), so a month of a million payouts is a
    few hundred rows instead of a third of the table (bench/README.md, "Reports").

    Kept by a PostgreSQL trigger on the payout table (migration 0027), whatever writes the row: a change takes
    the row's old contribution off and adds its new one. Sharded per connection as PayoutDay is. Not kept on
    SQLite, where the reports read the payouts themselves."""

    day = models.DateField()
    rail = models.CharField(max_length=16)
    status = models.CharField(max_length=20, choices=PayoutStatus.choices)
    failure_code = models.CharField(max_length=32, blank=True)
    shard = models.PositiveSmallIntegerField(default=0)
    count = models.IntegerField(default=0)
    amount = models.DecimalField(**RUNNING_TOTAL, default=0)
    charge = models.DecimalField(**RUNNING_TOTAL, default=0)
    approval_us = models.BigIntegerField(default=0)
    approvals = models.IntegerField(default=0)
    completion_us = models.BigIntegerField(default=0)
    completions = models.IntegerField(default=0)

    class Meta:
        verbose_name = "payouts requested per day"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "rail", "status", "failure_code", "shard"], name="payout_report_day_shard_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.rail} {self.status} {self.failure_code} #{self.shard}: {self.count}"


class PaymentReportDay(models.Model):
    """Payments received (completed, or later reversed) per Nairobi day of their arrival (`created_at`) and source:
    how many and how much, for the reports' money in. Kept by a PostgreSQL trigger on the payment table (migration
    0027), sharded per connection as PayoutReportDay is; not kept on SQLite."""

    day = models.DateField()
    source = models.CharField(max_length=16)
    shard = models.PositiveSmallIntegerField(default=0)
    count = models.IntegerField(default=0)
    amount = models.DecimalField(**RUNNING_TOTAL, default=0)

    class Meta:
        verbose_name = "payments received per day"
        constraints = [
            models.UniqueConstraint(fields=["day", "source", "shard"], name="payment_report_day_shard_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.source} #{self.shard}: {self.count}, KES {self.amount}"
