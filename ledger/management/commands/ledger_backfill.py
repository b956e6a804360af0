"""`python manage.py ledger_backfill`: post the history that predates the ledger, once.

Every payout's amount is put where its status says it is (the float, in flight, or paid out) and every
completed payment is posted as received, dated when it happened. Running it again posts nothing new."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core.money import kes
from ledger.services.backfill import ledger_backfill


class Command(BaseCommand):
    help = "Post the payouts and payments that predate the ledger (once: a second run posts nothing new)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = ledger_backfill(progress=lambda text: self.stderr.write(text) if options["verbosity"] > 1 else None)
        self.stdout.write(
            f"Posted {result.payouts_posted:,} payout transactions ({kes(result.payout_amount)}) and "
            f"{result.payments_posted:,} payments ({kes(result.payment_amount)})."
        )
