"""Delivery through the faked Graph API: retries with backoff, Retry-After, giving up, sending once, the
broker being down when the event happens, and what reaches the logs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
import responses
from django.urls import reverse
from django.utils import timezone

from notifications.models import Alert, Notification, NotificationStatus
from notifications.outbox import backoff_seconds
from notifications.tasks import deliver_notification, deliver_pending
from payments.callbacks.tokens import static_token
from payments.models import Payment
from tests.factories import sample
from tests.notifications.conftest import ADMIN_A, ADMIN_B, MESSAGES_URL, TOKEN

pytestmark = pytest.mark.django_db


def make_notification(**fields) -> Notification:
    defaults = dict(
        alert=Alert.PAYOUT_FAILED,
        dedupe_key=f"test:{timezone.now().timestamp()}:{ADMIN_A}",
        to=ADMIN_A,
        body="❌ *Payout failed*\nPayout #7: KES 10.00 to +254705912645",
        template_params=["7"],
    )
    defaults.update(fields)
    return Notification.objects.create(**defaults)


def time_passes(notification: Notification) -> None:
    """The backoff has elapsed."""
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def graph_error(status: int, code: int, message: str, **headers) -> dict:
    return dict(
        method=responses.POST,
        url=MESSAGES_URL,
        status=status,
        json={"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}},
        headers=headers,
    )


def graph_ok(message_id: str = "wamid.HBgLMjU0NzAwMDAwMDAxFQIAERgS") -> dict:
    return dict(
        method=responses.POST,
        url=MESSAGES_URL,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": ADMIN_A, "wa_id": ADMIN_A}],
            "messages": [{"id": message_id}],
        },
    )


@responses.activate
def test_server_error_is_retried_with_backoff_then_sent(whatsapp, broker):
    responses.add(**graph_error(500, 2, "Service temporarily unavailable"))
    responses.add(**graph_ok())
    notification = make_notification()

    assert deliver_notification(notification.pk) == "retry"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.PENDING, 1)
    assert "HTTP 500, Graph error 2: Service temporarily unavailable" in notification.last_error
    assert notification.next_attempt_at > timezone.now()
    [(queued_id, countdown)] = broker.queue
    assert queued_id == notification.pk and countdown >= 1

    # The queued retry arriving early (or a second copy of it) does nothing.
    assert broker.run() == ["skipped"]
    time_passes(notification)
    assert deliver_notification(notification.pk) == "sent"
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert notification.attempts == 2
    assert notification.provider_message_id == "wamid.HBgLMjU0NzAwMDAwMDAxFQIAERgS"
    assert notification.last_error == ""
    assert len(responses.calls) == 2


@responses.activate
def test_rate_limit_honours_retry_after(whatsapp, broker):
    responses.add(**graph_error(429, 130429, "Rate limit hit", **{"Retry-After": "120"}))
    notification = make_notification()

    assert deliver_notification(notification.pk) == "retry"
    notification.refresh_from_db()
    [(_, countdown)] = broker.queue
    assert countdown >= 120
    assert notification.next_attempt_at >= timezone.now() + timedelta(seconds=115)
    assert "HTTP 429" in notification.last_error


@responses.activate
def test_network_error_is_retried(whatsapp, broker):
    responses.add(responses.POST, MESSAGES_URL, body=requests.ConnectTimeout("connect timed out"))
    notification = make_notification()
    assert deliver_notification(notification.pk) == "retry"
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING
    assert "Network error: ConnectTimeout" in notification.last_error


@responses.activate
def test_client_error_that_retrying_cannot_fix_fails_at_once(whatsapp, broker):
    responses.add(**graph_error(400, 131030, "Recipient phone number not in allowed list"))
    notification = make_notification()

    assert deliver_notification(notification.pk) == "failed"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.FAILED, 1)
    assert "HTTP 400, Graph error 131030: Recipient phone number not in allowed list" in notification.last_error
    assert broker.queue == []
    assert deliver_notification(notification.pk) == "skipped"
    assert len(responses.calls) == 1


@responses.activate
def test_gives_up_after_the_last_attempt(whatsapp, broker, settings):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    responses.add(**graph_error(503, 1, "Please reduce the amount of data"))
    notification = make_notification()

    outcomes = []
    for _ in range(4):
        outcomes.append(deliver_notification(notification.pk))
        time_passes(notification)
    assert outcomes == ["retry", "retry", "failed", "skipped"]
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.attempts == 3
    assert "gave up after 3 attempts" in notification.last_error
    assert len(responses.calls) == 3


def test_backoff_grows_and_is_capped(settings):
    settings.NOTIFICATIONS_RETRY_BASE_SECONDS = 30
    settings.NOTIFICATIONS_RETRY_MAX_SECONDS = 600
    assert 24 <= backoff_seconds(1) <= 36
    assert 96 <= backoff_seconds(3) <= 144
    assert backoff_seconds(12) <= 720
    assert backoff_seconds(1, retry_after=300) >= 300


@responses.activate
def test_a_sent_row_is_never_sent_again(whatsapp, broker):
    responses.add(**graph_ok())
    notification = make_notification()
    assert [deliver_notification(notification.pk) for _ in range(3)] == ["sent", "skipped", "skipped"]
    assert len(responses.calls) == 1


@responses.activate
def test_a_row_claimed_by_another_worker_is_left_alone(whatsapp, broker):
    responses.add(**graph_ok())
    notification = make_notification(locked_until=timezone.now() + timedelta(minutes=5), claim_token="other")
    assert deliver_notification(notification.pk) == "skipped"
    assert not responses.calls
    # A claim that has expired (its worker died) is taken over.
    Notification.objects.filter(pk=notification.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert deliver_notification(notification.pk) == "sent"


@responses.activate
def test_missing_whatsapp_configuration_fails_without_a_request(whatsapp, broker):
    whatsapp.WHATSAPP_ACCESS_TOKEN = ""
    notification = make_notification()
    assert deliver_notification(notification.pk) == "failed"
    notification.refresh_from_db()
    assert "WhatsApp is not configured" in notification.last_error
    assert not responses.calls


# --- The broker ---------------------------------------------------------------------------------------


def test_broker_down_at_event_time_then_delivered_by_the_pick_up_task(
    client, whatsapp, admins, broker, graph, django_capture_on_commit_callbacks, caplog
):
    broker.down = True
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")}),
            data=json.dumps(sample("c2b_confirmation")),
            content_type="application/json",
        )

    # The callback did its job; the messages wait in the outbox.
    assert response.status_code == 200
    assert response.json()["ResultCode"] == 0
    assert Payment.objects.filter(receipt="RKL51ZDR4F").exists()
    notifications = list(Notification.objects.order_by("to"))
    assert [(n.to, n.status, n.attempts) for n in notifications] == [
        (ADMIN_A, NotificationStatus.PENDING, 0),
        (ADMIN_B, NotificationStatus.PENDING, 0),
    ]
    assert "the pick-up task will deliver it" in caplog.text
    assert not graph.calls

    # The broker is back. The pick-up task leaves rows that are only just due to their own tasks...
    broker.down = False
    assert deliver_pending() == 0
    # ...and queues those that are overdue.
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=3))
    assert deliver_pending() == 2
    assert broker.run() == ["sent", "sent"]
    assert set(Notification.objects.values_list("status", flat=True)) == {NotificationStatus.SENT}
    assert sorted(json.loads(call.request.body)["to"] for call in graph.calls) == [ADMIN_A, ADMIN_B]

    # Running the pick-up again (or a late copy of the lost task) sends nothing more.
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=3))
    assert deliver_pending() == 0
    for notification in notifications:
        assert deliver_notification(notification.pk) == "skipped"
    assert len(graph.calls) == 2


def test_a_retry_that_cannot_be_queued_is_picked_up_when_due(whatsapp, broker):
    with responses.RequestsMock() as mock:
        mock.add(**graph_error(502, 2, "Bad gateway"))
        notification = make_notification()
        broker.down = True
        assert deliver_notification(notification.pk) == "retry"
        assert broker.queue == []
    broker.down = False
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=3))
    with responses.RequestsMock() as mock:
        mock.add(**graph_ok())
        assert deliver_pending() == 1
        assert broker.run() == ["sent"]


# --- Logs ---------------------------------------------------------------------------------------------


@responses.activate
def test_no_token_in_errors_or_logs_and_numbers_masked(whatsapp, broker, caplog):
    # A provider (or a proxy) that echoes the request back must not put the token into our records.
    responses.add(
        responses.POST,
        MESSAGES_URL,
        status=401,
        json={"error": {"message": f"Invalid OAuth access token - Cannot parse access token {TOKEN}", "code": 190}},
    )
    notification = make_notification()
    with caplog.at_level("DEBUG"):
        assert deliver_notification(notification.pk) == "failed"
    notification.refresh_from_db()
    assert TOKEN not in notification.last_error
    assert "[REDACTED]" in notification.last_error
    assert "Graph error 190" in notification.last_error
    assert TOKEN not in caplog.text
    assert ADMIN_A not in caplog.text
    assert "2547****0001" in caplog.text


def test_console_backend_logs_the_message_with_numbers_masked(settings, broker, caplog):
    settings.NOTIFICATIONS_BACKEND = "console"
    notification = make_notification()
    with caplog.at_level("INFO", logger="notifications"):
        assert deliver_notification(notification.pk) == "sent"
    notification.refresh_from_db()
    assert notification.provider_message_id == f"console-{notification.pk}"
    assert "❌ *Payout failed*" in caplog.text
    assert "to=2547****0001" in caplog.text
    assert "+2547****2645" in caplog.text  # a number inside the message, masked too
    assert "254705912645" not in caplog.text
    assert ADMIN_A not in caplog.text
