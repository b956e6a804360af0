"""Coalesced queueing (NOTIFICATIONS_QUEUE_WINDOW_SECONDS): a lone alert leaves at once, a burst costs one
scheduled task per window, and every row of the burst is delivered."""

from __future__ import annotations

import time

import pytest
from kombu.exceptions import OperationalError

from notifications.models import Notification, NotificationStatus
from notifications.outbox import doorbell
from notifications.tasks import deliver_recent
from payments.models import PayoutStatus
from payments.payouts.lifecycle import payout_transition
from tests.factories import make_payout

pytestmark = pytest.mark.django_db(transaction=True)


class Scheduled:
    def __init__(self):
        self.calls: list[tuple[tuple, float | None]] = []
        self.down = False

    def apply_async(self, args=(), kwargs=None, countdown=None, **options):
        if self.down:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.calls.append((tuple(args), countdown))


@pytest.fixture
def scheduled(monkeypatch):
    fake = Scheduled()
    monkeypatch.setattr(deliver_recent, "apply_async", fake.apply_async)
    return fake


@pytest.fixture
def window(settings):
    settings.NOTIFICATIONS_QUEUE_WINDOW_SECONDS = 0.5
    doorbell.reset()
    return 0.5


def complete() -> list[Notification]:
    payout = make_payout()
    payout_transition(
        payout_id=payout.pk,
        from_statuses=[PayoutStatus.SUBMITTED],
        to_status=PayoutStatus.COMPLETED,
        action="completed",
        source="callback",
        fields={"transaction_id": f"SQ{payout.pk:08d}"},
    )
    return list(Notification.objects.filter(payout=payout))


def test_a_burst_is_queued_once_at_the_end_of_the_window(whatsapp, admins, broker, scheduled, window, graph):
    settings_admins = admins  # two admin numbers: two rows per completed payout
    first = complete()
    # The first alert leaves at once, one delivery task per row.
    assert sorted(broker.ids()) == sorted(row.pk for row in first)
    rest = [row for _ in range(5) for row in complete()]
    # Ten more rows, no more delivery tasks from the web process: one task scheduled for the window's end.
    assert len(broker.ids()) == len(settings_admins)
    [(args, countdown)] = scheduled.calls
    assert 0 < countdown <= window
    # That task queues every pending row of the burst; the worker then delivers them all.
    deliver_recent(*args)
    assert {row.pk for row in rest} <= set(broker.ids())
    broker.run()
    assert Notification.objects.filter(status=NotificationStatus.SENT).count() == 6 * len(settings_admins)
    assert len(graph.calls) == 6 * len(settings_admins)  # each row sent once, duplicates in the queue skipped


def test_after_a_quiet_window_the_next_alert_leaves_at_once(whatsapp, admins, broker, scheduled, window):
    complete()
    time.sleep(window + 0.1)
    later = complete()
    assert {row.pk for row in later} <= set(broker.ids())
    assert scheduled.calls == []


def test_broker_down_when_scheduling_loses_nothing(whatsapp, admins, broker, scheduled, window, caplog):
    complete()
    scheduled.down = True
    second = complete()
    assert "could not schedule delivery of new notifications" in caplog.text
    # Nothing lost: the rows stay pending and the pick-up task will queue them.
    assert {row.status for row in Notification.objects.filter(pk__in=[row.pk for row in second])} == {
        NotificationStatus.PENDING
    }
    # The next row tries to schedule again rather than trusting a schedule that never happened.
    scheduled.down = False
    complete()
    assert len(scheduled.calls) == 1
