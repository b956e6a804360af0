"""Fixtures for the notifications tests: WhatsApp settings, admin numbers, and a broker that can go down."""

from __future__ import annotations

import pytest
import responses
from kombu.exceptions import OperationalError

from notifications.tasks import deliver_notification

GRAPH = "https://graph.facebook.com/v23.0"
PHONE_NUMBER_ID = "106540352242922"
MESSAGES_URL = f"{GRAPH}/{PHONE_NUMBER_ID}/messages"
TOKEN = "EAAGtestSECRETtoken0123456789"
ADMIN_A = "254700000001"
ADMIN_B = "254711000002"


class FakeBroker:
    """Stands in for Celery's broker: records what is queued, and can be switched off."""

    def __init__(self):
        self.queue: list[tuple[int, float | None]] = []
        self.down = False

    def apply_async(self, args=(), kwargs=None, countdown=None, **options):
        if self.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.queue.append((args[0], countdown))

    def ids(self) -> list[int]:
        return [notification_id for notification_id, _ in self.queue]

    def run(self) -> list[str]:
        """Run everything queued, as a worker would (a task queued by a task runs too)."""
        results = []
        while self.queue:
            notification_id, _ = self.queue.pop(0)
            results.append(deliver_notification(notification_id))
        return results


@pytest.fixture
def broker(monkeypatch):
    fake = FakeBroker()
    monkeypatch.setattr(deliver_notification, "apply_async", fake.apply_async)
    return fake


@pytest.fixture
def whatsapp(settings):
    settings.NOTIFICATIONS_BACKEND = "whatsapp"
    settings.WHATSAPP_API_URL = GRAPH
    settings.WHATSAPP_ACCESS_TOKEN = TOKEN
    settings.WHATSAPP_PHONE_NUMBER_ID = PHONE_NUMBER_ID
    settings.WHATSAPP_TEMPLATES = {}
    settings.NOTIFY_CUSTOMERS = False
    return settings


@pytest.fixture
def admins(settings):
    settings.ADMIN_WHATSAPP_NUMBERS = [f"+{ADMIN_A}", ADMIN_B]
    return [ADMIN_A, ADMIN_B]


@pytest.fixture
def graph():
    """The Graph API, faked: every POST to the messages endpoint succeeds with a new wamid."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        counter = iter(range(1, 10_000))

        def ok(request):
            import json

            body = json.loads(request.body)
            n = next(counter)
            return (
                200,
                {},
                json.dumps(
                    {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                        "messages": [{"id": f"wamid.TEST{n:04d}"}],
                    }
                ),
            )

        mock.add_callback(responses.POST, MESSAGES_URL, callback=ok, content_type="application/json")
        yield mock
