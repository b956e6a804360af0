"""Fixtures for the webhooks tests: a loopback receiver, a broker that can go down, API clients."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError

from tests.payments.factories import token_client as api
from tests.webhooks.receiver import Receiver
from webhooks.tasks import deliver_webhook


class FakeBroker:
    """Stands in for Celery's broker for deliver_webhook: records what is queued, can be switched off."""

    def __init__(self):
        self.queue: list[tuple[int, float | None]] = []
        self.down = False

    def apply_async(self, args=(), kwargs=None, countdown=None, **options):
        if self.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.queue.append((args[0], countdown))

    def run(self) -> list[str]:
        """Run what is queued now, as a worker would (retries a task queues wait for the next run)."""
        batch, self.queue = self.queue, []
        return [deliver_webhook(delivery_id) for delivery_id, _ in batch]


@pytest.fixture
def broker(monkeypatch):
    fake = FakeBroker()
    monkeypatch.setattr(deliver_webhook, "apply_async", fake.apply_async)
    return fake


@pytest.fixture(autouse=True)
def no_payout_sends(monkeypatch):
    """Approvals queue a B2C send; these tests look at webhooks only."""
    monkeypatch.setattr("payments.payouts.services.queue_send", lambda *a, **k: None)


@pytest.fixture
def receiver():
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()




@pytest.fixture
def integrator(django_user_model):
    """A user with only `webhooks.manage_webhooks` (what a business's own system would use)."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("integrator", password="pass-Word-123")
    user.user_permissions.add(Permission.objects.get(codename="manage_webhooks"))
    return user


@pytest.fixture
def endpoint(integrator, receiver):
    """An endpoint for every event on the receiver, registered through the API; the receiver knows its secret."""
    response = api(integrator).post("/api/webhook-endpoints/", {"url": receiver.url(), "events": ["*"]},
                                    format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    receiver.secrets.append(body["secret"])
    return body


# --- The running system, for the end-to-end test (tests/e2e's fixtures, reused as they are) ----------------
from tests.e2e.conftest import (  # noqa: E402, F401  (importing a fixture makes it available here)
    e2e_redis,
    e2e_worker,
    simulator,
    simulator_keys,
    simulator_settings,
    web_server,
    whatsapp,
)
