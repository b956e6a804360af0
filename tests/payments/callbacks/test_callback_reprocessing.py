"""Issue 15 part 3: a callback answered 200 is stored, and one whose processing failed is not lost: it says
`error` (with the exception), is listed for a person, and is processed again by beat (with backoff and a bound),
by `manage.py reprocess_callbacks` and by an admin action, none of which ever applies it twice.

Through the real routes: callback URLs via the Django test client, the REST API, the admin, the command, and the
beat task as Celery runs it (eagerly here)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from io import StringIO
from unittest import mock

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from notifications.models import Alert, Notification
from payments.callbacks import processing
from payments.callbacks.handlers import HANDLERS
from payments.callbacks.intake import callback_store
from payments.callbacks.reprocessing import callbacks_due_for_reprocessing
from payments.callbacks.tokens import static_token
from payments.models import AuditEvent, CallbackKind, CallbackOutcome, DarajaCallback, Payment, PayoutStatus
from payments.tasks import reprocess_callbacks
from tests.factories import b2c_result, make_payout, make_user, sample

pytestmark = pytest.mark.django_db


def c2b_url() -> str:
    return reverse("callbacks:c2b-confirmation", kwargs={"token": static_token("c2b")})


def c2b_body(receipt: str) -> str:
    body = sample("c2b_confirmation")
    body["TransID"] = receipt
    return json.dumps(body)


class Boom(RuntimeError):
    pass


def failing_handler(*args, **kwargs):
    # The message names a callback path: the row must still never show its token.
    raise Boom("lost the thread at /callbacks/b2c/result/0123456789abcdef0123456789abcdef01234567/")


def post_c2b_while_processing_fails(client, receipt: str):
    handlers = {**HANDLERS, CallbackKind.C2B_CONFIRMATION: failing_handler}
    with mock.patch.dict(HANDLERS, handlers):
        return client.post(c2b_url(), data=c2b_body(receipt), content_type="application/json")


def superuser_api() -> APIClient:
    api = APIClient()
    api.force_authenticate(make_user(is_staff=True, is_superuser=True))
    return api


def test_processing_failure_is_stored_as_error_listed_and_answered_200(client):
    response = post_c2b_while_processing_fails(client, "RKL0000001")

    assert response.status_code == 200  # the raw request is stored: Safaricom must not resend it
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.ERROR
    assert callback.error.startswith("Boom: lost the thread at /callbacks/b2c/result/012345…")
    assert "0123456789abcdef0123456789abcdef01234567" not in callback.error
    assert callback.attempts == 1
    assert callback.next_attempt_at > timezone.now()
    assert not Payment.objects.exists()

    listed = superuser_api().get("/api/reconciliation/discrepancies/", {"kind": "callback_error"}).json()["results"]
    assert [(row["kind"], row["object_id"]) for row in listed] == [("callback_error", callback.pk)]
    assert "Boom" in listed[0]["message"] and "attempt 2 is due" in listed[0]["message"]


@override_settings(CALLBACK_REPROCESS_BACKOFF_SECONDS=30)
def test_a_failure_recorded_on_the_second_try_counts_as_one_attempt(client):
    # Processing fails, and so does the first write of the error (the connection dropped between them): the row
    # must say one attempt with the first backoff, or beat waits twice as long and gives up an attempt early.
    real_update_row = processing.update_row
    calls = {"failed": 0}

    def update_row_failing_once(row, fields):
        if "next_attempt_at" in fields and not calls["failed"]:
            calls["failed"] += 1
            raise Boom("connection lost while recording the error")
        return real_update_row(row, fields)

    with mock.patch.object(processing, "update_row", update_row_failing_once):
        response = post_c2b_while_processing_fails(client, "RKL0000011")

    assert response.status_code == 200
    assert calls["failed"] == 1
    callback = DarajaCallback.objects.get()
    assert callback.outcome == CallbackOutcome.ERROR
    assert callback.attempts == 1
    assert round((callback.next_attempt_at - callback.processed_at).total_seconds()) == 30


def test_admin_lists_error_callbacks_and_reprocesses_them(client):
    post_c2b_while_processing_fails(client, "RKL0000002")
    callback = DarajaCallback.objects.get()
    admin_user = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin_user)

    page = client.get(reverse("admin:payments_darajacallback_changelist"), {"outcome__exact": "error"})
    assert page.status_code == 200
    assert f"/admin/payments/darajacallback/{callback.pk}/change/" in page.content.decode()

    answer = client.post(
        reverse("admin:payments_darajacallback_changelist"),
        {"action": "reprocess", "_selected_action": [callback.pk]},
        follow=True,
    )
    assert f"Callback #{callback.pk}: reprocessed: processed" in answer.content.decode()
    callback.refresh_from_db()
    assert callback.outcome == CallbackOutcome.PROCESSED
    assert Payment.objects.get().receipt == "RKL0000002"


def test_command_reprocesses_due_callbacks_once_and_a_second_run_changes_nothing(client):
    post_c2b_while_processing_fails(client, "RKL0000003")
    callback = DarajaCallback.objects.get()

    out = StringIO()
    call_command("reprocess_callbacks", stdout=out)
    assert "nothing due" in out.getvalue()  # its backoff has not passed yet

    DarajaCallback.objects.filter(pk=callback.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    call_command("reprocess_callbacks", stdout=out)
    callback.refresh_from_db()
    assert callback.outcome == CallbackOutcome.PROCESSED
    payment = Payment.objects.get(receipt="RKL0000003")
    assert AuditEvent.objects.filter(payment=payment, action="payment_completed").count() == 1

    out = StringIO()
    call_command("reprocess_callbacks", "--id", str(callback.pk), stdout=out)
    assert f"callback {callback.pk}: unchanged" in out.getvalue()
    assert Payment.objects.count() == 1
    assert AuditEvent.objects.filter(payment=payment).count() == 1


def test_reprocessing_a_callback_whose_effect_another_delivery_made_is_a_duplicate(client):
    post_c2b_while_processing_fails(client, "RKL0000004")
    failed = DarajaCallback.objects.get()
    # Safaricom delivered it again, and this time it went through.
    assert client.post(c2b_url(), data=c2b_body("RKL0000004"), content_type="application/json").status_code == 200

    call_command("reprocess_callbacks", "--id", str(failed.pk), stdout=StringIO())
    failed.refresh_from_db()
    assert failed.outcome == CallbackOutcome.DUPLICATE
    assert Payment.objects.filter(receipt="RKL0000004").count() == 1
    assert AuditEvent.objects.filter(action="payment_completed").count() == 1


def test_command_refuses_an_unknown_id():
    with pytest.raises(CommandError, match="No callback with id 999999"):
        call_command("reprocess_callbacks", "--id", "999999", stdout=StringIO())


@override_settings(
    CALLBACK_REPROCESS_MAX_ATTEMPTS=3, CALLBACK_REPROCESS_BACKOFF_SECONDS=30, ADMIN_WHATSAPP_NUMBERS=["254700111222"]
)
def test_beat_retries_with_backoff_then_stops_and_alerts(client, django_capture_on_commit_callbacks):
    payout = make_payout(status=PayoutStatus.SUBMITTED)
    handlers = {**HANDLERS, CallbackKind.B2C_RESULT: failing_handler}
    with mock.patch.dict(HANDLERS, handlers):
        url = reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token})
        assert client.post(url, data=b2c_result(payout), content_type="application/json").status_code == 200
        callback = DarajaCallback.objects.get()
        delays = []
        for _ in range(2):
            delays.append(round((callback.next_attempt_at - callback.processed_at).total_seconds()))
            DarajaCallback.objects.filter(pk=callback.pk).update(next_attempt_at=timezone.now())
            reprocess_callbacks.apply()
            callback.refresh_from_db()
    assert delays == [30, 60]  # doubling
    assert callback.attempts == 3
    assert callback.next_attempt_at is None  # out of attempts: beat leaves it to a person
    assert callbacks_due_for_reprocessing() == []
    alert = Notification.objects.get(alert=Alert.CALLBACK_ERROR)
    assert f"callback #{callback.pk}" in alert.body and "no longer retried" in alert.body
    listed = superuser_api().get("/api/reconciliation/discrepancies/", {"kind": "callback_error"}).json()["results"]
    assert "no longer retried" in listed[0]["message"]

    # The cause is fixed; a person reprocesses it.
    call_command("reprocess_callbacks", "--id", str(callback.pk), stdout=StringIO())
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED
    assert AuditEvent.objects.filter(payout=payout).count() == 1


def test_callback_left_received_is_picked_up_by_beat(client):
    # As if the process died between storing the request and processing it.
    body = sample("c2b_confirmation")
    stored = callback_store(
        kind=CallbackKind.C2B_CONFIRMATION, raw_body=json.dumps(body), headers={}, source_ip="127.0.0.1", path="/x/"
    )
    assert callbacks_due_for_reprocessing() == []  # it may still be in flight
    DarajaCallback.objects.filter(pk=stored.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    reprocess_callbacks.apply()
    stored.refresh_from_db()
    assert stored.outcome == CallbackOutcome.PROCESSED
    assert Payment.objects.filter(receipt=body["TransID"]).count() == 1


# --- The database connection drops (PostgreSQL) --------------------------------------------------------------


def _terminate_our_backend() -> None:
    """Kill the test's own database session from another connection, as pg_terminate_backend does to a web
    worker's: the next statement on it fails."""
    pid = connection.cursor().connection.info.backend_pid
    s = connection.settings_dict
    with psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], dbname="postgres",
                         autocommit=True) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_dropped_connection_is_retried_once_and_the_callback_stored(client):
    connection.ensure_connection()
    _terminate_our_backend()

    response = client.post(c2b_url(), data=c2b_body("RKL0000005"), content_type="application/json")

    assert response.status_code == 200
    assert DarajaCallback.objects.get().outcome == CallbackOutcome.PROCESSED
    assert Payment.objects.filter(receipt="RKL0000005").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_callback_that_cannot_be_stored_is_answered_503_not_200(client, caplog):
    connection.ensure_connection()
    _terminate_our_backend()
    real_port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = 1  # nothing listens: the fresh connection fails too
    try:
        with caplog.at_level(logging.ERROR, logger="payments.callbacks"):
            response = client.post(c2b_url(), data=c2b_body("RKL0000006"), content_type="application/json")
    finally:
        connection.settings_dict["PORT"] = real_port
        connection.close()

    assert response.status_code == 503
    assert response.json()["ResultCode"] == 1
    assert "not stored: database unavailable" in caplog.text
    assert not DarajaCallback.objects.exists()
