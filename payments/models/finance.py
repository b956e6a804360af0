"""Exports and statement reconciliations the console asks for and a worker runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class FinanceJobKind(models.TextChoices):
    EXPORT = "export", "Export"
    RECONCILE = "reconcile", "Statement reconciliation"


class FinanceJobStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class FinanceJob(models.Model):
    """An export or a statement reconciliation asked for in the console and run by a Celery worker: who asked
    for what and when (with an AuditEvent written in the same transaction), its progress, and its file.

    Files live under CONSOLE_FILES_DIR; the paths here are relative to it."""

    kind = models.CharField(max_length=16, choices=FinanceJobKind.choices)
    status = models.CharField(max_length=16, choices=FinanceJobStatus.choices, default=FinanceJobStatus.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # export: {"kind", "start", "end", "format"}; reconcile: {"file_name", "size"}
    params = models.JSONField(default=dict, blank=True)
    input_file = models.CharField(max_length=255, blank=True)
    output_file = models.CharField(max_length=255, blank=True)
    output_name = models.CharField(max_length=255, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    # reconcile: the summary and the first discrepancies, for the page (the file holds them all)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "finance export or reconciliation"
        verbose_name_plural = "finance exports and reconciliations"
        permissions = [
            ("export_ledger", "Can export payouts and payments"),
            ("reconcile_statement", "Can reconcile an M-Pesa statement"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"
