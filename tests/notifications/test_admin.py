"""The notification log and the recipients in the admin; numbers; configuration checks."""

from __future__ import annotations

import pytest
import responses
from django.urls import reverse

from notifications.checks import check_notifications
from notifications.models import Alert, Notification, NotificationRecipient, NotificationStatus
from notifications.numbers import InvalidWhatsAppNumber, normalize_whatsapp_number
from tests.notifications.conftest import ADMIN_A, MESSAGES_URL

pytestmark = pytest.mark.django_db


def make_notification(status=NotificationStatus.FAILED, **fields) -> Notification:
    n = Notification.objects.count()
    defaults = dict(
        alert=Alert.PAYOUT_COMPLETED,
        dedupe_key=f"admin-test:{n}:{ADMIN_A}",
        to=ADMIN_A,
        body="✅ *Payout completed*",
        status=status,
        attempts=8,
        last_error="HTTP 503: unavailable (gave up after 8 attempts)",
    )
    if status == NotificationStatus.SENT:
        from django.utils import timezone

        defaults["sent_at"] = timezone.now()
    defaults.update(fields)
    return Notification.objects.create(**defaults)


def test_log_lists_filters_and_shows_a_message(admin_client):
    failed = make_notification()
    make_notification(status=NotificationStatus.SENT)
    url = reverse("admin:notifications_notification_changelist")

    response = admin_client.get(url, {"status__exact": "failed"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [failed]
    assert admin_client.get(url, {"alert__exact": Alert.PAYOUT_COMPLETED, "q": ADMIN_A}).status_code == 200

    detail = admin_client.get(reverse("admin:notifications_notification_change", args=[failed.pk]))
    assert detail.status_code == 200
    assert "gave up after 8 attempts" in detail.content.decode()
    assert "✅ *Payout completed*" in detail.content.decode()


def test_resend_action_queues_failed_rows_and_never_resends_a_sent_one(
    admin_client, whatsapp, broker, django_capture_on_commit_callbacks
):
    failed = make_notification()
    sent = make_notification(status=NotificationStatus.SENT)
    url = reverse("admin:notifications_notification_changelist")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"action": "resend", "_selected_action": [failed.pk, sent.pk]}, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 notification(s) queued to send again." in text
    assert "1 skipped" in text
    assert broker.ids() == [failed.pk]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (NotificationStatus.PENDING, 0)

    with responses.RequestsMock() as mock:
        mock.add(responses.POST, MESSAGES_URL, json={"messages": [{"id": "wamid.RESENT"}]})
        assert broker.run() == ["sent"]
    failed.refresh_from_db()
    assert (failed.status, failed.provider_message_id, failed.attempts) == ("sent", "wamid.RESENT", 1)


def test_notifications_cannot_be_added_or_deleted_in_the_admin(admin_client):
    notification = make_notification()
    assert admin_client.get(reverse("admin:notifications_notification_add")).status_code == 403
    assert (
        admin_client.get(reverse("admin:notifications_notification_delete", args=[notification.pk])).status_code == 403
    )


def test_recipient_form_normalises_the_number_and_keeps_the_chosen_alerts(admin_client):
    response = admin_client.post(
        reverse("admin:notifications_notificationrecipient_add"),
        {
            "name": "Amina (finance)",
            "phone": "0722 000 123",
            "alerts": [Alert.DAILY_SUMMARY, Alert.LOW_BALANCE],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    recipient = NotificationRecipient.objects.get()
    assert recipient.phone == "254722000123"
    assert set(recipient.alerts) == {Alert.LOW_BALANCE, Alert.DAILY_SUMMARY}
    assert recipient.receives(Alert.DAILY_SUMMARY)
    assert not recipient.receives(Alert.APPROVAL_REQUESTED)

    bad = admin_client.post(
        reverse("admin:notifications_notificationrecipient_add"), {"name": "x", "phone": "12", "alerts": []}
    )
    assert bad.status_code == 200
    assert "international form" in bad.content.decode()
    assert admin_client.get(reverse("admin:notifications_notificationrecipient_changelist")).status_code == 200


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("+254712345678", "254712345678"),
        ("254712345678", "254712345678"),
        ("0712 345 678", "254712345678"),
        ("+44 7700 900123", "447700900123"),
        ("00255712345678", "255712345678"),
    ],
)
def test_whatsapp_numbers_are_normalised(raw, expected):
    assert normalize_whatsapp_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "+0712345678", "not a number", "1234567890123456"])
def test_invalid_whatsapp_numbers_are_refused(raw):
    with pytest.raises(InvalidWhatsAppNumber):
        normalize_whatsapp_number(raw)


def test_checks_refuse_a_whatsapp_backend_without_credentials_or_a_bad_admin_number(settings):
    settings.NOTIFICATIONS_BACKEND = "whatsapp"
    settings.WHATSAPP_ACCESS_TOKEN = ""
    settings.ADMIN_WHATSAPP_NUMBERS = ["12"]
    settings.NOTIFY_CUSTOMERS = True
    settings.WHATSAPP_TEMPLATES = {"no_such_alert": "x"}
    ids = {problem.id for problem in check_notifications()}
    assert {"notifications.E002", "notifications.E003", "notifications.W001", "notifications.W002"} <= ids


def test_checks_pass_on_the_local_defaults(settings):
    settings.NOTIFICATIONS_BACKEND = "console"
    settings.ADMIN_WHATSAPP_NUMBERS = []
    settings.NOTIFY_CUSTOMERS = False
    settings.WHATSAPP_TEMPLATES = {}
    assert check_notifications() == []
