"""Fault: Safaricom delivers the same B2C Result again and again: 50 times at once, and 50 times spread over a
minute. Whatever the timing, one state change, one audit event, one notification, one WhatsApp message.

Real processes: gunicorn (2 processes x 8 threads, so deliveries really race for the payout's row lock) on the
test PostgreSQL database, a Celery worker on Redis delivering the outbox, and the fake WhatsApp API.
Payout A gets 50 simultaneous deliveries, then 50 more over the next minute; payout B gets only the 50
spread over the minute (its first one settles it, the other 49 arrive at a final payout).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from django.urls import reverse

from notifications.models import Alert, Notification, NotificationStatus
from payments.models import AuditEvent, CallbackOutcome, DarajaCallback, FloatBalance, Payout, PayoutStatus
from tests.e2e.results import b2c_success_body
from tests.e2e.support import ADMIN_NUMBERS, free_port
from tests.factories import make_payout, make_requester
from tests.integration.conftest import wait_until, worker_environment

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

TIMES = 50
SPREAD_SECONDS = 60.0


def _post(url: str, body: dict) -> tuple[int, dict]:
    response = requests.post(url, json=body, timeout=30)
    return response.status_code, response.json()


def _settled_once(payout: Payout, deliveries: int) -> None:
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.COMPLETED and payout.transaction_id == f"DUP{payout.pk:07d}"
    events = AuditEvent.objects.filter(payout=payout).values_list("action", "from_status", "to_status")
    assert list(events) == [("completed", "submitted", "completed")]
    callbacks = Counter(DarajaCallback.objects.filter(payout=payout).values_list("outcome", flat=True))
    assert callbacks == {CallbackOutcome.PROCESSED: 1, CallbackOutcome.DUPLICATE: deliveries - 1}, callbacks
    assert Notification.objects.filter(payout=payout).count() == len(ADMIN_NUMBERS)


def test_one_result_delivered_a_hundred_times_changes_the_payout_once_and_notifies_once(
    simulator, e2e_redis, whatsapp, web_server, e2e_worker
):
    broker_url, cache_url = e2e_redis
    port = free_port()
    env = worker_environment(
        simulator=simulator,
        broker_url=broker_url,
        callback_base_url=f"http://127.0.0.1:{port}",
        **whatsapp.environment(),
        REDIS_URL=cache_url,
    )
    web = web_server(env, port=port, workers=2, threads=8)
    e2e_worker(env, concurrency=2)

    requester = make_requester()
    a, b = (
        make_payout(status=PayoutStatus.SUBMITTED, phone=phone, amount=Decimal("1200.00"), requested_by=requester)
        for phone in ("254711000201", "254711000202")
    )
    deliveries = {
        payout.pk: (
            web.url + reverse("callbacks:b2c-result", kwargs={"token": payout.callback_token}),
            b2c_success_body(payout, receipt=f"DUP{payout.pk:07d}"),
        )
        for payout in (a, b)
    }
    answers: list[tuple[int, int, dict]] = []
    lock = threading.Lock()

    def deliver(payout_id: int, barrier: threading.Barrier | None = None, at: float | None = None) -> None:
        if barrier is not None:
            barrier.wait(timeout=30)
        if at is not None:
            time.sleep(max(0.0, at - time.monotonic()))
        status, body = _post(*deliveries[payout_id])
        with lock:
            answers.append((payout_id, status, body))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=TIMES + 4) as pool:
        # 1. Payout A: fifty at the same instant.
        barrier = threading.Barrier(TIMES)
        burst = [pool.submit(deliver, a.pk, barrier) for _ in range(TIMES)]
        for future in burst:
            future.result(timeout=60)
        burst_took = time.monotonic() - started
        _settled_once(a, TIMES)
        wait_until(
            lambda: whatsapp.count() == len(ADMIN_NUMBERS), 30, interval=0.1, message="payout A's alert delivered"
        )

        # 2. Payouts A and B: fifty each, one every 1.2 s for a minute.
        begin = time.monotonic()
        spread = [
            pool.submit(deliver, payout_id, None, begin + i * SPREAD_SECONDS / TIMES)
            for i in range(TIMES)
            for payout_id in (a.pk, b.pk)
        ]
        for future in spread:
            future.result(timeout=SPREAD_SECONDS + 60)

    assert len(answers) == 3 * TIMES
    assert {status for _, status, _ in answers} == {200}
    assert all(body == {"ResultCode": 0, "ResultDesc": "Accepted"} for *_, body in answers)
    _settled_once(a, 2 * TIMES)
    _settled_once(b, TIMES)
    # A Result's float reading is recorded only by the delivery that settled a payout (and at most once a
    # FLOAT_FROM_RESULTS_INTERVAL_SECONDS): never by a duplicate.
    readings = list(FloatBalance.objects.values_list("callback__outcome", flat=True))
    assert 1 <= len(readings) <= 2 and set(readings) == {CallbackOutcome.PROCESSED}, readings

    wait_until(
        lambda: not Notification.objects.exclude(status=NotificationStatus.SENT).exists(),
        30,
        interval=0.2,
        message="every notification sent",
    )
    time.sleep(1)  # anything sent twice would arrive now
    received = whatsapp.messages()
    assert Counter(m.message_id for m in received) == Counter(
        Notification.objects.values_list("provider_message_id", flat=True)
    )
    per_payout = Counter(
        payout_id for payout_id in (a.pk, b.pk) for m in received if f"#{payout_id}\n" in m.text + "\n"
    )
    assert per_payout == {a.pk: len(ADMIN_NUMBERS), b.pk: len(ADMIN_NUMBERS)}, [m.text for m in received]
    assert set(Notification.objects.values_list("alert", flat=True)) == {Alert.PAYOUT_COMPLETED}
    print(
        f"\n{TIMES} simultaneous deliveries answered in {burst_took:.2f} s; {2 * TIMES} more over "
        f"{SPREAD_SECONDS:.0f} s; 2 state changes, {len(received)} WhatsApp messages; "
        f"{time.monotonic() - started:.1f} s"
    )
