"""`manage.py rotate_credential_key` re-encrypts the webhook endpoints' signing secrets as well as the Daraja
credentials: once it has run, the old FIELD_ENCRYPTION_KEY can be removed and deliveries still verify with the
secret the business was shown (and the one it is still allowed to use after a secret rotation)."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.factories import make_payment, make_requester
from tests.payments.factories import token_client as api
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def old_key(settings):
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    return settings.FIELD_ENCRYPTION_KEY[0]


def test_after_rotation_the_old_key_can_go_and_deliveries_still_verify(old_key, settings, integrator, receiver,
                                                                       broker):  # fmt: skip
    created = api(integrator).post("/api/webhook-endpoints/", {"url": receiver.url(), "events": ["*"]}, format="json")
    assert created.status_code == 201
    first = created.json()["secret"]
    # A secret rotated through the API: the previous one keeps signing for a while, encrypted too.
    rotated = api(integrator).post(f"/api/webhook-endpoints/{created.json()['id']}/rotate/")
    assert rotated.status_code == 200
    second = rotated.json()["secret"]
    receiver.secrets.extend([second, first])

    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_credential_key", stdout=out)
    assert "1 webhook endpoint secret(s)" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEY = [new_key]  # the old key is gone

    payment = make_payment(amount=Decimal("1000"))
    response = api(make_requester()).post(f"/api/payments/{payment.pk}/refund/",
                                          {"reason": "Returned goods", "amount": "300"}, format="json")  # fmt: skip
    assert response.status_code == 201
    assert broker.run() == ["delivered"]
    [got] = receiver.got()
    assert got.valid_with == [second, first] and got.v1_count == 2


def test_a_secret_no_key_can_decrypt_stops_the_rotation_and_changes_nothing(old_key, settings, integrator, receiver):
    api(integrator).post("/api/webhook-endpoints/", {"url": receiver.url(), "events": ["*"]}, format="json")
    stored_before = WebhookEndpoint.objects.values_list("secret_encrypted", flat=True).get()

    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]  # the key it was stored with was dropped
    with pytest.raises(CommandError, match=r"webhook endpoint #\d+: .*cannot be decrypted.*Nothing was changed"):
        call_command("rotate_credential_key", stdout=io.StringIO())
    assert WebhookEndpoint.objects.values_list("secret_encrypted", flat=True).get() == stored_before


def test_an_expired_previous_secret_is_dropped_not_rotated(old_key, settings, integrator, receiver):
    """A deployment that removed a key the old way may hold a previous secret no key decrypts any more; once it no
    longer signs, it must not stop the rotation of everything else."""
    created = api(integrator).post("/api/webhook-endpoints/", {"url": receiver.url(), "events": ["*"]}, format="json")
    assert api(integrator).post(f"/api/webhook-endpoints/{created.json()['id']}/rotate/").status_code == 200
    lost_key = Fernet(Fernet.generate_key())  # the previous secret was stored under a key that is gone
    WebhookEndpoint.objects.update(previous_secret_encrypted=lost_key.encrypt(b"whsec_old").decode(),
                                   previous_secret_expires_at=timezone.now() - timedelta(hours=1))  # fmt: skip

    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode(), old_key]
    call_command("rotate_credential_key", stdout=io.StringIO())

    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.previous_secret_encrypted, endpoint.previous_secret_expires_at) == ("", None)
