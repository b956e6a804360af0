"""Each alert's text, its recipients and its de-duplication, raised through the real signal path: callbacks
posted to the real URL routes, and payout transitions made by the payments services."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Alert, Notification, NotificationRecipient, NotificationStatus
from payments.callbacks.tokens import static_token
from payments.models import (
    EventSource,
    FloatBalance,
    FloatSource,
    PaymentStatus,
    PayoutKind,
    PayoutStatus,
)
from payments.payouts.lifecycle import payout_transition
from payments.payouts.settlement import float_record
from tests.factories import b2c_result, make_approver, make_payment, make_payout, make_requester, sample
from tests.notifications.conftest import ADMIN_A, ADMIN_B, MESSAGES_URL, TOKEN

pytestmark = pytest.mark.django_db


def post(client, name: str, token: str, body):
    return client.post(
        reverse(f"callbacks:{name}", kwargs={"token": token}), data=json.dumps(body), content_type="application/json"
    )


def rows(alert: str) -> list[Notification]:
    return list(Notification.objects.filter(alert=alert).order_by("to"))


def sent_bodies(graph) -> list[dict]:
    return [json.loads(call.request.body) for call in graph.calls]


# --- Payment received -------------------------------------------------------------------------------


def test_stk_payment_notifies_every_admin_once_and_a_repeat_callback_sends_nothing(
    client, whatsapp, admins, broker, graph, django_capture_on_commit_callbacks
):
    make_payment(
        status=PaymentStatus.PENDING,
        receipt=None,
        amount=Decimal("1.00"),
        checkout_request_id="ws_CO_191220191020363925",
        source="stk_push",
        phone="254708374149",
        account_reference="Order #123",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "stk", static_token("stk"), sample("stk_callback_success")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "stk", static_token("stk"), sample("stk_callback_success")).status_code == 200

    notifications = rows(Alert.PAYMENT_RECEIVED)
    assert [n.to for n in notifications] == [ADMIN_A, ADMIN_B]
    body = notifications[0].body
    assert body.startswith("💰 *Payment received*")
    for fact in ("Amount: KES 1.00", "Receipt: NLJ7RT61SV", "Customer: +254708374149", "Reference: Order #123"):
        assert fact in body
    assert len(broker.ids()) == 2  # queued once per row, after commit

    assert broker.run() == ["sent", "sent"]
    assert len(graph.calls) == 2
    request = graph.calls[0].request
    assert request.url == MESSAGES_URL
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    payload = json.loads(request.body)
    assert payload["messaging_product"] == "whatsapp"
    assert payload["type"] == "text"
    assert payload["to"] == ADMIN_A
    assert payload["text"]["body"] == body
    first = Notification.objects.get(pk=notifications[0].pk)
    assert (first.status, first.attempts) == (NotificationStatus.SENT, 1)
    assert first.provider_message_id.startswith("wamid.TEST")
    assert first.payment is not None and first.sent_at is not None


def test_duplicate_c2b_confirmation_makes_no_second_message(client, admins, broker, django_capture_on_commit_callbacks):
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            post(client, "c2b-confirmation", static_token("c2b"), sample("c2b_confirmation"))

    notifications = rows(Alert.PAYMENT_RECEIVED)
    assert len(notifications) == 2
    assert len(broker.ids()) == 2
    # A C2B confirmation's number arrives masked: shown as given.
    assert "Customer: 2547 ***** 126 (NICHOLAS)" in notifications[0].body
    assert "Reference: Sample Transaction" in notifications[0].body
    assert "KES 5.00" in notifications[0].body


def test_nothing_is_written_when_nobody_is_configured(client, broker, settings, django_capture_on_commit_callbacks):
    settings.ADMIN_WHATSAPP_NUMBERS = []
    with django_capture_on_commit_callbacks(execute=True):
        post(client, "c2b-confirmation", static_token("c2b"), sample("c2b_confirmation"))
    assert not Notification.objects.exists()
    assert broker.queue == []


# --- Approval requests ------------------------------------------------------------------------------


def test_refund_request_goes_to_approvers_only_with_link_and_warning(
    admins, broker, django_capture_on_commit_callbacks
):
    from payments.payouts.services import payment_refund

    requester = make_requester("wanjiru")
    approver = make_approver("otieno")
    NotificationRecipient.objects.create(name="Otieno", phone="254722000003", user=approver)
    NotificationRecipient.objects.create(name="Wanjiru", phone="254722000004", user=requester)
    NotificationRecipient.objects.create(name="Ops", phone="254722000005")  # no user: an approver's phone
    NotificationRecipient.objects.create(
        name="Finance", phone="254722000006", alerts=[Alert.PAYMENT_RECEIVED, Alert.DAILY_SUMMARY]
    )
    NotificationRecipient.objects.create(name="Gone", phone="254722000007", is_active=False)
    # An environment number with a row of its own follows the row (here: not subscribed to approvals).
    NotificationRecipient.objects.create(name="Owner", phone=ADMIN_B, alerts=[Alert.PAYOUT_FAILED])
    payment = make_payment(amount=Decimal("1500.00"), phone="254712345678", receipt="SAA1BC2DE3")

    with django_capture_on_commit_callbacks(execute=True):
        payout = payment_refund(
            payment_id=payment.pk,
            requested_by=requester,
            reason="Order cancelled by the customer",
            amount=Decimal("500"),
            phone="0799000111",
        )

    notifications = rows(Alert.APPROVAL_REQUESTED)
    assert [n.to for n in notifications] == [ADMIN_A, "254722000003", "254722000005"]
    body = notifications[0].body
    assert body.startswith("🕒 *Refund waiting for approval*")
    for fact in (
        f"Refund #{payout.pk} of payment SAA1BC2DE3",
        "Requested by: wanjiru",
        "Amount: KES 500.00",
        "To: +254799000111",
        "Not the number that paid",
        "Reason: Order cancelled by the customer",
        f"https://payouts.example.co.ke/admin/payments/payout/{payout.pk}/change/",
    ):
        assert fact in body
    assert all(n.payout_id == payout.pk for n in notifications)
    assert sorted(broker.ids()) == sorted(n.pk for n in notifications)


def test_a_csv_batch_raises_one_approval_request_not_one_per_row(admins, broker):
    from django.db import transaction

    from payments.models import PayoutBatch
    from payments.payouts.services import payout_request_disbursement

    uploader = make_requester("akinyi")
    with transaction.atomic():
        batch = PayoutBatch.objects.create(name="Trainers March", uploaded_by=uploader, file_name="march.csv")
        for n in range(3):
            payout_request_disbursement(
                requested_by=uploader,
                phone=f"07220001{n:02d}",
                amount=Decimal("100"),
                remarks="Trainer payout",
                batch=batch,
            )

    notifications = rows(Alert.APPROVAL_REQUESTED)
    assert [n.to for n in notifications] == [ADMIN_A, ADMIN_B]
    body = notifications[0].body
    assert body.startswith("🕒 *Bulk payouts waiting for approval*")
    assert f"Batch #{batch.pk}: Trainers March (march.csv)" in body
    assert "Uploaded by: akinyi" in body
    assert f"/admin/payments/payoutbatch/{batch.pk}/change/" in body


def test_admin_base_url_sets_the_link(settings, admins, broker):
    settings.ADMIN_BASE_URL = "https://admin.example.com"
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SUBMITTED],
        to_status=PayoutStatus.NEEDS_REVIEW,
        action="unanswered",
        source=EventSource.TASK,
        fields={"review_reason": "No answer to 3 status queries"},
    )
    body = rows(Alert.PAYOUT_NEEDS_REVIEW)[0].body
    assert f"https://admin.example.com/admin/payments/payout/{payout.pk}/change/" in body


# --- Payout outcomes --------------------------------------------------------------------------------


def test_completed_payout_alert_has_receipt_amount_recipient_and_replay_is_deduplicated(client, admins, broker):
    payout = make_payout()
    body = b2c_result(payout)
    for _ in range(2):
        assert post(client, "b2c-result", payout.callback_token, body).status_code == 200

    notifications = rows(Alert.PAYOUT_COMPLETED)
    assert [n.to for n in notifications] == [ADMIN_A, ADMIN_B]
    text = notifications[0].body
    assert text.startswith("✅ *Payout completed*")
    for fact in ("Receipt: SG632NMUAB", "Amount: KES 10.00", "Recipient: NICHOLAS JOHN SONGOK (+254705912645)"):
        assert fact in text
    # The float in that result is far above the alert level.
    assert not Notification.objects.filter(alert=Alert.LOW_BALANCE).exists()


def test_failed_payout_alert_explains_the_code_from_the_catalogue(client, admins, broker):
    from daraja.result_codes import lookup

    payout = make_payout()
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, "b2c_result_failure"))

    info = lookup("2001")
    text = rows(Alert.PAYOUT_FAILED)[0].body
    assert text.startswith("❌ *Payout failed*")
    assert f"Code 2001: {info.admin_message}" in text
    assert "M-Pesa said: The initiator information is invalid." in text
    assert f"What to do: {info.action}" in text
    assert f"/admin/payments/payout/{payout.pk}/change/" in text


def test_failed_payout_alert_falls_back_to_the_description_without_a_catalogue(admins, broker, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "daraja.result_codes", None)  # import now raises ImportError
    payout = make_payout(result_code="", result_description="")
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SUBMITTED],
        to_status=PayoutStatus.FAILED,
        action="failed",
        source=EventSource.CALLBACK,
        fields={"result_code": "2001", "result_description": "The initiator information is invalid."},
    )
    text = rows(Alert.PAYOUT_FAILED)[0].body
    assert "Code 2001: The initiator information is invalid." in text
    assert "M-Pesa said" not in text
    assert "What to do: Check the payout in the admin" in text


def test_needs_review_alert_says_why(client, admins, broker):
    payout = make_payout(amount=Decimal("20.00"))  # M-Pesa will report KES 10: a mismatch
    post(client, "b2c-result", payout.callback_token, b2c_result(payout))
    text = rows(Alert.PAYOUT_NEEDS_REVIEW)[0].body
    assert text.startswith("⚠️ *Payout needs review*")
    assert "Why: M-Pesa paid KES 10" in text
    assert not rows(Alert.PAYOUT_COMPLETED)


def test_a_recipient_edited_in_the_admin_counts_from_the_next_alert(client, admins, broker):
    # The recipient list is kept in memory for a few seconds during bursts; an edit must still apply at once.
    first, second = make_payout(), make_payout()
    post(client, "b2c-result", first.callback_token, b2c_result(first))
    ops = NotificationRecipient.objects.create(name="Ops", phone="254722000009", alerts=[Alert.PAYOUT_COMPLETED])
    NotificationRecipient.objects.create(name="Owner", phone=ADMIN_B, is_active=False, alerts=[])
    body = b2c_result(second)
    body["Result"]["ResultParameters"]["ResultParameter"][1]["Value"] = "SG632NMUAZ"
    post(client, "b2c-result", second.callback_token, body)
    assert sorted(n.to for n in rows(Alert.PAYOUT_COMPLETED) if n.payout_id == second.pk) == [ADMIN_A, ops.phone]


def test_rejected_or_sending_payouts_raise_no_alert(admins, broker):
    payout = make_payout(status=PayoutStatus.APPROVED)
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.APPROVED],
        to_status=PayoutStatus.SENDING,
        action="sending",
        source=EventSource.TASK,
    )
    assert not Notification.objects.exists()


# --- Customers (NOTIFY_CUSTOMERS) -------------------------------------------------------------------


def _refund(**fields):
    payment = make_payment(amount=Decimal("800.00"), receipt="SAB2CD3EF4", phone="254712345678")
    return make_payout(
        kind=PayoutKind.REFUND, payment=payment, phone="254712345678", amount=Decimal("800.00"), **fields
    )


def test_customer_hears_nothing_unless_notify_customers_is_on(client, settings, broker):
    settings.NOTIFY_CUSTOMERS = False
    settings.ADMIN_WHATSAPP_NUMBERS = []
    payout = _refund()
    post(client, "b2c-result", payout.callback_token, b2c_result(payout, TransactionID="SG632NMUAB"))
    assert not Notification.objects.exists()


def test_customer_is_told_when_refund_is_approved_and_when_paid(settings, broker):
    settings.NOTIFY_CUSTOMERS = True
    settings.ADMIN_WHATSAPP_NUMBERS = []
    payout = _refund(status=PayoutStatus.PENDING_APPROVAL)
    approver = make_approver()
    for to_status, from_status, source in [
        (PayoutStatus.APPROVED, PayoutStatus.PENDING_APPROVAL, EventSource.ADMIN),
        (PayoutStatus.SENDING, PayoutStatus.APPROVED, EventSource.TASK),
        (PayoutStatus.SUBMITTED, PayoutStatus.SENDING, EventSource.TASK),
    ]:
        payout_transition(
            payout_id=payout.pk,
            from_statuses=[from_status],
            to_status=to_status,
            action=to_status,
            source=source,
            actor=approver if source == EventSource.ADMIN else None,
        )
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SUBMITTED],
        to_status=PayoutStatus.COMPLETED,
        action="completed",
        source=EventSource.CALLBACK,
        fields={"transaction_id": "SGX1Y2Z3W4"},
    )

    approved = rows(Alert.CUSTOMER_REFUND_APPROVED)
    paid = rows(Alert.CUSTOMER_REFUND_PAID)
    assert [n.to for n in approved] == ["254712345678"]
    assert [n.to for n in paid] == ["254712345678"]
    assert "refund of KES 800.00 for M-Pesa payment SAB2CD3EF4 has been approved" in approved[0].body
    assert "M-Pesa receipt: SGX1Y2Z3W4" in paid[0].body
    assert paid[0].template_params == ["KES 800.00", "SGX1Y2Z3W4", "SAB2CD3EF4"]


def test_disbursements_never_message_the_recipient(settings, broker):
    settings.NOTIFY_CUSTOMERS = True
    settings.ADMIN_WHATSAPP_NUMBERS = []
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SUBMITTED],
        to_status=PayoutStatus.COMPLETED,
        action="completed",
        source=EventSource.CALLBACK,
        fields={"transaction_id": "SGQ1W2E3R4"},
    )
    assert not Notification.objects.exists()


def test_customer_message_goes_as_the_approved_template(whatsapp, broker, graph, django_capture_on_commit_callbacks):
    whatsapp.NOTIFY_CUSTOMERS = True
    whatsapp.ADMIN_WHATSAPP_NUMBERS = []
    whatsapp.WHATSAPP_TEMPLATES = {"customer_refund_approved": "refund_approved:en_US"}
    payout = _refund(status=PayoutStatus.PENDING_APPROVAL)
    with django_capture_on_commit_callbacks(execute=True):
        payout_transition(
            payout_id=payout.pk,
            from_statuses=[PayoutStatus.PENDING_APPROVAL],
            to_status=PayoutStatus.APPROVED,
            action="approved",
            source=EventSource.ADMIN,
        )
    assert broker.run() == ["sent"]

    payload = sent_bodies(graph)[0]
    assert payload["type"] == "template"
    assert payload["to"] == "254712345678"
    assert payload["template"]["name"] == "refund_approved"
    assert payload["template"]["language"] == {"code": "en_US"}
    assert payload["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "KES 800.00"}, {"type": "text", "text": "SAB2CD3EF4"}]}
    ]
    assert Notification.objects.get().template_name == "refund_approved"


def test_customer_message_without_a_template_fails_clearly_and_sends_nothing(whatsapp, broker, graph):
    whatsapp.NOTIFY_CUSTOMERS = True
    whatsapp.ADMIN_WHATSAPP_NUMBERS = []
    payout = _refund(status=PayoutStatus.PENDING_APPROVAL)
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.PENDING_APPROVAL],
        to_status=PayoutStatus.APPROVED,
        action="approved",
        source=EventSource.ADMIN,
    )
    from notifications.tasks import deliver_notification

    notification = Notification.objects.get()
    assert deliver_notification(notification.pk) == "failed"
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert "No approved template configured for customer_refund_approved" in notification.last_error
    assert not graph.calls


# --- Float -------------------------------------------------------------------------------------------


def _reading(amount: str) -> FloatBalance:
    return float_record(utility_available=Decimal(amount), source=FloatSource.BALANCE_QUERY)


def test_low_balance_alerts_when_it_falls_below_then_reminds_every_n_hours_and_again_after_a_top_up(
    settings, admins, broker
):
    settings.LOW_BALANCE_THRESHOLD = Decimal("10000")
    settings.LOW_BALANCE_ALERT_REPEAT_HOURS = 6
    settings.ADMIN_WHATSAPP_NUMBERS = [ADMIN_A]

    healthy = _reading("25000")
    assert not rows(Alert.LOW_BALANCE)
    first_low = _reading("9500")
    _reading("9000")  # still low, same streak: no second alert
    assert len(rows(Alert.LOW_BALANCE)) == 1
    text = rows(Alert.LOW_BALANCE)[0].body
    assert "Utility account: KES 9,500.00" in text
    assert "Alert level: KES 10,000.00" in text

    # Seven hours into the same low streak: one reminder.
    FloatBalance.objects.filter(pk=healthy.pk).update(observed_at=timezone.now() - timedelta(hours=8))
    FloatBalance.objects.filter(pk=first_low.pk).update(observed_at=timezone.now() - timedelta(hours=7))
    _reading("8000")
    _reading("7000")
    assert len(rows(Alert.LOW_BALANCE)) == 2

    _reading("50000")  # topped up
    _reading("4000")  # low again: a new streak alerts at once
    low = rows(Alert.LOW_BALANCE)
    assert len(low) == 3
    assert "KES 4,000.00" in sorted(low, key=lambda n: n.pk)[-1].body


def test_balance_result_callback_below_threshold_alerts(client, settings, admins, broker):
    settings.LOW_BALANCE_THRESHOLD = Decimal("500000")  # the sample reports KES 228,037.00
    post(client, "balance-result", static_token("balance"), sample("account_balance_result"))
    assert len(rows(Alert.LOW_BALANCE)) == 2
    assert "KES 228,037.00" in rows(Alert.LOW_BALANCE)[0].body


# --- Rejected callbacks ------------------------------------------------------------------------------


def test_a_burst_of_rejected_callbacks_alerts_once_per_window(client, settings, admins, broker):
    settings.CALLBACK_REJECTION_ALERT_THRESHOLD = 3
    settings.CALLBACK_REJECTION_ALERT_WINDOW_MINUTES = 5
    settings.ADMIN_WHATSAPP_NUMBERS = [ADMIN_A]

    for _ in range(2):
        assert post(client, "stk", "0" * 40, {"Body": {}}).status_code == 404
    assert not rows(Alert.CALLBACKS_REJECTED)
    for _ in range(4):
        post(client, "stk", "0" * 40, {"Body": {}})

    alerts = rows(Alert.CALLBACKS_REJECTED)
    assert len(alerts) == 1
    text = alerts[0].body
    assert text.startswith("🚨 *Rejected callbacks*")
    assert "3 requests to the callback URLs were refused in the last 5 minutes" in text
    assert "From: 127.0.0.1 (3)" in text
    assert "Unknown callback URL. (3)" in text


# --- Daily summary -----------------------------------------------------------------------------------


def test_daily_summary_counts_and_totals_once_a_day(clock, admins, broker):
    from notifications.tasks import send_daily_summary

    make_payment(amount=Decimal("1000.00"))
    make_payment(amount=Decimal("250.50"))
    make_payment(status=PaymentStatus.FAILED, receipt=None, amount=Decimal("99.00"))
    now = timezone.now()
    make_payout(status=PayoutStatus.COMPLETED, transaction_id="SGA1", amount=Decimal("300.00"), completed_at=now)
    make_payout(status=PayoutStatus.FAILED, completed_at=now)
    make_payout(status=PayoutStatus.PENDING_APPROVAL)
    make_payout(status=PayoutStatus.NEEDS_REVIEW)
    make_payout(status=PayoutStatus.SUBMITTED)
    FloatBalance.objects.create(utility_available=Decimal("123456.00"), source=FloatSource.BALANCE_QUERY)

    assert send_daily_summary() == 2
    assert send_daily_summary() == 0  # the same day again: nothing new

    text = rows(Alert.DAILY_SUMMARY)[0].body
    assert text.startswith("📊 *Daily summary, ")
    for fact in (
        "Payments received: 2 (KES 1,250.50)",
        "Payouts completed: 1 (KES 300.00)",
        "Payouts failed: 1",
        "Open now: 3",
        "- waiting for approval: 1",
        "- in flight (sending, submitted, verifying): 1",
        "- needing review: 1",
        "Float: KES 123,456.00",
    ):
        assert fact in text


# --- Never in the way -------------------------------------------------------------------------------


def test_a_notification_error_never_fails_the_callback_or_the_payout(client, admins, broker, monkeypatch, caplog):
    from notifications import messages

    def broken(payout):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(messages, "payout_completed", broken)
    payout = make_payout()
    with caplog.at_level("ERROR", logger="notifications"):
        response = post(client, "b2c-result", payout.callback_token, b2c_result(payout))

    assert response.status_code == 200
    assert response.json()["ResultCode"] == 0
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert payout.events.count() == 1
    assert not Notification.objects.exists()
    assert "could not record notifications" in caplog.text


def test_a_database_error_in_the_outbox_is_rolled_back_to_its_savepoint(client, admins, broker, monkeypatch):
    from django.db import IntegrityError

    def failing_create(**kwargs):
        Notification.objects.create(alert=Alert.PAYOUT_COMPLETED, dedupe_key="x", to=ADMIN_A, body="partial")
        raise IntegrityError("simulated")

    monkeypatch.setattr("notifications.alerts.notifications_create", failing_create)
    payout = make_payout()
    assert post(client, "b2c-result", payout.callback_token, b2c_result(payout)).status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert not Notification.objects.exists()  # the partial row went with the savepoint


def test_rows_rolled_back_with_their_savepoint_are_never_queued(
    client, admins, broker, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import IntegrityError

    from notifications import alerts

    real_create = alerts.notifications_create

    def create_then_fail(**kwargs):
        assert real_create(**kwargs)  # rows made, and their doorbell registered for the commit
        raise IntegrityError("simulated")

    monkeypatch.setattr(alerts, "notifications_create", create_then_fail)
    payout = make_payout()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, "b2c-result", payout.callback_token, b2c_result(payout)).status_code == 200
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert not Notification.objects.exists()
    assert broker.queue == []  # nothing queued for rows that no longer exist



@pytest.mark.parametrize("status", list(PayoutStatus))
def test_the_receivers_skip_list_matches_what_raises_an_alert(admins, settings, status):
    # The receiver opens no savepoint for a status outside these sets; if an alert were added for another
    # status without adding it to the set, it would silently never be written.
    from notifications import alerts
    from payments.models import AuditEvent

    settings.NOTIFY_CUSTOMERS = True
    payment = make_payment(status=PaymentStatus.COMPLETED)
    payout = make_payout(kind=PayoutKind.REFUND, payment=payment, status=status, transaction_id="SGT0000001")
    event = AuditEvent.objects.create(payout=payout, action="test", source=EventSource.ADMIN, to_status=status)
    made_for_admins = alerts.payout_alerts_create(payout=payout, event=event, new_status=status)
    made_for_customer = alerts.customer_alerts_create(payout=payout, new_status=status)
    assert bool(made_for_admins) == (status in alerts.ADMIN_ALERT_STATUSES)
    assert bool(made_for_customer) == (status in alerts.CUSTOMER_ALERT_STATUSES)
