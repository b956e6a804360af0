"""The Celery app: `celery -A mpesa_payouts worker` and `celery -A mpesa_payouts beat`."""

import os

from celery import Celery
from celery.signals import task_prerun

from mpesa_payouts import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mpesa_payouts.settings")

app = Celery("mpesa_payouts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
broker.install()  # a worker reconnects after Redis restarts instead of exiting (mpesa_payouts/broker.py)
# Celery closes the database connection after every task unless told otherwise. Its recycling count is only
# a backstop: `close_old_connections` below already drops a connection that is broken or older than
# CONN_MAX_AGE before each task. At 1000 (a reconnect every 2000 tasks of a process) a 10,000-payout run
# opened one connection per 1,000 sends, at the limit; at 10,000 a process reconnects at most once
# per 20,000 tasks.
app.conf.CELERY_DB_REUSE_MAX = 10_000


@task_prerun.connect
def _fresh_connection(task=None, **kwargs) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return  # eager (tests): runs inside the caller's transaction
    from django.db import close_old_connections

    close_old_connections()


def publish_now(task, *args, countdown: float | None = None) -> None:
    """Queue `task(*args)` with one quick attempt, for callers that must answer at once (a callback, an API
    approval). Raises when the broker is down; the caller has a sweep that picks the work up later."""
    publish_each(task, [args], countdown=countdown)


def publish_each(task, calls, *, countdown: float | None = None, queued: list | None = None) -> None:
    """Queue `task` once per argument tuple in `calls` over one broker connection, with one quick attempt.

    `retry=False` alone is not enough: kombu still retries the connection for broker_connection_timeout
    (about 6 s per call with Redis down), so connect first without retries. Raises on the first failure;
    `queued`, when given, collects the argument tuples that were queued before it."""
    with app.pool.acquire(block=True, timeout=2) as connection:
        connection.ensure_connection(max_retries=0)
        for args in calls:
            task.apply_async(tuple(args), countdown=countdown, retry=False, connection=connection)
            if queued is not None:
                queued.append(args)
