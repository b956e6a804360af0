"""`python manage.py pull_transactions [--since "YYYY-MM-DD HH:MM"]`: run the Pull now (the beat task's run,
payments/incoming/pull.py) and print what it recovered.

Without --since it asks from the last complete run (less 10 minutes) to now; --since (Nairobi time) must be
within the last 48 hours, the most Pull Transactions keeps (else exit 2, nothing asked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.money import kes
from core.nairobi_time import NAIROBI
from payments.incoming.pull import PullWindowRefused, pull_transactions_run
from payments.models import PullFindingKind, PullTrigger


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M").replace(tzinfo=NAIROBI)
    except ValueError:
        raise CommandError(f"{value!r} is not a time in the form YYYY-MM-DD HH:MM", returncode=2) from None


class Command(BaseCommand):
    help = "Ask Pull Transactions now for C2B payments whose confirmation never came, and record them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", default=None, help='Start of the window, "YYYY-MM-DD HH:MM" (Nairobi).')

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = pull_transactions_run(trigger=PullTrigger.COMMAND, since=_since(options["since"]))
        except PullWindowRefused as exc:
            raise CommandError(str(exc), returncode=2) from None
        start, end = (moment.astimezone(NAIROBI).strftime("%Y-%m-%d %H:%M") for moment in (run.window_start,
                                                                                          run.window_end))
        self.stdout.write(f"Pull run #{run.pk}, {start} to {end} (Nairobi): {run.rows} rows on {run.pages} pages.")
        for finding in run.findings.filter(kind=PullFindingKind.RECOVERED).select_related("payment"):
            payment = finding.payment
            self.stdout.write(f"  recovered {payment.receipt}: {kes(payment.amount)} from {payment.phone}, "
                              f"account {payment.account_reference or '-'} (payment #{payment.pk})")  # fmt: skip
        self.stdout.write(f"Recovered {run.recovered}, matched {run.matched}, disagreements {run.disagreements}, "
                          f"unreadable rows {run.unreadable}.")  # fmt: skip
        if not run.complete:
            raise CommandError(f"The run did not complete: {run.error}")
