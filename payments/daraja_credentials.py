"""Daraja credential sets saved in the admin: one active at a time, every change an audit event naming
what changed (never a secret, not even a hint of one)."""

from __future__ import annotations

from django.db import transaction

from payments.audit_events import event_record
from payments.models import AuditAction, DarajaCredentialSet, EventSource


def credential_set_save(
    *, credential_set: DarajaCredentialSet, saved_by, changed: list[str], created: bool,
    source: str = EventSource.ADMIN,
) -> DarajaCredentialSet:
    """Store a credential set (its secrets already encrypted onto it by the form). Activating it deactivates
    the one active before (a partial unique index allows one). `changed`: the names of the fields changed."""
    with transaction.atomic():
        if credential_set.active:
            DarajaCredentialSet.objects.filter(active=True).exclude(pk=credential_set.pk).update(active=False)
        credential_set.updated_by = saved_by
        credential_set.save()
        event_record(
            action=AuditAction.CREDENTIALS_ADDED if created else AuditAction.CREDENTIALS_CHANGED,
            source=source,
            actor=saved_by,
            details={"credential_set": credential_set.pk, "name": credential_set.name,
                     "active": credential_set.active, "fields": sorted(changed)},
        )
    return credential_set


def credential_set_delete(*, credential_set: DarajaCredentialSet, deleted_by, source: str = EventSource.ADMIN) -> None:
    with transaction.atomic():
        event_record(
            action=AuditAction.CREDENTIALS_DELETED,
            source=source,
            actor=deleted_by,
            details={"credential_set": credential_set.pk, "name": credential_set.name,
                     "active": credential_set.active},
        )
        credential_set.delete()
