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


def secret_on(page: str) -> str:
    return page.split('<code class="webhook-secret">')[1].split("<")[0]


def cookies_and_headers(client, response) -> str:
    """Everything the browser is asked to keep or was sent: every cookie value and every response header."""
    return " ".join([*(m.value for m in client.cookies.values()), *(m.value for m in response.cookies.values()),
                     *(f"{k}: {v}" for k, v in response.items())])  # fmt: skip


def test_adding_an_endpoint_in_the_admin_shows_its_secret_on_the_answer_never_in_a_cookie(
    admin_client, receiver, caplog
):
    response = admin_client.post("/admin/webhooks/webhookendpoint/add/",
                                 {"url": receiver.url(), "events": ["payout.completed", "payout.failed"],
                                  "description": "ERP", "enabled": "on"})  # fmt: skip
    assert response.status_code == 200  # the page itself, no redirect carrying a message
    text = response.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["payout.completed", "payout.failed"]
    assert "shown only on this page" in text
    secret = secret_on(text)
    assert secret.startswith("whsec_")
    assert "no-store" in response["Cache-Control"]
    assert secret not in cookies_and_headers(admin_client, response)
    assert secret not in caplog.text
    page = admin_client.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/")
    assert secret not in page.content.decode()
    assert secret not in cookies_and_headers(admin_client, page)


def test_rotating_in_the_admin_shows_the_new_secret_on_the_answer_never_in_a_cookie(admin_client, endpoint):
    response = admin_client.post("/admin/webhooks/webhookendpoint/",
                                 {"action": "rotate_secret", "_selected_action": [endpoint["id"]]})  # fmt: skip
    assert response.status_code == 200
    secret = secret_on(response.content.decode())
    assert secret.startswith("whsec_") and secret != endpoint["secret"]
    assert "keeps signing until" in response.content.decode()
    assert secret not in cookies_and_headers(admin_client, response)
    listing = admin_client.get("/admin/webhooks/webhookendpoint/")
    assert secret not in listing.content.decode() + cookies_and_headers(admin_client, listing)


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
