"""The one door for side effects of a write: a task to queue, a message to ring out, a cache entry to set.

An effect runs once the surrounding transaction commits, and never if it rolls back, so nothing outside the
database (a worker, a recipient, a webhook receiver) ever hears of a change that did not happen. A failing
effect is logged by Django and does not stop the others: a broker that is down leaves the rows where they
are, for the sweeps to pick up. Outside a transaction the effect runs at once.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction


def after_commit(effect: Callable[[], None]) -> None:
    transaction.on_commit(effect, robust=True)
