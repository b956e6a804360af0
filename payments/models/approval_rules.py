"""Approval rules: how many people must approve a payout, and whether one of them must be in a group, by
amount tier, rail and source. Chosen when a payout is requested (payments/payouts/approval_rules.py), which
copies the rule onto the payout (`Payout.approval_rule`): changing a rule later changes no payout."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from payments.models.money import MONEY


class ApprovalSource(models.TextChoices):
    """Where a payout was requested, as a rule names it."""

    API = "api", "API"
    CONSOLE = "console", "Console"
    BULK = "bulk", "Bulk file"


class ApprovalRule(models.Model):
    """One rule. The first active rule (lowest `position`, then id) whose rail, source and amount range fit a
    request decides its approvals; when none fits, the default rule (PAYOUT_DUAL_APPROVAL_THRESHOLD) does."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=100, help_text="Rules are tried lowest first.")
    # "" matches every rail / every source.
    rail = models.CharField(max_length=16, blank=True, help_text="Blank: every rail.")
    source = models.CharField(max_length=16, choices=ApprovalSource.choices, blank=True,
                              help_text="Blank: every source.")
    min_amount = models.DecimalField(**MONEY, default=0, help_text="From this amount (KES, included).")
    max_amount = models.DecimalField(**MONEY, null=True, blank=True,
                                     help_text="Up to this amount (KES, included); blank: no upper bound.")
    approvals = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(5)])
    # When set, at least one of the approvals must come from a member of this group (e.g. "Finance managers").
    manager_group = models.CharField(max_length=150, blank=True,
                                     help_text="Blank: anyone who may approve; else one approver must be in it.")
    active = models.BooleanField(default=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   null=True, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(approvals__gte=1) & models.Q(approvals__lte=5),
                                   name="approval_rule_approvals_1_to_5"),
            models.CheckConstraint(
                condition=models.Q(max_amount__isnull=True) | models.Q(max_amount__gte=models.F("min_amount")),
                name="approval_rule_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name
