"""Reject now, as expired, every payout that waited PAYOUT_APPROVAL_EXPIRY_MINUTES for its approvals (the
payout sweep does the same each time it runs)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from payments.models import EventSource
from payments.payouts.expiry import payouts_expire


class Command(BaseCommand):
    help = ("Rejects as expired every payout pending approval for longer than PAYOUT_APPROVAL_EXPIRY_MINUTES "
            "(a refund's amount returns to its payment; the requester reads it in their inbox).")

    def handle(self, *args, **options):
        expired = payouts_expire(source=EventSource.COMMAND)
        for payout_id in expired:
            self.stdout.write(f"payout {payout_id}: expired")
        minutes = settings.PAYOUT_APPROVAL_EXPIRY_MINUTES
        self.stdout.write(self.style.SUCCESS(
            f"{len(expired)} payouts expired (pending approval for more than {minutes} minutes)."))
