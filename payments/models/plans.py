"""Payout plans: recurring payout runs (trainers weekly, suppliers monthly) from saved recipients.

A plan names recipients with amounts and a schedule (weekly on a weekday, or monthly on a day of the month, at a
Nairobi time of day). Each occurrence becomes one PayoutBatch waiting for approval like any other; the
PayoutPlanRun row, unique on (plan, occurrence date), makes each occurrence happen exactly once. A new plan and
every change of one wait for a second person's approval (payments/plans/services.py, the only writers).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from payments.models.money import MONEY
from payments.models.payouts import PayoutBatch
from payments.models.recipients import Recipient


class PayoutPlanStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    REJECTED = "rejected", "Rejected"


class PlanFrequency(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class PayoutPlan(models.Model):
    name = models.CharField(max_length=150)
    status = models.CharField(max_length=20, choices=PayoutPlanStatus.choices,
                              default=PayoutPlanStatus.PENDING_APPROVAL)
    frequency = models.CharField(max_length=10, choices=PlanFrequency.choices)
    # weekly: 0 (Monday) to 6 (Sunday); monthly: 1 to 31, a day past the month's end meaning its last day.
    weekday = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(6)])
    day_of_month = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(31)])
    time_of_day = models.TimeField(help_text="Nairobi time")
    end_date = models.DateField(null=True, blank=True, help_text="No occurrence after this Nairobi date.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    # Its approval, or its last resume: no occurrence before this moment is ever created (a pause skips).
    runs_from = models.DateTimeField(null=True, blank=True)
    # A change waiting for a second person: {"name", "frequency", "weekday", "day_of_month", "time_of_day",
    # "end_date", "lines": [{"recipient": id, "amount": "1500.00"}]} as proposed ({} when none). Runs use the
    # plan as approved until it is approved.
    pending_change = models.JSONField(default=dict, blank=True)
    change_proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                           blank=True, related_name="+")
    change_proposed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(frequency=PlanFrequency.WEEKLY) & Q(weekday__lte=6) & Q(day_of_month__isnull=True))
                | (Q(frequency=PlanFrequency.MONTHLY) & Q(day_of_month__gte=1) & Q(day_of_month__lte=31)
                   & Q(weekday__isnull=True)),
                name="payout_plan_schedule_valid",
            ),
            # Four eyes, kept by the database too: an active or paused plan was approved by someone else.
            models.CheckConstraint(
                condition=Q(status=PayoutPlanStatus.PENDING_APPROVAL) | Q(status=PayoutPlanStatus.REJECTED)
                | (Q(approved_by__isnull=False) & ~Q(approved_by=models.F("created_by"))),
                name="payout_plan_approved_by_another",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PayoutPlanLine(models.Model):
    """One recipient of a plan, with the amount each run pays it (as approved)."""

    plan = models.ForeignKey(PayoutPlan, on_delete=models.CASCADE, related_name="lines")
    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "recipient"], name="payout_plan_line_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_plan_line_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.amount}"


class PayoutPlanRun(models.Model):
    """One occurrence of a plan, created once: the UNIQUE (plan, scheduled_for) makes a second creator (another
    beat, a restart) fail and skip. `skipped` lists the plan's recipients not paid by it, and why."""

    plan = models.ForeignKey(PayoutPlan, on_delete=models.PROTECT, related_name="runs")
    scheduled_for = models.DateField(help_text="The occurrence's Nairobi date")
    batch = models.OneToOneField(PayoutBatch, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="plan_run")
    # [{"recipient": id, "name": ..., "amount": "1500.00", "problem": "..."}]
    skipped = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "scheduled_for"], name="payout_plan_run_once"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} — {self.scheduled_for.isoformat()}"
