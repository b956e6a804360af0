"""The kill switch and the stored B2C credentials."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from payments.field_encryption import decrypt_value
from payments.models import AuditEvent, DarajaCredentialSet, PayoutControl
from tests.factories import make_user
from tests.payments.admin.conftest import logged_in, messages_of

pytestmark = pytest.mark.django_db

SWITCH = reverse("admin:payments_payoutcontrol_changelist")


def test_kill_switch_records_who_and_when(approver_client, approver):
    assert "Payouts are running" in approver_client.get(SWITCH).content.decode()
    done = approver_client.post(SWITCH, {"paused": "1", "reason": "Float reconciliation"}, follow=True)
    control = PayoutControl.objects.get()
    assert (control.paused, control.changed_by, control.reason) == (True, approver, "Float reconciliation")
    assert control.changed_at is not None
    assert "Payouts PAUSED" in messages_of(done)[0]
    page = done.content.decode()
    assert "Payouts are PAUSED" in page and "alan" in page
    event = AuditEvent.objects.get(action="payouts_paused")
    assert (event.actor, event.source) == (approver, "admin")
    # Visible where approvers work.
    assert "Payouts are PAUSED" in approver_client.get(reverse("admin:payments_payout_changelist")).content.decode()

    approver_client.post(SWITCH, {"paused": "0", "reason": ""})
    control.refresh_from_db()
    assert control.paused is False
    assert AuditEvent.objects.filter(action="payouts_resumed", actor=approver).exists()


def test_pausing_needs_a_reason(approver_client):
    page = approver_client.post(SWITCH, {"paused": "1", "reason": ""})
    assert page.status_code == 200 and page.context["form"].errors["reason"]
    assert not PayoutControl.objects.exists()


def test_a_stale_page_does_not_flip_the_switch_back(approver_client):
    approver_client.post(SWITCH, {"paused": "1", "reason": "Incident"})
    response = approver_client.post(SWITCH, {"paused": "1", "reason": "Incident again"}, follow=True)
    assert messages_of(response)[-1] == "Payouts are already paused."
    assert PayoutControl.objects.get().reason == "Incident"


def test_requesters_see_the_switch_but_cannot_use_it(requester_client):
    page = requester_client.get(SWITCH)
    assert page.status_code == 200 and "Only payout approvers" in page.content.decode()
    response = requester_client.post(SWITCH, {"paused": "1", "reason": "Let me"}, follow=True)
    assert "permission to pause or resume payouts" in messages_of(response)[0]
    assert not PayoutControl.objects.exists()


@pytest.fixture
def admin_client_with_key(settings):
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    return logged_in(make_user("root", is_staff=True, is_superuser=True))


def credential_data(**extra) -> dict:
    data = {
        "name": "Production",
        "active": "on",
        "b2c_shortcode": "600000",
        "initiator_name": "apiop",
        "b2c_consumer_key": "",
        "b2c_consumer_secret": "",
        "initiator_password": "",
        "security_credential": "",
    }
    data.update(extra)
    return data


def test_credential_secrets_are_write_only_and_encrypted(admin_client_with_key):
    client = admin_client_with_key
    client.post(
        reverse("admin:payments_darajacredentialset_add"),
        credential_data(initiator_password="Safaricom999!", b2c_consumer_secret="s3cr3t-value"),
    )
    stored = DarajaCredentialSet.objects.get()
    assert stored.initiator_password_encrypted != "Safaricom999!"
    assert decrypt_value(stored.initiator_password_encrypted) == "Safaricom999!"

    url = reverse("admin:payments_darajacredentialset_change", args=(stored.pk,))
    page = client.get(url).content.decode()
    assert "Safaricom999!" not in page and stored.initiator_password_encrypted not in page
    assert "set (…9!)" in page and 'type="password"' in page

    client.post(url, credential_data(initiator_name="apiop2"))  # blank secrets keep the stored ones
    stored.refresh_from_db()
    assert stored.initiator_name == "apiop2"
    assert decrypt_value(stored.initiator_password_encrypted) == "Safaricom999!"
    assert AuditEvent.objects.filter(action="credentials_changed").exists()
    assert "Safaricom999!" not in str(list(AuditEvent.objects.values_list("details", flat=True)))

    client.post(url, credential_data(clear=["initiator_password"]))
    stored.refresh_from_db()
    assert stored.initiator_password_encrypted == ""


def test_credential_secrets_need_the_encryption_key(settings):
    settings.FIELD_ENCRYPTION_KEY = []
    client = logged_in(make_user("root", is_staff=True, is_superuser=True))
    page = client.post(
        reverse("admin:payments_darajacredentialset_add"), credential_data(initiator_password="Safaricom999!")
    )
    assert page.status_code == 200
    assert "FIELD_ENCRYPTION_KEY is not configured" in page.content.decode()
    assert not DarajaCredentialSet.objects.exists()
