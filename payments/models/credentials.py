"""Daraja B2C credentials kept in the database (encrypted) instead of the environment."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class DarajaCredentialSet(models.Model):
    """B2C credentials an operator keeps in the admin instead of the environment (rotating the initiator
    password, or switching to another B2C shortcode, without a deploy). Secrets are Fernet-encrypted with
    FIELD_ENCRYPTION_KEY and never shown back; blank values fall back to the environment."""

    name = models.CharField(max_length=100)
    active = models.BooleanField(default=False)
    b2c_shortcode = models.CharField(max_length=20, blank=True)
    initiator_name = models.CharField(max_length=100, blank=True)
    b2c_consumer_key_encrypted = models.TextField(blank=True)
    b2c_consumer_secret_encrypted = models.TextField(blank=True)
    initiator_password_encrypted = models.TextField(blank=True)
    security_credential_encrypted = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    # Operator credential health (payments/payouts/operator_health.py, docs/operator-health.md): refusals of
    # the API operator or its credential in a row; two put the set `down` and sends stop until a superuser
    # reinstates it and a balance query probe is accepted.
    operator_refusals = models.PositiveIntegerField(default=0)
    operator_down_since = models.DateTimeField(null=True, blank=True)
    operator_down_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = "Daraja B2C credential set"
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="one_active_credential_set")
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (active)' if self.active else ''}"
