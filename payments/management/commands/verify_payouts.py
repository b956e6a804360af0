"""Ask Daraja (Transaction Status) about every payout whose outcome is overdue or unknown."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from payments.models import EventSource, Payout, PayoutStatus
from payments.payouts.dispatch import payout_query_status


class Command(BaseCommand):
    help = "Queries Transaction Status for every stuck payout (sending/submitted past --older-than, verifying)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=None, metavar="MINUTES",
                            help="Only payouts whose status last changed at least this many minutes ago "
                                 "(default PAYOUT_RESULT_DEADLINE_MINUTES for sending/submitted; any verifying).")

    def handle(self, *args, **options):
        from django.conf import settings

        minutes = options["older_than"]
        cutoff = timezone.now() - timedelta(minutes=settings.PAYOUT_RESULT_DEADLINE_MINUTES if minutes is None
                                            else minutes)
        stuck = Q(status__in=[PayoutStatus.SENDING, PayoutStatus.SUBMITTED], status_changed_at__lte=cutoff)
        unknown = Q(status=PayoutStatus.VERIFYING)
        if minutes is not None:
            unknown &= Q(status_changed_at__lte=cutoff)
        ids = list(Payout.objects.filter(stuck | unknown).order_by("pk").values_list("pk", flat=True))
        counts: dict[str, int] = {}
        for payout_id in ids:
            outcome = payout_query_status(payout_id=payout_id, source=EventSource.COMMAND)
            counts[outcome] = counts.get(outcome, 0) + 1
            self.stdout.write(f"payout {payout_id}: {outcome}")
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to verify"
        self.stdout.write(self.style.SUCCESS(f"{len(ids)} payouts checked: {summary}"))
