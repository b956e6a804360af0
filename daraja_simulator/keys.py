"""The simulator's own RSA key and self-signed certificate: it plays Safaricom, whose certificate the
integrator encrypts the initiator password with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from daraja.security import make_test_keypair

KEY_FILE = "simulator-key.pem"
CERT_FILE = "simulator-cert.pem"


@dataclass(frozen=True)
class SimulatorKeys:
    private_key_pem: bytes
    certificate_pem: bytes

    def __repr__(self) -> str:
        return f"SimulatorKeys(private_key_pem=<hidden>, certificate_pem=<{len(self.certificate_pem)} bytes>)"

    @classmethod
    def generate(cls) -> SimulatorKeys:
        private_key_pem, certificate_pem = make_test_keypair("Daraja Simulator")
        return cls(private_key_pem, certificate_pem)

    @classmethod
    def load_or_create(cls, key_dir: str | Path) -> SimulatorKeys:
        """Reuse the pair kept in `key_dir`, or make one and keep it there, so SecurityCredentials made with
        the certificate stay valid across restarts."""
        folder = Path(key_dir)
        key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
        if key_path.exists() and cert_path.exists():
            return cls(key_path.read_bytes(), cert_path.read_bytes())
        keys = cls.generate()
        folder.mkdir(parents=True, exist_ok=True)
        # The private key is readable by its owner only, from the moment it exists.
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(keys.private_key_pem)
        cert_path.write_bytes(keys.certificate_pem)
        return keys

    def write_certificate(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.certificate_pem)
        return target
