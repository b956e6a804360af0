"""Who receives an alert.

Admin alerts go to (the list is read at most every 5 s per process, see _RecipientRows)
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
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from notifications.models import Alert, NotificationRecipient
from notifications.numbers import InvalidWhatsAppNumber, mask_number, normalize_whatsapp_number
from payments.roles import APPROVE_PERMISSION

logger = logging.getLogger("notifications")


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


class _RecipientRows:
    """The recipient rows, read at most once per SECONDS per process: a burst of results
    alerts thousands of times and the list changes when an operator edits it. A save or delete in this
    process is seen at once (signals below); one made in another process within the interval."""

    SECONDS = 5.0

    def __init__(self) -> None:
        self._rows: list[NotificationRecipient] | None = None
        self._read_at = 0.0

    def get(self) -> list[NotificationRecipient]:
        now = time.monotonic()
        rows = self._rows
        if rows is None or now - self._read_at > self.SECONDS:
            rows = list(NotificationRecipient.objects.select_related("user").order_by("id"))
            self._rows, self._read_at = rows, now
        return rows

    def forget(self, **kwargs) -> None:
        self._rows = None


recipient_rows = _RecipientRows()
post_save.connect(recipient_rows.forget, sender=NotificationRecipient, dispatch_uid="recipients.forget.save")
post_delete.connect(recipient_rows.forget, sender=NotificationRecipient, dispatch_uid="recipients.forget.delete")


def admin_targets(alert: str, *, requester_id: int | None = None) -> list[Target]:
    """The numbers an admin alert goes to, each once, in a stable order."""
    if alert == Alert.APPROVAL_REQUESTED:
        # Who may approve depends on users and their permissions right now: always read fresh (approval
        # requests come one at a time, not in bursts).
        rows = list(NotificationRecipient.objects.select_related("user").order_by("id"))
    else:
        rows = recipient_rows.get()
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
