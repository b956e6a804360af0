"""System checks for a notifications configuration that would silently send nothing."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from notifications.backends import BACKENDS, template_for
from notifications.models import CUSTOMER_ALERTS, Alert
from notifications.numbers import InvalidWhatsAppNumber, normalize_whatsapp_number


@register()
def check_notifications(app_configs=None, **kwargs):
    problems = []
    backend = settings.NOTIFICATIONS_BACKEND
    if backend not in BACKENDS and "." not in backend:
        problems.append(
            Error(f"NOTIFICATIONS_BACKEND is {backend!r}; use 'whatsapp' or 'console'.", id="notifications.E001")
        )
    if backend == "whatsapp" and not (settings.WHATSAPP_ACCESS_TOKEN and settings.WHATSAPP_PHONE_NUMBER_ID):
        problems.append(
            Error(
                "NOTIFICATIONS_BACKEND is 'whatsapp' but WHATSAPP_ACCESS_TOKEN or WHATSAPP_PHONE_NUMBER_ID is empty.",
                id="notifications.E002",
            )
        )
    for raw in settings.ADMIN_WHATSAPP_NUMBERS:
        try:
            normalize_whatsapp_number(raw)
        except InvalidWhatsAppNumber as exc:
            problems.append(Error(f"ADMIN_WHATSAPP_NUMBERS: {exc}", id="notifications.E003"))
    unknown = set(settings.WHATSAPP_TEMPLATES) - set(Alert.values)
    if unknown:
        problems.append(
            Warning(
                f"WHATSAPP_TEMPLATES names unknown alerts: {', '.join(sorted(unknown))}.",
                hint=f"Alerts: {', '.join(Alert.values)}.",
                id="notifications.W001",
            )
        )
    if settings.NOTIFY_CUSTOMERS and backend == "whatsapp":
        missing = sorted(alert for alert in CUSTOMER_ALERTS if template_for(alert) is None)
        if missing:
            problems.append(
                Warning(
                    "NOTIFY_CUSTOMERS is on but no approved template is set for "
                    f"{', '.join(missing)}: those messages will fail.",
                    hint="Set WHATSAPP_TEMPLATES, e.g. customer_refund_paid=refund_paid:en (docs/notifications.md).",
                    id="notifications.W002",
                )
            )
    return problems
