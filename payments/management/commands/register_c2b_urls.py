"""`python manage.py register_c2b_urls [--response-type Completed|Cancelled]`: tell M-Pesa where to post this
shortcode's C2B confirmations and validations (`/mpesa/c2b/v2/registerurl`, or v1 by
MPESA_C2B_REGISTER_VERSION): the URLs this system serves (CALLBACK_BASE_URL and their token).

A URL holding a word Safaricom refuses ("mpesa", "safaricom", ...) is refused before anything is sent (exit 2);
the message names the word, never the URL (it carries a token). Running it again is harmless; in production
Safaricom keeps the first registration (README, "Money in")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from daraja.errors import DarajaError
from daraja.money_in import RESPONSE_TYPES
from payments.incoming.register import RegistrationNotSent, c2b_urls_register


class Command(BaseCommand):
    help = "Register the C2B confirmation and validation URLs this system serves (safe to run again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--response-type", choices=RESPONSE_TYPES, default="Completed",
            help="What M-Pesa does when the validation URL does not answer (default Completed).",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            registration = c2b_urls_register(response_type=options["response_type"])
        except RegistrationNotSent as exc:
            raise CommandError(f"Not sent: {exc}", returncode=2) from None
        except DarajaError as exc:
            raise CommandError(f"Daraja refused the registration: {exc.code} {exc.message}") from None
        self.stdout.write(self.style.SUCCESS(
            f"Safaricom answered {registration.response_code}: {registration.response_description}"
        ))  # fmt: skip
