"""`python manage.py query_stk_pushes`: ask M-Pesa now about the STK pushes still pending (the beat task's pass,
payments/incoming/stk_query.py) and print what the answers did."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from daraja.errors import DarajaError
from payments.incoming.stk_query import stk_pushes_query

_WORDS = {
    "failed": "failed (the customer did not pay)",
    "paid": "marked paid, receipt awaited",
    "pending": "still pending",
    "throttled": "throttled (asked again later)",
    "skipped": "settled meanwhile",
}


class Command(BaseCommand):
    help = "Query the STK pushes still pending (STK Push Query) now."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = stk_pushes_query()
        except DarajaError as exc:  # credentials or configuration a person must fix; nothing was changed
            raise CommandError(f"Daraja refused the query: {exc.code} {exc.message}") from None
        if not counts:
            self.stdout.write("No STK push is due for a query.")
            return
        for outcome, count in counts.items():
            self.stdout.write(f"{count} {_WORDS.get(outcome, outcome)}")
