"""Reads of payouts for the API and the console: lists and the detail page, with what they touch loaded."""

from __future__ import annotations

from django.db.models import (
    Prefetch,
    QuerySet,
)

from payments.models import (
    AuditEvent,
    Payout,
    PayoutApproval,
    PayoutEditor,
)


def active_approvals() -> QuerySet[PayoutApproval]:
    """Approvals that still count: not voided (a changed payout voids them)."""
    return PayoutApproval.objects.filter(voided_at__isnull=True).select_related("approver").order_by("created_at", "id")


def payout_list() -> QuerySet[Payout]:
    """Payouts with their requester and active approvals loaded (`active_approvals` attribute)."""
    return (
        Payout.objects.select_related("requested_by")
        .prefetch_related(Prefetch("approvals", queryset=active_approvals(), to_attr="active_approvals"))
        .order_by("-created_at", "-id")
    )


def payout_detail() -> QuerySet[Payout]:
    """As payout_list, plus the audit trail (`event_list` attribute), oldest event first, and the people who
    edited it (`editor_list`)."""
    events = AuditEvent.objects.select_related("actor").order_by("created_at", "id")
    editors = PayoutEditor.objects.select_related("user")
    return payout_list().prefetch_related(
        Prefetch("events", queryset=events, to_attr="event_list"),
        Prefetch("editors", queryset=editors, to_attr="editor_list"),
    )
