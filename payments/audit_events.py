"""Audit events: the append-only rows that say who did what, when and why (AuditEvent).

A payout's status changes write theirs through payments/payouts/lifecycle.py; this module writes the
events of decisions that change no status (an approval short of the number needed, an edit, a hold, a
status query) and those of payments, controls, credentials, finance jobs and logins. `action` is an
AuditAction."""

from __future__ import annotations

from typing import Any

from core.sql_row_writes import insert_row
from payments.models import AuditAction, AuditEvent, DarajaCallback, Payment, Payout, Recipient

_ACTIONS = frozenset(AuditAction.values)


def event_record(
    *,
    action: AuditAction | str,
    source: str,
    payout: Payout | None = None,
    payment: Payment | None = None,
    recipient: Recipient | None = None,
    actor=None,
    from_status: str = "",
    to_status: str = "",
    details: dict[str, Any] | None = None,
    callback: DarajaCallback | None = None,
) -> AuditEvent:
    """Write one audit event (inside the caller's transaction, when it has one). Returns it. Inserted by
    core/sql_row_writes.py: this runs for every status change, and Model.save() compiled its INSERT every time."""
    if action not in _ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to AuditAction.")
    return insert_row(AuditEvent(
        payout=payout,
        payment=payment,
        recipient=recipient,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor if getattr(actor, "pk", None) else None,
        source=source,
        details=details or {},
        callback=callback,
    ))
