"""Where a message goes: the WhatsApp Business Cloud API, or the `notifications` log (the local default).

A backend either returns the provider's message id or raises: `RetryableSendError` when a later attempt may
work (network, 429, 5xx), `PermanentSendError` when it cannot (other 4xx, missing configuration). Error texts
never carry the access token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils.module_loading import import_string

from notifications.models import CUSTOMER_ALERTS
from notifications.numbers import mask_number, mask_numbers_in_text

logger = logging.getLogger("notifications")


@dataclass(frozen=True)
class OutgoingMessage:
    to: str
    alert: str
    body: str
    template_params: list[str] = field(default_factory=list)
    reference: str = ""  # our notification id, for the log


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    template_name: str = ""


class SendError(Exception):
    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class RetryableSendError(SendError):
    def __init__(self, message: str, *, status_code: int | None = None, retry_after: float | None = None):
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    pass


class ConsoleBackend:
    """Writes the message to the `notifications` logger, numbers masked (also inside the text)."""

    name = "console"

    def send(self, message: OutgoingMessage) -> SendResult:
        logger.info(
            "whatsapp (console backend) notification=%s alert=%s to=%s\n%s",
            message.reference,
            message.alert,
            mask_number(message.to),
            mask_numbers_in_text(message.body),
        )
        return SendResult(provider_message_id=f"console-{message.reference}")


@dataclass(frozen=True)
class TemplateChoice:
    name: str
    language: str


def template_for(alert: str) -> TemplateChoice | None:
    """The approved template configured for `alert` in WHATSAPP_TEMPLATES ("name" or "name:language")."""
    spec = (getattr(settings, "WHATSAPP_TEMPLATES", {}) or {}).get(alert, "")
    spec = str(spec).strip()
    if not spec:
        return None
    name, _, language = spec.partition(":")
    return TemplateChoice(name=name.strip(), language=(language.strip() or settings.WHATSAPP_TEMPLATE_LANGUAGE))


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds, from either of its forms (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class WhatsAppCloudBackend:
    """POST {WHATSAPP_API_URL}/{WHATSAPP_PHONE_NUMBER_ID}/messages with a Bearer token."""

    name = "whatsapp"

    def __init__(self, *, session: requests.Session | None = None):
        self.session = session or requests.Session()

    def _redact(self, text: str) -> str:
        token = settings.WHATSAPP_ACCESS_TOKEN
        if token and token in text:
            text = text.replace(token, "[REDACTED]")
        return text

    def payload(self, message: OutgoingMessage) -> tuple[dict, str]:
        template = template_for(message.alert)
        if template is None:
            return {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": message.to,
                "type": "text",
                "text": {"preview_url": False, "body": message.body[:4096]},
            }, ""
        components = []
        if message.template_params:
            components.append(
                {
                    "type": "body",
                    # WhatsApp refuses newlines and tabs inside a template parameter.
                    "parameters": [
                        {"type": "text", "text": " ".join(str(value).split())[:1024] or "-"}
                        for value in message.template_params
                    ],
                }
            )
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to,
            "type": "template",
            "template": {"name": template.name, "language": {"code": template.language}},
        }
        if components:
            body["template"]["components"] = components
        return body, template.name

    def send(self, message: OutgoingMessage) -> SendResult:
        token = settings.WHATSAPP_ACCESS_TOKEN
        phone_number_id = settings.WHATSAPP_PHONE_NUMBER_ID
        if not token or not phone_number_id:
            raise PermanentSendError("WhatsApp is not configured (WHATSAPP_ACCESS_TOKEN / WHATSAPP_PHONE_NUMBER_ID).")
        if message.alert in CUSTOMER_ALERTS and template_for(message.alert) is None:
            raise PermanentSendError(
                f"No approved template configured for {message.alert} (WHATSAPP_TEMPLATES): WhatsApp does not "
                "deliver business-initiated text outside the 24-hour window."
            )
        body, template_name = self.payload(message)
        url = f"{settings.WHATSAPP_API_URL.rstrip('/')}/{phone_number_id}/messages"
        try:
            response = self.session.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=(settings.WHATSAPP_CONNECT_TIMEOUT, settings.WHATSAPP_READ_TIMEOUT),
            )
        except requests.RequestException as exc:
            # The exception text names the URL (no token there); redact anyway in case a proxy echoes it.
            raise RetryableSendError(self._redact(f"Network error: {type(exc).__name__}: {exc}")) from None

        status = response.status_code
        if 200 <= status < 300:
            try:
                data = response.json()
                message_id = str(data["messages"][0]["id"])
            except (ValueError, KeyError, IndexError, TypeError):
                # Accepted, but we cannot read the id: still sent, never send it again.
                message_id = ""
            return SendResult(provider_message_id=message_id, template_name=template_name)

        detail = self._redact(self._describe(response))
        if status == 429 or status >= 500 or status == 408:
            raise RetryableSendError(
                detail, status_code=status, retry_after=parse_retry_after(response.headers.get("Retry-After"))
            )
        raise PermanentSendError(detail, status_code=status)

    @staticmethod
    def _describe(response: requests.Response) -> str:
        """HTTP status and Graph's error code and text (never the request, which carries the token)."""
        try:
            error = response.json().get("error", {})
        except (ValueError, AttributeError):
            error = {}
        if isinstance(error, dict) and error:
            parts = [f"HTTP {response.status_code}"]
            if error.get("code") is not None:
                parts.append(f"Graph error {error.get('code')}")
            text = error.get("message") or ""
            error_data = error.get("error_data")
            details = error_data.get("details") if isinstance(error_data, dict) else ""
            if details:
                text = f"{text} ({details})" if text else str(details)
            return f"{', '.join(parts)}: {text}"[:1000]
        return f"HTTP {response.status_code}: {response.text[:300]}"


BACKENDS = {"console": ConsoleBackend, "whatsapp": WhatsAppCloudBackend}


def get_backend():
    """NOTIFICATIONS_BACKEND: `whatsapp`, `console`, or a dotted path to a class with send(message)."""
    name = settings.NOTIFICATIONS_BACKEND
    cls = BACKENDS.get(name) or import_string(name)
    return cls()
