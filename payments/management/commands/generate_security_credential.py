"""Print a SecurityCredential for an operator to paste into MPESA_SECURITY_CREDENTIAL (or the admin).

Only the credential goes to standard output, so it can be piped; guidance goes to standard error. The
password is never printed, and typed at a terminal it is not echoed.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from daraja.security import encrypt_initiator_password, load_certificate


class Command(BaseCommand):
    # Independent of the app's models and URLs: it must start even while the app itself is broken.
    requires_system_checks: list[str] = []
    help = (
        "Encrypt the M-Pesa initiator password with Safaricom's certificate (RSA PKCS#1 v1.5, base64) and print "
        "the SecurityCredential. Reads MPESA_INITIATOR_PASSWORD and MPESA_CERTIFICATE_PATH from the settings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--certificate",
            default="",
            metavar="PATH",
            help="Certificate file (PEM or DER). Default: settings.MPESA_CERTIFICATE_PATH. Sandbox and production "
            "certificates differ; for the local simulator use the one `daraja_simulator` prints.",
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the initiator password from standard input instead of settings.MPESA_INITIATOR_PASSWORD "
            "(prompted without echo at a terminal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        certificate_path = options["certificate"] or getattr(settings, "MPESA_CERTIFICATE_PATH", "")
        if not certificate_path:
            raise CommandError("No certificate: pass --certificate PATH or set MPESA_CERTIFICATE_PATH.")
        if options["password_stdin"]:
            password = _read_password()
        else:
            password = getattr(settings, "MPESA_INITIATOR_PASSWORD", "")
        if not password:
            raise CommandError("No initiator password: set MPESA_INITIATOR_PASSWORD or use --password-stdin.")
        try:
            certificate = load_certificate(certificate_path)
            credential = encrypt_initiator_password(password, certificate)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(credential)
        self.stderr.write(
            "Set MPESA_SECURITY_CREDENTIAL to the line above (or save it in the admin). A new one differs each "
            "time (random padding); any of them works."
        )


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Initiator password: ")
    return sys.stdin.readline().rstrip("\r\n")
