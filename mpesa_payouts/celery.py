"""The Celery app: `celery -A mpesa_payouts worker` and `celery -A mpesa_payouts beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mpesa_payouts.settings")

app = Celery("mpesa_payouts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
