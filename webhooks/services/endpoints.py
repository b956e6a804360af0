"""Registering, changing, rotating and removing webhook endpoints (API and admin both call these)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from webhooks.addresses import validate_endpoint_url
from webhooks.models import WebhookEndpoint
from webhooks.secrets import encrypt_secret, new_secret

ROTATION_OVERLAP = timedelta(hours=24)
EDITABLE = ("url", "events", "description", "enabled")


def endpoints_all() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.order_by("id")


def endpoint_create(
    *, url: str, events: list[str], description: str = "", enabled: bool = True, created_by=None
) -> tuple[WebhookEndpoint, str]:
    """The endpoint and its signing secret in plain text: the only time anyone sees it."""
    validate_endpoint_url(url)
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        url=url, events=list(events), description=description, enabled=enabled,
        secret_encrypted=encrypt_secret(secret), created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    return endpoint, secret


def endpoint_update(*, endpoint_id: int, changes: dict[str, Any]) -> WebhookEndpoint:
    from webhooks.services.delivery import endpoint_enabled

    changes = {k: v for k, v in changes.items() if k in EDITABLE}
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        if "url" in changes:
            validate_endpoint_url(changes["url"])
        was_enabled = endpoint.enabled
        for name, value in changes.items():
            setattr(endpoint, name, value)
        endpoint.save()
        if endpoint.enabled and not was_enabled:
            endpoint_enabled(endpoint=endpoint)
            endpoint.refresh_from_db()
    return endpoint


def endpoint_rotate_secret(*, endpoint_id: int) -> tuple[str, datetime]:
    """A new secret; the current one becomes the previous one and keeps signing for 24 hours. Returns the new
    secret (plain, shown once) and when the old one stops."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        secret = new_secret()
        until = timezone.now() + ROTATION_OVERLAP
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_expires_at = until
        endpoint.secret_encrypted = encrypt_secret(secret)
        endpoint.save(update_fields=["previous_secret_encrypted", "previous_secret_expires_at", "secret_encrypted",
                                     "updated_at"])
    return secret, until


def endpoint_delete(*, endpoint_id: int) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).delete()
