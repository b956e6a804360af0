"""Callbacks and events: read-only, bodies pretty-printed, linked both ways to payouts and payments."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from payments.audit_events import event_record
from payments.models import AuditEvent, CallbackKind, CallbackOutcome, DarajaCallback, FloatBalance
from tests.factories import b2c_result, make_payout

pytestmark = pytest.mark.django_db


@pytest.fixture
def callback():
    payout = make_payout()
    body = b2c_result(payout)
    return DarajaCallback.objects.create(
        kind=CallbackKind.B2C_RESULT,
        outcome=CallbackOutcome.PROCESSED,
        raw_body=json.dumps(body, separators=(",", ":")),
        headers={"Content-Type": "application/json"},
        path=f"/callbacks/b2c/result/{payout.callback_token}/",
        payout=payout,
        originator_conversation_id=payout.originator_conversation_id,
    )


def test_callback_page_pretty_prints_and_links_to_the_payout(approver_client, callback):
    page = approver_client.get(reverse("admin:payments_darajacallback_change", args=(callback.pk,))).content.decode()
    assert '<pre style="white-space:pre-wrap' in page
    assert "  &quot;Result&quot;: {" in page  # indented, not the compact body as stored
    assert reverse("admin:payments_payout_change", args=(callback.payout_id,)) in page
    assert callback.payout.callback_token not in page  # the secret path token is masked

    payout_page = approver_client.get(reverse("admin:payments_payout_change", args=(callback.payout_id,)))
    assert reverse("admin:payments_darajacallback_change", args=(callback.pk,)) in payout_page.content.decode()


def test_a_body_that_is_not_json_is_shown_as_received(approver_client):
    stored = DarajaCallback.objects.create(
        kind=CallbackKind.B2C_RESULT, outcome=CallbackOutcome.INVALID, raw_body="<html>not json</html>"
    )
    page = approver_client.get(reverse("admin:payments_darajacallback_change", args=(stored.pk,))).content.decode()
    assert "&lt;html&gt;not json&lt;/html&gt;" in page


@pytest.mark.parametrize("model", [DarajaCallback, AuditEvent, FloatBalance])
def test_audit_rows_are_read_only(approver_client, callback, model):
    if model is AuditEvent:
        row = event_record(action="approved", source="admin", payout=callback.payout)
    elif model is FloatBalance:
        row = FloatBalance.objects.create(utility_available="1000.00", source="balance_query")
    else:
        row = callback
    name = model._meta.model_name
    change = reverse(f"admin:payments_{name}_change", args=(row.pk,))
    page = approver_client.get(change)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False and page.context["has_delete_permission"] is False
    assert approver_client.post(change, {}).status_code == 403
    assert approver_client.get(reverse(f"admin:payments_{name}_add")).status_code == 403
    assert approver_client.post(reverse(f"admin:payments_{name}_delete", args=(row.pk,))).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_event_links_to_payout_and_callback_and_back(approver_client, callback):
    event = event_record(
        action="completed",
        source="callback",
        payout=callback.payout,
        callback=callback,
        details={"receipt": "UAB1234XYZ"},
    )
    page = approver_client.get(reverse("admin:payments_auditevent_change", args=(event.pk,))).content.decode()
    assert reverse("admin:payments_payout_change", args=(callback.payout_id,)) in page
    assert reverse("admin:payments_darajacallback_change", args=(callback.pk,)) in page
    assert "<strong>Receipt:</strong> UAB1234XYZ" in page  # details as a table, not raw JSON
    callback_page = approver_client.get(reverse("admin:payments_darajacallback_change", args=(callback.pk,)))
    assert reverse("admin:payments_auditevent_change", args=(event.pk,)) in callback_page.content.decode()


def test_payout_change_page_lists_events_and_callbacks_in_time_order(approver_client, callback):
    payout = callback.payout
    first = event_record(action="sending", source="task", payout=payout)
    second = event_record(action="completed", source="callback", payout=payout, callback=callback)
    page = approver_client.get(reverse("admin:payments_payout_change", args=(payout.pk,))).content.decode()
    first_at = page.index(reverse("admin:payments_auditevent_change", args=(first.pk,)))
    second_at = page.index(reverse("admin:payments_auditevent_change", args=(second.pk,)))
    assert first_at < second_at
