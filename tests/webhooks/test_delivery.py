"""Delivery through a real HTTP receiver on 127.0.0.1: signatures, retries with backoff, per-object order,
410 and 20 failures in a row disabling the endpoint (with an alert), rotation, timeouts, redirects not
followed, the broker being down, and a webhook problem never blocking the payout."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from payments.models import Payout, PayoutEditor, PayoutStatus
from tests.factories import b2c_result, make_approver, make_payment, make_payout, make_requester
from tests.payments.factories import token_client as api
from tests.webhooks.receiver import SlowReceiver, verify
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services.delivery import backoff_seconds
from webhooks.tasks import deliver_pending_webhooks

pytestmark = pytest.mark.django_db(transaction=True)


def request_refund(amount: str = "300") -> dict:
    payment = make_payment(amount=Decimal("1000"))
    response = api(make_requester()).post(f"/api/payments/{payment.pk}/refund/",
                                          {"reason": "Returned goods", "amount": amount}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def time_passes(**filters) -> None:
    """The backoff has run out (rather than waiting for it)."""
    WebhookDelivery.objects.filter(**filters).update(next_attempt_at=timezone.now() - timedelta(minutes=5))


def test_refund_and_approval_arrive_signed_with_the_api_representation(endpoint, receiver, broker):
    refund = request_refund()
    approver = make_approver()
    assert api(approver).post(f"/api/payouts/{refund['id']}/approve/").status_code == 200
    assert broker.run() == ["delivered", "delivered"]

    got = receiver.got()
    assert [r.body["type"] for r in got] == ["refund.requested", "payout.approved"]
    for r in got:
        assert r.valid_with == receiver.secrets and r.v1_count == 1
        assert r.headers["Content-Type"] == "application/json"
        assert set(r.body) == {"id", "type", "created", "data"}
    assert got[0].body["data"] == {**refund, "events": got[0].body["data"]["events"]}
    assert got[1].body["data"]["status"] == "approved" and got[1].body["data"]["approvals"][0]["approver"]
    # A tampered body or a stale timestamp does not verify.
    header = got[0].headers["X-Payouts-Signature"]
    assert not verify(header, got[0].raw.replace(b"300.00", b"900.00"), receiver.secrets[0])
    assert not verify(header, got[0].raw, receiver.secrets[0], now=int(header[2:12]) + 301)
    delivery = WebhookDelivery.objects.order_by("id").first()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    assert delivery.latency_ms is not None and delivery.response_excerpt == '{"received": true}'


def test_b2c_result_raises_payout_completed(endpoint, receiver, broker, client):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    # Someone changed its amount before it was approved: the detail lists them, and so must the event.
    PayoutEditor.objects.create(payout=payout, user=make_requester(), changed_bound=True, fields=["amount"])
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})
    for _ in range(2):  # Safaricom delivers twice: one state change, one event
        assert client.post(url, data=json.dumps(b2c_result(payout)), content_type="application/json").status_code \
            == 200
    broker.run()
    [got] = receiver.valid()
    assert got.body["type"] == "payout.completed"
    assert got.body["data"]["status"] == "completed" and got.body["data"]["transaction_id"]
    # Exactly what the API's detail says now (nothing has changed since), audit trail included.
    staff = make_approver()
    assert got.body["data"] == api(staff).get(f"/api/payouts/{payout.pk}/").json()


def test_a_success_reported_for_a_failed_payout_raises_needs_review(endpoint, receiver, broker, client):
    payout = make_payout(status=PayoutStatus.FAILED)
    url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})
    assert client.post(url, data=json.dumps(b2c_result(payout)), content_type="application/json").status_code == 200
    broker.run()
    [got] = receiver.accepted()
    assert got.body["type"] == "payout.needs_review" and got.body["data"]["review_reason"]


def test_a_large_payout_is_approved_when_the_second_approver_approves(settings, endpoint, receiver, broker):
    settings.PAYOUT_DUAL_APPROVAL_THRESHOLD = Decimal("100")
    response = api(make_requester()).post("/api/payouts/", {"phone": "254712345678", "amount": "5000",
                                                            "remarks": "Quarterly fee"}, format="json")
    assert response.status_code == 201
    payout_id = response.json()["id"]
    first, second = make_approver(), make_approver()
    assert api(first).post(f"/api/payouts/{payout_id}/approve/").json()["status"] == "pending_approval"
    broker.run()
    assert [r.body["type"] for r in receiver.accepted()] == ["payout.requested"]
    assert api(second).post(f"/api/payouts/{payout_id}/approve/").json()["status"] == "approved"
    broker.run()
    approved = receiver.accepted()[-1].body
    assert approved["type"] == "payout.approved"
    assert [a["approver"] for a in approved["data"]["approvals"]] == [first.username, second.username]
    assert approved["data"] == api(first).get(f"/api/payouts/{payout_id}/").json()


def test_subscriptions_and_disabled_endpoints_get_only_what_they_asked_for(integrator, receiver, broker):
    client = api(integrator)
    only_completed = client.post("/api/webhook-endpoints/", {"url": receiver.url("/completed"),
                                                              "events": ["payout.completed"]}, format="json")
    disabled = client.post("/api/webhook-endpoints/", {"url": receiver.url("/off"), "events": ["*"],
                                                        "enabled": False}, format="json")
    assert only_completed.status_code == disabled.status_code == 201
    request_refund()
    broker.run()
    assert receiver.got() == [] and not WebhookDelivery.objects.exists()
    assert WebhookEvent.objects.count() == 1  # the feed has it all the same


def test_failures_retry_with_backoff_until_a_2xx(endpoint, receiver, broker):
    receiver.answer = 500
    request_refund()
    assert broker.run() == ["retry"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, 500)
    assert delivery.last_error == "HTTP 500" and delivery.response_excerpt == "not now"
    assert delivery.next_attempt_at > timezone.now()
    [(_, countdown)] = broker.queue
    assert countdown >= 1
    assert broker.run() == ["skipped"]  # the retry arriving early does nothing

    receiver.answer = 200
    time_passes()
    broker.queue.append((delivery.pk, None))
    assert broker.run() == ["delivered"]
    got = receiver.got()
    assert len(got) == 3 - 1 and got[0].body["id"] == got[1].body["id"]  # same id on every attempt
    assert WebhookEndpoint.objects.get().consecutive_failures == 0


def test_backoff_is_exponential_with_jitter_and_gives_up_after_three_days(settings, endpoint, receiver, broker):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    assert 24 <= backoff_seconds(1) <= 36 and 192 <= backoff_seconds(4) <= 288
    assert backoff_seconds(30) <= settings.WEBHOOK_RETRY_MAX_SECONDS * 1.2
    receiver.answer = 503
    request_refund()
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(hours=72) + timedelta(seconds=10))
    assert broker.run() == ["failed"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and "gave up after 1 attempts" in delivery.last_error


def test_later_events_of_an_object_wait_for_earlier_ones(endpoint, receiver, broker):
    receiver.answer = 500
    refund = request_refund()
    assert broker.run() == ["retry"]
    broker.queue.clear()
    assert api(make_approver()).post(f"/api/payouts/{refund['id']}/approve/").status_code == 200
    other = request_refund()  # another object is not held up
    receiver.answer = 200
    assert broker.run() == ["waiting", "delivered"]
    assert [r.body["data"]["id"] for r in receiver.accepted()] == [other["id"]]

    time_passes(status="pending")
    assert deliver_pending_webhooks.apply().get() == 1  # the sweep queues only the first in line
    assert broker.run() == ["delivered"]
    assert broker.run() == ["delivered"]  # its success queued the next of the same payout
    types = [r.body["type"] for r in receiver.accepted() if r.body["data"]["id"] == refund["id"]]
    assert types == ["refund.requested", "payout.approved"]


def test_410_gone_disables_the_endpoint_and_alerts_the_admins(settings, endpoint, receiver, broker):
    settings.ADMIN_WHATSAPP_NUMBERS = ["254700000001"]
    receiver.answer = 410
    request_refund()
    assert broker.run() == ["failed"]
    stored = WebhookEndpoint.objects.get()
    assert stored.enabled is False and "410" in stored.disabled_reason
    [alert] = Notification.objects.filter(alert="webhook_disabled")
    assert alert.to == "254700000001" and stored.url in alert.body
    request_refund()  # a disabled endpoint gets nothing new
    assert WebhookDelivery.objects.count() == 1


def test_twenty_failures_in_a_row_disable_the_endpoint_and_enabling_resumes(settings, endpoint, receiver, broker):
    settings.ADMIN_WHATSAPP_NUMBERS = ["254700000001"]
    receiver.answer = 500
    for _ in range(20):
        request_refund()
    outcomes = broker.run()
    assert outcomes == ["retry"] * 20
    stored = WebhookEndpoint.objects.get()
    assert stored.enabled is False and stored.consecutive_failures == 20
    assert "20 failed deliveries in a row" in stored.disabled_reason
    assert Notification.objects.filter(alert="webhook_disabled").count() == 1
    broker.queue.clear()
    time_passes()
    assert deliver_pending_webhooks.apply().get() == 0  # nothing is sent to a disabled endpoint

    receiver.answer = 200
    patched = api(endpoint_owner()).patch(f"/api/webhook-endpoints/{stored.pk}/", {"enabled": True}, format="json")
    assert patched.status_code == 200 and patched.json()["consecutive_failures"] == 0
    assert sorted(broker.run()) == ["delivered"] * 20
    assert not WebhookDelivery.objects.exclude(status="delivered").exists()


def endpoint_owner():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="integrator")


def test_rotation_signs_with_both_secrets_for_24_hours(endpoint, receiver, broker):
    old_secret = receiver.secrets[0]
    rotated = api(endpoint_owner()).post(f"/api/webhook-endpoints/{endpoint['id']}/rotate/")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != old_secret and rotated.json()["previous_valid_until"]
    assert new_secret not in api(endpoint_owner()).get(f"/api/webhook-endpoints/{endpoint['id']}/").content.decode()
    receiver.secrets = [old_secret, new_secret]
    request_refund()
    broker.run()
    [during] = receiver.got()
    assert during.v1_count == 2 and during.valid_with == [old_secret, new_secret]

    # 24 hours later the old secret no longer signs.
    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    request_refund()
    broker.run()
    after = receiver.got()[1]
    assert after.v1_count == 1 and after.valid_with == [new_secret]


def test_a_slow_receiver_times_out_and_is_retried(settings, endpoint, receiver, broker):
    settings.WEBHOOK_READ_TIMEOUT_SECONDS = 0.3
    receiver.delay = 1.0
    request_refund()
    assert broker.run() == ["retry"]
    assert WebhookDelivery.objects.get().last_error.startswith("Network error")


@pytest.fixture
def slow_receiver():
    server = SlowReceiver(interval=1.0, max_seconds=12).start()
    try:
        yield server
    finally:
        server.stop()


def test_a_receiver_dripping_its_answer_is_given_up_at_the_deadline(settings, integrator, slow_receiver, broker):
    # One byte a second never trips the 10 s read timeout; only the attempt's own deadline ends it.
    settings.WEBHOOK_READ_TIMEOUT_SECONDS = 10
    settings.WEBHOOK_DELIVERY_DEADLINE_SECONDS = 2.5
    registered = api(integrator).post(
        "/api/webhook-endpoints/", {"url": slow_receiver.url(), "events": ["*"]}, format="json"
    )
    assert registered.status_code == 201, registered.content
    request_refund()
    started = time.monotonic()
    assert broker.run() == ["retry"]
    assert time.monotonic() - started < 4.0
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_error == "No answer within 2.5 s (WEBHOOK_DELIVERY_DEADLINE_SECONDS)"
    assert slow_receiver.count() == 1


def test_a_2xx_whose_body_drips_is_delivered_at_the_deadline(settings, integrator, slow_receiver, broker):
    settings.WEBHOOK_DELIVERY_DEADLINE_SECONDS = 2.5
    slow_receiver.head_at_once = True
    api(integrator).post("/api/webhook-endpoints/", {"url": slow_receiver.url(), "events": ["*"]}, format="json")
    request_refund()
    started = time.monotonic()
    assert broker.run() == ["delivered"]
    assert time.monotonic() - started < 4.0
    delivery = WebhookDelivery.objects.get()
    assert delivery.response_status == 200 and delivery.response_excerpt.startswith('{"')


def test_an_answer_that_is_not_http_is_a_network_error_retried_without_a_traceback(integrator, broker, caplog):
    import socketserver

    class NotHttp(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.recv(65536)
            self.request.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    with socketserver.TCPServer(("127.0.0.1", 0), NotHttp) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        api(integrator).post("/api/webhook-endpoints/", {"url": url, "events": ["*"]}, format="json")
        request_refund()
        try:
            assert broker.run() == ["retry"]
        finally:
            server.shutdown()
    assert WebhookDelivery.objects.get().last_error == "Network error: ProtocolError"
    assert "webhook delivery error" not in caplog.text


def test_redirects_are_not_followed(endpoint, receiver, broker):
    receiver.answer = lambda path: 302 if path == "/hooks/payouts" else 200
    request_refund()
    assert broker.run() == ["retry"]
    assert [r.path for r in receiver.got()] == ["/hooks/payouts"]
    assert WebhookDelivery.objects.get().response_status == 302


def test_the_outbox_survives_a_broker_outage(settings, endpoint, receiver, broker):
    broker.down = True
    refund = request_refund()  # the refund itself is unaffected
    assert Payout.objects.get(pk=refund["id"]).status == PayoutStatus.PENDING_APPROVAL
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and broker.queue == [] and receiver.got() == []

    broker.down = False
    assert deliver_pending_webhooks.apply().get() == 0  # not overdue yet: its own task may still come
    WebhookDelivery.objects.update(
        next_attempt_at=timezone.now() - timedelta(seconds=settings.WEBHOOK_PICKUP_AFTER_SECONDS + 1)
    )
    assert deliver_pending_webhooks.apply().get() == 1
    assert broker.run() == ["delivered"]
    [got] = receiver.valid()
    assert got.body["data"]["id"] == refund["id"]


def test_a_webhook_failure_never_blocks_a_payout(monkeypatch, endpoint, receiver, broker, caplog):
    def broken(**kwargs):
        raise RuntimeError("serializer exploded")

    monkeypatch.setattr("webhooks.services.events.event_data", broken)
    refund = request_refund()
    approved = api(make_approver()).post(f"/api/payouts/{refund['id']}/approve/")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert Payout.objects.get(pk=refund["id"]).status == PayoutStatus.APPROVED
    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()
    assert "could not record webhook event refund.requested" in caplog.text
    assert receiver.secrets[0] not in caplog.text
