"""What the console keeps so that one render of a money form creates one thing."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class FormSubmission(models.Model):
    """One submit of a console form that creates money movements (bulk upload confirmation, refund,
    disbursement, ledger funding): the one-time token rendered into the form, stored in the transaction that
    creates what it asks for. The UNIQUE constraint makes a double click or six concurrent confirms of one
    render create one thing; the others wait on the index and are answered with what the first made."""

    form = models.CharField(max_length=40)
    nonce = models.CharField(max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The page of what the first submit created (a batch, a payout, a funding request).
    result_url = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["form", "nonce"], name="form_submitted_once")]

    def __str__(self) -> str:
        return f"{self.form} {self.created_at:%Y-%m-%d %H:%M}"
