"""Credentials kept in the admin: encrypted at rest, used over the environment, rotatable."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from payments.daraja_client import daraja_config
from payments.field_encryption import decrypt_value, encrypt_value, masked_hint
from payments.models import DarajaCredentialSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(settings):
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    return settings


def test_stored_secret_is_not_plaintext_and_round_trips(key):
    token = encrypt_value("initiator-pass-2026")
    assert "initiator-pass-2026" not in token
    assert decrypt_value(token) == "initiator-pass-2026"
    assert masked_hint(token) == "set (…26)"


def test_active_set_overrides_environment(key, settings):
    settings.MPESA_B2C_SHORTCODE = "600000"
    settings.MPESA_SECURITY_CREDENTIAL = "from-env"
    DarajaCredentialSet.objects.create(
        name="second shortcode", active=True, b2c_shortcode="600999",
        security_credential_encrypted=encrypt_value("from-admin"),
    )
    config = daraja_config()
    assert (config.b2c_shortcode, config.security_credential) == ("600999", "from-admin")
    assert "from-admin" not in repr(config)


def test_inactive_set_is_ignored(key, settings):
    settings.MPESA_B2C_SHORTCODE = "600000"
    DarajaCredentialSet.objects.create(name="old", active=False, b2c_shortcode="600999")
    assert daraja_config().b2c_shortcode == "600000"


def test_key_rotation_re_encrypts_with_the_new_key(key, settings):
    old_key = settings.FIELD_ENCRYPTION_KEY[0]
    stored = DarajaCredentialSet.objects.create(
        name="main", active=True, initiator_password_encrypted=encrypt_value("pw-before-rotation")
    )
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]
    call_command("rotate_credential_key", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEY = [new_key]  # the old key is gone: the value must still decrypt
    stored.refresh_from_db()
    assert decrypt_value(stored.initiator_password_encrypted) == "pw-before-rotation"
