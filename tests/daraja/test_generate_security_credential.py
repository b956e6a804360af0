from __future__ import annotations

import io
import sys

import pytest
from django.core.management import CommandError, call_command

from daraja.security import decrypt_security_credential, make_test_keypair


@pytest.fixture(scope="module")
def keypair() -> tuple[bytes, bytes]:
    return make_test_keypair()


@pytest.fixture
def certificate_file(keypair, tmp_path):
    path = tmp_path / "ProductionCertificate.cer"
    path.write_bytes(keypair[1])
    return path


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("generate_security_credential", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_a_credential_made_from_the_settings(settings, keypair, certificate_file):
    settings.MPESA_INITIATOR_PASSWORD = "Safaricom999!*!"
    settings.MPESA_CERTIFICATE_PATH = str(certificate_file)

    out, err = run()

    assert decrypt_security_credential(out.strip(), keypair[0]) == "Safaricom999!*!"
    assert "Safaricom999!*!" not in out + err


def test_password_from_stdin_and_certificate_from_the_option(settings, keypair, certificate_file, monkeypatch):
    settings.MPESA_INITIATOR_PASSWORD = ""
    settings.MPESA_CERTIFICATE_PATH = ""
    monkeypatch.setattr(sys, "stdin", io.StringIO("typed-secret\n"))

    out, err = run("--password-stdin", "--certificate", str(certificate_file))

    assert decrypt_security_credential(out.strip(), keypair[0]) == "typed-secret"
    assert "typed-secret" not in out + err


def test_missing_password_is_a_clear_error(settings, certificate_file):
    settings.MPESA_INITIATOR_PASSWORD = ""
    settings.MPESA_CERTIFICATE_PATH = str(certificate_file)
    with pytest.raises(CommandError, match="MPESA_INITIATOR_PASSWORD"):
        run()


def test_missing_or_unreadable_certificate_is_a_clear_error(settings, tmp_path):
    settings.MPESA_INITIATOR_PASSWORD = "pw"
    settings.MPESA_CERTIFICATE_PATH = ""
    with pytest.raises(CommandError, match="MPESA_CERTIFICATE_PATH"):
        run()
    with pytest.raises(CommandError, match="nowhere.cer"):
        run("--certificate", str(tmp_path / "nowhere.cer"))
