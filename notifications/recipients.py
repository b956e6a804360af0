"""Who receives an alert.

Admin alerts go to
  * every active `NotificationRecipient` (admin-managed) subscribed to that alert, and
  * every number in ADMIN_WHATSAPP_NUMBERS that has no recipient row: these are the owners' phones and get
    every admin alert. A row for the same number overrides the environment (untick alerts, or deactivate).
Approval requests go to approvers only: a recipient row linked to a user is skipped when that user may not
approve payouts or is the one who asked; rows without a user and environment numbers are taken as approvers
(that is what subscribing a number to approval requests means).
Customer alerts go to the refund's phone number and only when NOTIFY_CUSTOMERS is on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from notifications.models import Alert, NotificationRecipient
from notifications.numbers import InvalidWhatsAppNumber, mask_number, normalize_whatsapp_number

logger = logging.getLogger("notifications")

APPROVE_PERMISSION = "payments.approve_payout"


@dataclass(frozen=True)
class Target:
    phone: str
    recipient_id: int | None = None


def env_admin_numbers() -> list[str]:
    numbers = []
    for raw in getattr(settings, "ADMIN_WHATSAPP_NUMBERS", []) or []:
        if not str(raw).strip():
            continue
        try:
            number = normalize_whatsapp_number(raw)
        except InvalidWhatsAppNumber:
            logger.warning("ADMIN_WHATSAPP_NUMBERS holds an invalid number (%s); skipped", mask_number(str(raw)))
            continue
        if number not in numbers:
            numbers.append(number)
    return numbers


def _may_approve(recipient: NotificationRecipient, requester_id: int | None) -> bool:
    user = recipient.user
    if user is None:
        return True
    if requester_id is not None and user.pk == requester_id:
        return False
    return user.is_active and user.has_perm(APPROVE_PERMISSION)


def admin_targets(alert: str, *, requester_id: int | None = None) -> list[Target]:
    """The numbers an admin alert goes to, each once, in a stable order."""
    rows = list(NotificationRecipient.objects.select_related("user").order_by("id"))
    targets: dict[str, Target] = {}
    for row in rows:
        if not row.receives(alert):
            continue
        if alert == Alert.APPROVAL_REQUESTED and not _may_approve(row, requester_id):
            continue
        targets.setdefault(row.phone, Target(phone=row.phone, recipient_id=row.pk))
    managed = {row.phone for row in rows}
    for number in env_admin_numbers():
        if number not in managed:
            targets.setdefault(number, Target(phone=number))
    return list(targets.values())


def customer_target(phone: str) -> Target | None:
    if not getattr(settings, "NOTIFY_CUSTOMERS", False):
        return None
    try:
        return Target(phone=normalize_whatsapp_number(phone))
    except InvalidWhatsAppNumber:
        return None
