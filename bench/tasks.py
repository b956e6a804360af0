"""A floor task for the pipeline benchmark: what a worker costs per task that only updates one row."""

from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True)
def touch_payout(payout_id: int) -> None:
    from payments.models import Payout

    Payout.objects.filter(pk=payout_id).update(updated_at=timezone.now())
