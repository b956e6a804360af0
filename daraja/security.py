"""The SecurityCredential: the initiator password encrypted with Safaricom's certificate.

RSA with PKCS#1 v1.5 padding (not OAEP), base64 encoded (docs/daraja.md, "SecurityCredential"). The padding is
random, so two credentials for one password differ: never compare credentials for equality.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

_MIN_PADDING = 8  # PKCS#1 v1.5: at least 8 non-zero padding bytes


def _public_key(material: bytes | str) -> rsa.RSAPublicKey:
    """An RSA public key from a PEM or DER X.509 certificate or a PEM or DER public key."""
    data = material.encode("ascii") if isinstance(material, str) else bytes(material)
    key: object
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        elif b"-----BEGIN" in data:
            key = serialization.load_pem_public_key(data)
        else:
            try:
                key = x509.load_der_x509_certificate(data).public_key()
            except ValueError:
                key = serialization.load_der_public_key(data)
    except ValueError as exc:
        raise ValueError("Not a readable certificate or public key (PEM or DER expected).") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("The certificate does not hold an RSA public key.")
    return key


def encrypt_initiator_password(password: str, certificate_pem: bytes) -> str:
    """The SecurityCredential for `password`, encrypted with the certificate (or public key) given."""
    if not password:
        raise ValueError("The initiator password is empty.")
    key = _public_key(certificate_pem)
    ciphertext = key.encrypt(password.encode("utf-8"), padding.PKCS1v15())
    return base64.b64encode(ciphertext).decode("ascii")


def load_certificate(path: str | Path) -> bytes:
    """Read a certificate file and check that it holds an RSA key, so a wrong path fails here, clearly."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ValueError(f"Cannot read the certificate file {file}: {exc.strerror or exc}") from exc
    try:
        _public_key(data)
    except ValueError as exc:
        raise ValueError(f"{file}: {exc}") from exc
    return data


def decrypt_security_credential(credential: str, private_key_pem: bytes) -> str:
    """The password inside a SecurityCredential, for the simulator that holds the private key.

    Unpadded by hand: OpenSSL 3.2+ answers a PKCS#1 v1.5 decryption that fails with random bytes instead of
    an error (implicit rejection, a defence for servers), so the library call cannot tell a credential made
    with another certificate from a good one. A simulator needs that answer; it is no decryption oracle for
    anyone's real key, so the lack of constant time does not matter here.
    """
    numbers = _private_numbers(bytes(private_key_pem))
    try:
        ciphertext = base64.b64decode(credential.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("The credential is not base64.") from exc
    modulus = numbers.public_numbers.n
    size = (modulus.bit_length() + 7) // 8
    number = int.from_bytes(ciphertext, "big")
    if len(ciphertext) != size or number >= modulus:
        raise ValueError("The credential was not made with this certificate.")
    # Chinese remainder theorem: the same result as pow(number, d, n), several times faster.
    low = pow(number, numbers.dmp1, numbers.p)
    high = pow(number, numbers.dmq1, numbers.q)
    block = (high + (numbers.iqmp * (low - high) % numbers.p) * numbers.q).to_bytes(size, "big")
    separator = block.find(b"\x00", 2)
    if block[:2] != b"\x00\x02" or separator < 2 + _MIN_PADDING:
        raise ValueError("The credential was not made with this certificate.")
    try:
        return block[separator + 1 :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("The credential does not hold a text password.") from exc


@lru_cache(maxsize=8)
def _private_numbers(private_key_pem: bytes) -> rsa.RSAPrivateNumbers:
    # Loading checks the key, which takes longer than a decryption: once per key is enough.
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("The private key is not an RSA key.")
    return key.private_numbers()


def make_test_keypair(common_name: str = "Daraja Simulator") -> tuple[bytes, bytes]:
    """(private_key_pem, certificate_pem): a fresh RSA 2048 key and a self-signed certificate for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, certificate.public_bytes(serialization.Encoding.PEM)
