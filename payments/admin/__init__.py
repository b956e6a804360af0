"""The operators' console. Every change made here is a call to a service function; the
admin shows, asks for confirmation and reports, and never writes money rows itself (docs/admin.md)."""

from core.console_kit import BADGE_COLOURS, STATUS_LABELS
from payments.admin import (  # noqa: F401  (registers the admins)
    approval_rules,
    audit,
    batches,
    controls,
    devices,
    finance,
    incoming,
    overview,
    payouts,
    plans,
    recipients,
    tariffs,
)
from payments.models import PayoutPlanStatus, PayoutStatus, RecipientStatus

BADGE_COLOURS.update(
    {
        PayoutStatus.PENDING_APPROVAL: "#b7791f",
        PayoutStatus.APPROVED: "#2b6cb0",
        PayoutStatus.REJECTED: "#718096",
        PayoutStatus.SENDING: "#6b46c1",
        PayoutStatus.SUBMITTED: "#6b46c1",
        PayoutStatus.VERIFYING: "#c05621",
        PayoutStatus.COMPLETED: "#2f855a",
        PayoutStatus.FAILED: "#c53030",
        PayoutStatus.NEEDS_REVIEW: "#9b2c2c",
    }
)
STATUS_LABELS.update(PayoutStatus.choices)
BADGE_COLOURS.update({RecipientStatus.ACTIVE: "#2f855a", RecipientStatus.ARCHIVED: "#718096"})
STATUS_LABELS.update(RecipientStatus.choices)
BADGE_COLOURS.update({PayoutPlanStatus.ACTIVE: "#2f855a", PayoutPlanStatus.PAUSED: "#718096"})
