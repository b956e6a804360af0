"""The admins' alert when an endpoint is disabled: a row in the notifications outbox (WhatsApp), written in
the same transaction as the disabling, delivered like every other alert. It goes to the numbers in
ADMIN_WHATSAPP_NUMBERS and to the recipients subscribed to operational problems (the
"Burst of rejected callbacks" alert): the notifications app has no alert of its own for webhooks yet."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from notifications.messages import Message
from notifications.models import Alert
from notifications.outbox import notifications_create
from notifications.recipients import admin_targets
from webhooks.models import WebhookEndpoint

ALERT = "webhook_disabled"


def endpoint_disabled_alert(*, endpoint: WebhookEndpoint) -> list[int]:
    targets = {t.phone: t for t in admin_targets(Alert.CALLBACKS_REJECTED)}
    if not targets:
        return []
    where = _without_query(endpoint.url)  # a receiver's URL may carry its own token in the query string
    body = (
        f"Webhook endpoint #{endpoint.pk} ({where}) was disabled: {endpoint.disabled_reason} "
        "Its undelivered events wait; enable it again in the admin (Webhook endpoints) once the receiver works."
    )
    message = Message(alert=ALERT, body=body, params=[str(endpoint.pk), where, endpoint.disabled_reason])
    stamp = int(endpoint.disabled_at.timestamp()) if endpoint.disabled_at else 0
    return notifications_create(message=message, targets=list(targets.values()),
                                key=f"{ALERT}:endpoint:{endpoint.pk}:{stamp}")


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # no user:password either
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
