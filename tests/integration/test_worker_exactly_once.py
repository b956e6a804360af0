"""Exactly once under at-least-once delivery: real `celery worker` processes on the test PostgreSQL database,
Redis as the broker, the Daraja simulator, and the live server taking its callbacks.

200 approved payouts; the send task is published twice for each (the two copies back to back, so the two pool
processes race for the same payout); the worker is SIGKILLed, pool and all, mid-batch, so the tasks it held are
neither finished nor acknowledged; a fresh worker started after the visibility timeout gets them back. At the
end the simulator's ledger must hold one request per payout that left, and never an OriginatorConversationID
twice; a payout caught by the kill between its claim and its HTTP request is never resent: its status queries
find nothing and it is handed to a person (needs_review).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.utils import timezone

from daraja_simulator import B2C_SCENARIOS
from payments.models import AuditEvent, Payout, PayoutStatus
from payments.payouts import dispatch
from tests.factories import make_approver, make_requester
from tests.integration.conftest import approved_payout, publish_tasks, wait_until, worker_environment

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

PAYOUTS = 200
KILL_AT = 50  # ledger payments seen when the first worker is killed
VISIBILITY_TIMEOUT = 5  # seconds; the second worker starts after it, so it restores the killed worker's tasks
MAX_QUERIES = 2
SEND_TASK = "payments.tasks.send_payout"
_TASK_LINE = re.compile(r"Task payments\.tasks\.send_payout\[([0-9a-f-]{36})\] (received|succeeded)")


def _task_ids(log: str, event: str) -> Counter[str]:
    return Counter(task_id for task_id, what in _TASK_LINE.findall(log) if what == event)


def _holds_a_task(log: str) -> bool:
    return bool(set(_task_ids(log, "received")) - set(_task_ids(log, "succeeded")))


def _statuses() -> Counter[str]:
    return Counter(Payout.objects.values_list("status", flat=True))


def _settle_leftovers_by_status_queries(simulator, settings) -> list[str]:
    """As the sweep would: ask about everything still in flight, round after round, until it is settled or
    handed to a person. Returns the outcomes of every query call."""
    outcomes: list[str] = []
    overdue = timezone.now() - timedelta(minutes=settings.PAYOUT_RESULT_DEADLINE_MINUTES + 1)
    for _ in range(MAX_QUERIES + 2):
        in_flight = Payout.objects.filter(status__in=dispatch.QUERYABLE)
        if not in_flight.exists():
            break
        # Overdue (so the sweep's selector picks them up) and not asked recently.
        in_flight.update(status_changed_at=overdue, last_status_query_at=None)
        due = list(dispatch.payouts_due_for_status_query())
        assert set(due) == set(in_flight.values_list("pk", flat=True))
        outcomes += [dispatch.payout_query_status(payout_id=pk) for pk in due]
        assert simulator.server.wait_for_callbacks(15)
    return outcomes


def test_two_deliveries_and_a_killed_worker_pay_every_payout_once(
    live_daraja, callback_base_url, redis_broker_url, celery_worker_process, settings
):
    simulator = live_daraja
    settings.PAYOUT_MAX_STATUS_QUERIES = MAX_QUERIES
    broker = redis.Redis.from_url(redis_broker_url)
    started = time.monotonic()

    requester, approver = make_requester(), make_approver()
    phones = [f"25471{n:07d}" for n in range(100, 100 + PAYOUTS)]
    assert not any(phone[-3:] in B2C_SCENARIOS for phone in phones)  # every one is the plain success row
    payouts = [
        approved_payout(phone=phone, amount=Decimal("100.00"), requested_by=requester, approver=approver)
        for phone in phones
    ]
    ocids = {p.originator_conversation_id: p.pk for p in payouts}
    # Twice each, the two copies back to back, so the two pool processes race for the same payout.
    publish_tasks(redis_broker_url, SEND_TASK, [(p.pk,) for p in payouts for _ in range(2)])
    assert broker.llen("celery") == 2 * PAYOUTS

    env = worker_environment(
        simulator=simulator,
        broker_url=redis_broker_url,
        callback_base_url=callback_base_url,
        visibility_timeout=VISIBILITY_TIMEOUT,
    )

    # 1. The first worker sends until about KILL_AT payments have reached "M-Pesa", then dies at once.
    first = celery_worker_process(env, pool="prefork", concurrency=2)
    # ... at a moment it holds a task (received, not finished): on a fast machine both pool processes can be
    # between tasks at the instant the count is reached, and a kill then would test no redelivery.
    wait_until(
        lambda: simulator.payment_count() >= KILL_AT and _holds_a_task(first.log()),
        60,
        interval=0.005,
        message=f"{KILL_AT} payments with a task in flight",
    )
    first.kill()
    paid_at_kill = simulator.payment_count()
    sending_at_kill = Payout.objects.filter(status=PayoutStatus.SENDING).count()
    assert paid_at_kill < PAYOUTS, "the worker finished the batch before it could be killed"

    # 2. After the visibility timeout, a fresh worker restores the killed worker's tasks and finishes the rest.
    time.sleep(VISIBILITY_TIMEOUT + 1)
    second = celery_worker_process(env, pool="prefork", concurrency=2)
    wait_until(
        lambda: not Payout.objects.filter(status=PayoutStatus.APPROVED).exists(),
        90,
        interval=0.2,
        message="no payout left approved",
    )
    wait_until(
        lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0,
        60,
        interval=0.2,
        message="every message consumed and acknowledged",
    )
    # 3. Every Result posted, and every payout that was submitted settled by it.
    assert simulator.server.wait_for_callbacks(30)
    wait_until(
        lambda: not Payout.objects.filter(status=PayoutStatus.SUBMITTED).exists(),
        30,
        interval=0.2,
        message="every submitted payout settled by its Result",
    )
    second.stop()

    # 4. Whatever the kill left in flight is settled from the ledger by status queries, never by resending.
    queries = _settle_leftovers_by_status_queries(simulator, settings)

    # --- What happened -----------------------------------------------------------------------------------
    ledger = simulator.assert_nothing_paid_twice()
    statuses = _statuses()
    completed = set(
        Payout.objects.filter(status=PayoutStatus.COMPLETED).values_list("originator_conversation_id", flat=True)
    )
    review = list(Payout.objects.filter(status=PayoutStatus.NEEDS_REVIEW))
    ledger_ocids = {p["originator_conversation_id"] for p in ledger["payments"]}
    first_log, second_log = first.log(), second.log()
    unfinished_by_first = set(_task_ids(first_log, "received")) - set(_task_ids(first_log, "succeeded"))
    finished_by_second = set(_task_ids(second_log, "succeeded"))
    print(
        f"\n{PAYOUTS} payouts, {2 * PAYOUTS} messages; first worker killed at {paid_at_kill} ledger payments "
        f"with {sending_at_kill} payout(s) `sending`; {len(unfinished_by_first)} task(s) it held were redelivered; "
        f"ledger: {ledger['count']} payments ({ledger['paid_count']} paid), duplicate attempts "
        f"{ledger['duplicate_attempts']}; status queries {Counter(queries)}; end states {dict(statuses)}; "
        f"{len(review)} payout(s) caught between claim and request (needs_review, never resent); "
        f"{time.monotonic() - started:.1f} s"
    )

    # No request was ever sent twice: not even a duplicate attempt that M-Pesa refused.
    assert ledger["duplicate_attempts"] == []
    assert ledger_ocids <= set(ocids), "the ledger holds a payment that is none of ours"
    # Each payout was claimed for sending exactly once, whatever the deliveries and the kill did.
    sending_events = Counter(AuditEvent.objects.filter(action="sending").values_list("payout_id", flat=True))
    assert set(sending_events) == set(ocids.values()) and set(sending_events.values()) == {1}
    # The app agrees with "M-Pesa": paid exactly when completed, each completion recorded once.
    assert all(p["outcome"] == "paid" for p in ledger["payments"])
    assert completed == ledger_ocids
    assert AuditEvent.objects.filter(action="completed").count() == len(completed)
    # Nothing is left unsettled, nothing failed; only the kill's victims wait for a person.
    assert set(statuses) <= {PayoutStatus.COMPLETED, PayoutStatus.NEEDS_REVIEW}
    for payout in review:
        assert payout.originator_conversation_id not in ledger_ocids  # never reached "M-Pesa" ...
        assert payout.send_attempts == 1  # ... and was not sent again
        assert payout.status_queries_sent == MAX_QUERIES
    assert len(review) <= 2, "more payouts were caught mid-send than a 2-process pool can hold"
    if not review:
        assert ledger["count"] == PAYOUTS
    assert ledger["count"] + len(review) == PAYOUTS
    # The kill really lost tasks in flight, and the second worker really ran them again.
    assert unfinished_by_first, "the kill caught no task in flight: nothing was redelivered"
    assert unfinished_by_first <= finished_by_second


def test_groups_of_sends_delivered_twice_and_overlapping_pay_every_payout_once(
    live_daraja, callback_base_url, redis_broker_url, celery_worker_process
):
    """`send_payouts` (how an approval of many is queued) through the real broker and a threads-pool worker:
    every group twice, and each group sharing half its ids with the next, so the same payout is offered by
    four messages at once. Each is still claimed, sent and paid exactly once."""
    simulator = live_daraja
    requester, approver = make_requester(), make_approver()
    payouts = [
        approved_payout(phone=f"25472{n:07d}", amount=Decimal("100.00"), requested_by=requester, approver=approver)
        for n in range(100, 160)
    ]
    ids = [p.pk for p in payouts]
    groups = [ids[at : at + 20] for at in range(0, len(ids), 10)]
    publish_tasks(redis_broker_url, "payments.tasks.send_payouts", [(group,) for group in groups for _ in range(2)])

    env = worker_environment(simulator=simulator, broker_url=redis_broker_url, callback_base_url=callback_base_url)
    worker = celery_worker_process(env, pool="threads", concurrency=4)
    wait_until(
        lambda: Payout.objects.filter(status=PayoutStatus.COMPLETED).count() == len(ids),
        90,
        interval=0.2,
        message="every payout completed",
    )
    worker.stop()

    ledger = simulator.assert_nothing_paid_twice()
    assert ledger["duplicate_attempts"] == []
    assert ledger["count"] == len(ids)
    assert {p["originator_conversation_id"] for p in ledger["payments"]} == {
        p.originator_conversation_id for p in payouts
    }
    sending_events = Counter(AuditEvent.objects.filter(action="sending").values_list("payout_id", flat=True))
    assert sending_events == Counter(ids)
