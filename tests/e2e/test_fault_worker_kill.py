"""Fault: the Celery worker is SIGKILLed (pool and all, no warm shutdown) at random moments while it sends 500
payouts, and restarted each time. Nothing may be paid twice, and nothing may be left in between.

Real processes: `celery worker` subprocesses on the test PostgreSQL database with Redis as the broker (our DB
10), the Daraja simulator over HTTP, and the live server taking its callbacks. The kill points are drawn from
a seeded RNG (printed; set E2E_KILL_SEED to replay one). Each restart waits past CELERY_VISIBILITY_TIMEOUT, so
the fresh worker puts the dead one's unacknowledged tasks back on the queue as it starts. A kill can also fall
between Redis handing a message over and kombu recording it as unacknowledged; that message is gone, and beat's
sweep (its task, run here as beat would) sends the payout it was for. What the kills left in flight is then
settled by Transaction Status queries, as the sweep would, never by resending.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.utils import timezone

from daraja_simulator import B2C_SCENARIOS
from payments.models import FINAL_STATUSES, AuditEvent, Payout, PayoutStatus
from payments.payouts import dispatch
from tests.factories import make_approver, make_requester
from tests.integration.conftest import approved_payout, publish_tasks, wait_until, worker_environment

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

PAYOUTS = 500
VISIBILITY_TIMEOUT = 4  # seconds (CELERY_VISIBILITY_TIMEOUT); a restart waits a little longer
MAX_QUERIES = 2  # PAYOUT_MAX_STATUS_QUERIES: a payout no query finds goes to needs_review after this many
SEND_TASK = "payments.tasks.send_payout"
SWEEP_TASK = "payments.tasks.sweep_payouts"
ALLOWED_END_STATES = set(FINAL_STATUSES) | {PayoutStatus.VERIFYING, PayoutStatus.NEEDS_REVIEW}


def _phones(count: int) -> list[str]:
    """Plain success numbers: none ends in a scenario suffix of the simulator."""
    phones, n = [], 0
    while len(phones) < count:
        phone = f"25472{n:07d}"
        if phone[-3:] not in B2C_SCENARIOS:
            phones.append(phone)
        n += 1
    return phones


def _statuses() -> Counter[str]:
    return Counter(Payout.objects.values_list("status", flat=True))


def _settle_by_status_queries(simulator, settings) -> Counter[str]:
    """Round after round, as the sweep would: ask about every payout still in flight until each is settled by
    the answer or handed to a person."""
    outcomes: Counter[str] = Counter()
    overdue = timezone.now() - timedelta(minutes=settings.PAYOUT_RESULT_DEADLINE_MINUTES + 1)
    for _ in range(MAX_QUERIES + 2):
        in_flight = Payout.objects.filter(status__in=dispatch.QUERYABLE)
        if not in_flight.exists():
            break
        in_flight.update(status_changed_at=overdue, last_status_query_at=None)
        for payout_id in list(dispatch.payouts_due_for_status_query()):
            outcomes[dispatch.payout_query_status(payout_id=payout_id)] += 1
        assert simulator.server.wait_for_callbacks(30)
    return outcomes


def test_sigkilled_workers_never_pay_twice_and_leave_nothing_in_between(
    live_daraja, callback_base_url, e2e_redis, e2e_worker, settings
):
    simulator = live_daraja
    broker_url, cache_url = e2e_redis
    settings.PAYOUT_MAX_STATUS_QUERIES = MAX_QUERIES
    seed = int(os.environ.get("E2E_KILL_SEED") or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    started = time.monotonic()

    requester, approver = make_requester(), make_approver()
    payouts = [
        approved_payout(phone=phone, amount=Decimal("100.00"), requested_by=requester, approver=approver)
        for phone in _phones(PAYOUTS)
    ]
    our_ocids = {p.originator_conversation_id for p in payouts}
    publish_tasks(broker_url, SEND_TASK, [(p.pk,) for p in payouts])

    env = worker_environment(
        simulator=simulator,
        broker_url=broker_url,
        callback_base_url=callback_base_url,
        visibility_timeout=VISIBILITY_TIMEOUT,
        REDIS_URL=cache_url,
    )
    # 3 to 5 kills, at ledger counts spread over the batch, each a random fraction of a second later.
    kills = rng.randint(3, 5)
    thresholds = sorted(rng.sample(range(40, PAYOUTS - 60), kills))
    kill_log: list[tuple[int, int, int, float]] = []  # (threshold, ledger count, payouts `sending`, seconds)
    worker = e2e_worker(env, concurrency=4)
    for threshold in thresholds:
        wait_until(
            lambda t=threshold: simulator.payment_count() >= t, 90, interval=0.005, message=f"{threshold} payments"
        )
        time.sleep(rng.uniform(0, 0.25))
        worker.kill()
        kill_log.append(
            (
                threshold,
                simulator.payment_count(),
                Payout.objects.filter(status=PayoutStatus.SENDING).count(),
                round(time.monotonic() - started, 1),
            )
        )
        time.sleep(VISIBILITY_TIMEOUT + 1)
        worker = e2e_worker(env, concurrency=4)

    # The last worker finishes the batch: every message consumed and acknowledged.
    broker = redis.Redis.from_url(broker_url)
    wait_until(
        lambda: broker.llen("celery") == 0 and broker.hlen("unacked") == 0,
        120,
        interval=0.2,
        message="every message consumed and acknowledged",
    )
    # A kill that falls between Redis handing a message to the worker (BRPOP) and kombu recording it as
    # unacknowledged loses that message: its payout stays `approved`. Beat's sweep is what re-queues approved
    # payouts older than a minute (payouts_lost_in_queue); run its task as beat would, every 5 s.
    approved = Payout.objects.filter(status=PayoutStatus.APPROVED)
    lost_messages = approved.count()
    sweeps = 0
    for _ in range(20):
        if not approved.exists():
            break
        publish_tasks(broker_url, SWEEP_TASK, [()])
        sweeps += 1
        time.sleep(5)
    assert not approved.exists(), "the sweep did not send the payouts whose message a kill lost"
    assert lost_messages <= len(kill_log)
    broker.close()
    assert simulator.server.wait_for_callbacks(30)
    wait_until(
        lambda: not Payout.objects.filter(status=PayoutStatus.SUBMITTED).exists(),
        30,
        interval=0.2,
        message="every submitted payout settled by its Result",
    )
    worker.stop()
    sent_at = time.monotonic() - started
    before_queries = _statuses()
    queries = _settle_by_status_queries(simulator, settings)

    # --- What happened ---------------------------------------------------------------------------------------
    ledger = simulator.assert_nothing_paid_twice()  # no OriginatorConversationID paid (or even taken) twice
    statuses = _statuses()
    print(
        f"\nseed {seed}: {PAYOUTS} payouts, {len(kill_log)} SIGKILLs at (threshold, ledger, sending, s) {kill_log}; "
        f"{lost_messages} message(s) lost by a kill, sent after {sweeps} sweep(s); "
        f"all sent at {sent_at:.1f} s; before status queries {dict(before_queries)}; queries {dict(queries)}; "
        f"end states {dict(statuses)}; "
        f"ledger {ledger['count']} payments ({ledger['paid_count']} paid), duplicate attempts "
        f"{ledger['duplicate_attempts']}; {time.monotonic() - started:.1f} s"
    )
    assert all(count < PAYOUTS for _, count, _, _ in kill_log), "a kill came after the batch was finished"
    assert set(statuses) <= ALLOWED_END_STATES, statuses
    # Every payout asked M-Pesa for money; none failed, none is left in flight after the status queries.
    assert set(statuses) <= {PayoutStatus.COMPLETED, PayoutStatus.NEEDS_REVIEW}, statuses
    assert ledger["duplicate_attempts"] == []  # no request was ever resent, not even one M-Pesa refused
    ledger_ocids = {p["originator_conversation_id"] for p in ledger["payments"]}
    assert ledger_ocids <= our_ocids
    completed = Payout.objects.filter(status=PayoutStatus.COMPLETED)
    assert set(completed.values_list("originator_conversation_id", flat=True)) == ledger_ocids
    assert not completed.filter(transaction_id__isnull=True).exists()
    assert AuditEvent.objects.filter(action="completed").count() == completed.count()
    # Each payout was claimed for sending exactly once, whatever the kills and redeliveries did.
    claims = Counter(AuditEvent.objects.filter(action="sending").values_list("payout_id", flat=True))
    assert len(claims) == PAYOUTS and set(claims.values()) == {1}
    # A payout caught between its claim and its request never reached M-Pesa and was not sent again.
    for payout in Payout.objects.filter(status=PayoutStatus.NEEDS_REVIEW):
        assert payout.originator_conversation_id not in ledger_ocids
        assert payout.send_attempts == 1 and payout.status_queries_sent == MAX_QUERIES
    assert statuses[PayoutStatus.NEEDS_REVIEW] <= 4 * len(kill_log)  # at most the pool's in-flight tasks per kill
    assert ledger["count"] + statuses[PayoutStatus.NEEDS_REVIEW] == PAYOUTS
