from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from daraja.security import (
    decrypt_security_credential,
    encrypt_initiator_password,
    load_certificate,
    make_test_keypair,
)


@pytest.fixture(scope="module")
def keypair() -> tuple[bytes, bytes]:
    return make_test_keypair()


def test_round_trip(keypair):
    private_pem, certificate_pem = keypair
    credential = encrypt_initiator_password("Safaricom999!*!", certificate_pem)
    assert decrypt_security_credential(credential, private_pem) == "Safaricom999!*!"
    assert len(base64.b64decode(credential)) == 256  # one RSA-2048 block, base64 encoded


def test_two_encryptions_of_one_password_differ(keypair):
    _, certificate_pem = keypair
    assert encrypt_initiator_password("pw", certificate_pem) != encrypt_initiator_password("pw", certificate_pem)


def test_a_public_key_or_a_der_certificate_work_too(keypair):
    private_pem, certificate_pem = keypair
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    public_pem = certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    for material in (public_pem, der):
        assert decrypt_security_credential(encrypt_initiator_password("pw", material), private_pem) == "pw"


def test_a_credential_made_with_another_certificate_does_not_decrypt(keypair):
    private_pem, _ = keypair
    _, other_certificate = make_test_keypair()
    # Several tries: PKCS#1 v1.5 "implicit rejection" in OpenSSL would make a naive check pass by chance.
    for _ in range(5):
        with pytest.raises(ValueError):
            decrypt_security_credential(encrypt_initiator_password("pw", other_certificate), private_pem)


@pytest.mark.parametrize("credential", ["not base64!", base64.b64encode(b"short").decode(), ""])
def test_garbage_does_not_decrypt(keypair, credential):
    with pytest.raises(ValueError):
        decrypt_security_credential(credential, keypair[0])


def test_load_certificate_reads_a_file_and_refuses_garbage(keypair, tmp_path):
    path = tmp_path / "cert.cer"
    path.write_bytes(keypair[1])
    assert load_certificate(path) == keypair[1]
    (tmp_path / "junk.cer").write_text("hello")
    with pytest.raises(ValueError, match="junk.cer"):
        load_certificate(tmp_path / "junk.cer")
    with pytest.raises(ValueError, match="missing.cer"):
        load_certificate(tmp_path / "missing.cer")


def test_empty_password_is_refused(keypair):
    with pytest.raises(ValueError):
        encrypt_initiator_password("", keypair[1])
