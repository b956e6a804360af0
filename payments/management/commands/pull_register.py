"""`python manage.py pull_register`: register the C2B shortcode for Pull Transactions, once
(`/pulltransactions/v1/register`, RequestType "Pull", NominatedNumber from MPESA_PULL_NOMINATED_NUMBER).

1000 (registered now) and 1001 (already registered) are both success, and the command says which. Running it
again is harmless. A missing or malformed setting is refused before anything is sent (exit 2)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from daraja.errors import DarajaError
from payments.incoming.register import RegistrationNotSent, pull_shortcode_register


class Command(BaseCommand):
    help = "Register the C2B shortcode for Pull Transactions (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            registration = pull_shortcode_register()
        except RegistrationNotSent as exc:
            raise CommandError(f"Not sent: {exc}", returncode=2) from None
        except DarajaError as exc:
            raise CommandError(f"Daraja refused the registration: {exc.code} {exc.message}") from None
        if registration.already_registered:
            said = "The shortcode was already registered for Pull Transactions (1001): nothing changed."
        else:
            said = "Registered the shortcode for Pull Transactions (1000)."
        self.stdout.write(self.style.SUCCESS(said))
        if registration.description:
            self.stdout.write(f"Safaricom said: {registration.description}")
