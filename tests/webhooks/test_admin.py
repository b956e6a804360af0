"""The admin: registering an endpoint (its secret shown once), its recent deliveries, and replaying one event
or everything since a time, through the real admin pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_user
from tests.webhooks.test_delivery import request_refund
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_adding_an_endpoint_in_the_admin_shows_its_secret_once(admin_client, receiver):
    response = admin_client.post("/admin/webhooks/webhookendpoint/add/",
                                 {"url": receiver.url(), "events": ["payout.completed", "payout.failed"],
                                  "description": "ERP", "enabled": "on"}, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["payout.completed", "payout.failed"]
    assert "Signing secret (shown only now" in text
    secret = text.split("Signing secret (shown only now, copy it): ")[1].split("<")[0].strip()
    assert secret.startswith("whsec_")
    page = admin_client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert secret not in page


def test_admin_needs_the_permission():
    from django.test import Client

    staff = make_user("staffer", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/webhooks/webhookendpoint/").status_code == 403


def test_endpoint_page_shows_recent_deliveries_and_replays(admin_client, endpoint, receiver, broker):
    receiver.answer = 500
    request_refund()
    broker.run()
    page = admin_client.get(f"/admin/webhooks/webhookendpoint/{endpoint['id']}/change/").content.decode()
    assert "refund.requested" in page and "not now" in page and "500" in page and " ms" in page

    # Replay one delivery (the admin action): the same event again, as a new delivery with the same id.
    receiver.answer = 200
    first = WebhookDelivery.objects.get()
    response = admin_client.post("/admin/webhooks/webhookdelivery/",
                                 {"action": "replay", "_selected_action": [first.pk]}, follow=True)
    assert response.status_code == 200 and "1 deliver(ies) queued" in response.content.decode()
    assert WebhookDelivery.objects.count() == 2
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    broker.queue[:] = [(first.pk, None)]
    assert broker.run() == ["delivered"]
    assert broker.run() == ["delivered"]  # the replay, after the first of its object
    ids = {r.body["id"] for r in receiver.accepted()}
    assert ids == {WebhookEvent.objects.get().event_id}

    # Everything since a time, through the replay form.
    request_refund()
    broker.run()
    before = len(receiver.accepted())
    form = admin_client.get(f"/admin/webhooks/webhookendpoint/{endpoint['id']}/replay/")
    assert form.status_code == 200 and "<script" not in form.content.decode().split("<body")[1].split("</form>")[0]
    since = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    response = admin_client.post(f"/admin/webhooks/webhookendpoint/{endpoint['id']}/replay/", {"since": since},
                                 follow=True)
    assert "2 event(s) queued again" in response.content.decode()
    broker.run()
    replayed = receiver.accepted()[before:]
    assert [r.body["id"] for r in replayed] == list(WebhookEvent.objects.order_by("id").values_list("event_id",
                                                                                                   flat=True))
    future = timezone.localtime(timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    response = admin_client.post(f"/admin/webhooks/webhookendpoint/{endpoint['id']}/replay/", {"since": future},
                                 follow=True)
    assert "0 event(s) queued again" in response.content.decode()


def test_event_admin_replays_to_subscribed_endpoints(admin_client, endpoint, receiver, broker):
    request_refund()
    broker.run()
    event = WebhookEvent.objects.get()
    response = admin_client.post("/admin/webhooks/webhookevent/", {"action": "replay",
                                                                   "_selected_action": [event.pk]}, follow=True)
    assert "1 deliver(ies) queued" in response.content.decode()
    broker.run()
    assert [r.body["id"] for r in receiver.accepted()] == [event.event_id, event.event_id]
